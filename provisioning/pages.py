"""Web pages of provisioning: the adoption form, a job's live steps, a tenant's installations."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from catalog.services import CatalogService
from marketplace.errors import Conflict, NotFound, ValidationFailed
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
        self, request: Request, catalog: NamedDependency[CatalogService], slug: FromPath[str],
        version: Annotated[str | None, QueryParameter(name="version", max_length=100)] = None,
    ) -> Template:
        return await self._form(request, catalog, slug, version)

    @post("/apps/{slug:str}/adopt", opt={"access": "user"}, status_code=303)
    async def adopt(
        self, request: Request, catalog: NamedDependency[CatalogService],
        provisioning: NamedDependency[ProvisioningService], slug: FromPath[str],
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
    async def job(self, request: Request, provisioning: NamedDependency[ProvisioningService], job_id: FromPath[int]) -> Template:
        return Template("provisioning/job.html", context={"job": await provisioning.job(request.user, job_id)})

    @post("/installations/{installation_id:int}/{action:str}", opt={"access": "user"}, status_code=303)
    async def operate(
        self, request: Request, provisioning: NamedDependency[ProvisioningService],
        installation_id: FromPath[int], action: FromPath[str],
    ) -> Redirect:
        job_id = await provisioning.operate(request.user, installation_id, action)
        return Redirect(f"/jobs/{job_id}", status_code=303)

    @get("/installations/{installation_id:int}/logs", opt={"access": "user"})
    async def logs(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: FromPath[int]
    ) -> Template:
        text = await provisioning.logs(request.user, installation_id, 200)
        return Template("provisioning/logs.html", context={"logs": text, "installation_id": installation_id})

    @get("/tenants/{slug:str}/installations", opt={"access": "user"})
    async def installations(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], slug: FromPath[str]
    ) -> Template:
        rows = await provisioning.installations(request.user, slug)
        return Template("provisioning/installations.html", context={"installations": rows, "tenant_slug": slug})
