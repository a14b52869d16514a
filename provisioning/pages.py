"""Web pages of provisioning: the adoption form, a job's live steps, a tenant's installations."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import File, Redirect, Template

from catalog.services import CatalogService
from marketplace.errors import Conflict, NotFound, ValidationFailed
from marketplace.params import AppSlug, RowId, TenantSlug
from provisioning.controllers import data_download
from provisioning.services import ProvisioningService


def _text(form: Any, name: str, limit: int = 4096) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


class ProvisioningPagesController(Controller):
    path = "/"
    include_in_schema = False

    async def _form(
        self, request: Request, catalog: CatalogService, slug: str, version: str | None,
        *, values: dict[str, str] | None = None, errors: list[dict[str, str]] | None = None,
        message: str = "", status: int = 200,
    ) -> Template:
        app = await catalog.app_detail(request.user, slug)
        listed = [v for v in app.versions if v.status == "approved" and not v.yanked]
        chosen = next((v for v in listed if v.version == (version or app.latest_version)), listed[0] if listed else None)
        if chosen is None:
            raise NotFound("no version of this app can be adopted")
        tenants = [m for m in request.user.memberships if m.role in ("admin", "operator")]
        return Template(
            "provisioning/adopt.html",
            context={"app": app, "versions": listed, "chosen": chosen, "tenants": tenants, "values": values or {},
                     "errors": errors or [], "message": message},
            status_code=status,
        )

    @get("/apps/{slug:str}/adopt", opt={"access": "user"})
    async def adopt_form(
        self, request: Request, catalog: NamedDependency[CatalogService], slug: AppSlug,
        version: Annotated[str | None, QueryParameter(name="version", max_length=100)] = None,
    ) -> Template:
        return await self._form(request, catalog, slug, version)

    @post("/apps/{slug:str}/adopt", opt={"access": "user"}, status_code=303)
    async def adopt(
        self, request: Request, catalog: NamedDependency[CatalogService],
        provisioning: NamedDependency[ProvisioningService], slug: AppSlug,
    ) -> Redirect | Template:
        form = await request.form()
        version, tenant = _text(form, "version", 100), _text(form, "tenant", 80)
        values = {k.removeprefix("config."): _text(form, k) for k in form.keys() if k.startswith("config.")}
        values = {k: v for k, v in values.items() if v != ""}
        try:
            adoption = await provisioning.adopt(request.user, tenant, slug, version, values,
                                                update_policy=_text(form, "update_policy", 20) or "pinned")
        except ValidationFailed as exc:
            return await self._form(request, catalog, slug, version, values=values, errors=exc.errors,
                                    message=exc.message, status=422)
        except Conflict as exc:
            return await self._form(request, catalog, slug, version, values=values, message=exc.message, status=409)
        return Redirect(f"/jobs/{adoption.job_id}", status_code=303)

    @get("/jobs/{job_id:int}", opt={"access": "user"})
    async def job(self, request: Request, provisioning: NamedDependency[ProvisioningService], job_id: RowId) -> Template:
        return Template("provisioning/job.html", context={"job": await provisioning.job(request.user, job_id)})

    @get("/installations/{installation_id:int}/settings", opt={"access": "user"})
    async def settings_form(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
    ) -> Template:
        view = await provisioning.settings_view(request.user, installation_id)
        return Template("provisioning/settings.html", context={"view": view, "errors": [], "message": ""})

    @post("/installations/{installation_id:int}/settings", opt={"access": "user"}, status_code=303)
    async def settings(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
    ) -> Redirect | Template:
        """Save the update policy, and recreate the container when a setting changed."""
        view = await provisioning.settings_view(request.user, installation_id)
        form = await request.form()
        policy = _text(form, "update_policy", 20)
        changes = {}
        for item in view["env"]:
            if item["generate"]:
                continue
            value = _text(form, f"config.{item['name']}")
            if item["secret"] and value == "":
                continue  # empty keeps the stored secret
            if value != item["value"]:
                changes[item["name"]] = value
        try:
            if policy and policy != view["update_policy"]:
                await provisioning.set_update_policy(request.user, installation_id, policy)
            if changes:
                job_id = await provisioning.reconfigure(request.user, installation_id, changes)
                return Redirect(f"/jobs/{job_id}", status_code=303)
        except (ValidationFailed, Conflict) as exc:
            view = await provisioning.settings_view(request.user, installation_id)
            return Template("provisioning/settings.html", status_code=422 if isinstance(exc, ValidationFailed) else 409,
                            context={"view": view, "errors": getattr(exc, "errors", []), "message": exc.message})
        return Redirect(f"/tenants/{view['tenant_slug']}/installations", status_code=303)

    @post("/installations/{installation_id:int}/upgrade", opt={"access": "user"}, status_code=303)
    async def upgrade(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
    ) -> Redirect:
        form = await request.form()
        job_id = await provisioning.upgrade(request.user, installation_id, _text(form, "version", 100))
        return Redirect(f"/jobs/{job_id}", status_code=303)

    @post("/installations/{installation_id:int}/rollback", opt={"access": "user"}, status_code=303)
    async def rollback(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
    ) -> Redirect:
        job_id = await provisioning.rollback(request.user, installation_id)
        return Redirect(f"/jobs/{job_id}", status_code=303)

    @get("/installations/{installation_id:int}/data.tar", opt={"access": "user"})
    async def export(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
    ) -> File:
        return await data_download(provisioning, request, installation_id)

    @post("/installations/{installation_id:int}/{action:str}", opt={"access": "user"}, status_code=303)
    async def operate(
        self, request: Request, provisioning: NamedDependency[ProvisioningService],
        installation_id: RowId, action: FromPath[str],
    ) -> Redirect:
        job_id = await provisioning.operate(request.user, installation_id, action)
        return Redirect(f"/jobs/{job_id}", status_code=303)

    @get("/installations/{installation_id:int}/logs", opt={"access": "user"})
    async def logs(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId
    ) -> Template:
        text = await provisioning.logs(request.user, installation_id, 200)
        return Template("provisioning/logs.html", context={"logs": text, "installation_id": installation_id})

    @get("/tenants/{slug:str}/installations", opt={"access": "user"})
    async def installations(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], slug: TenantSlug
    ) -> Template:
        rows = await provisioning.installations(request.user, slug)
        return Template("provisioning/installations.html", context={"installations": rows, "tenant_slug": slug})
