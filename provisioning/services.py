"""Adopting apps: installations and their provisioning jobs, scoped to the caller's tenants.

An operator or admin of a tenant adopts an approved version; a job then does the work
(provisioning.jobs). What another tenant owns answers NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from catalog.services import load_manifest_document
from catalog.tables import App, AppVersion
from catalog.versions import InvalidVersion, parse_version
from marketplace.db import transaction
from marketplace.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from provisioning.config import ConfigCipher, masked, resolve_config
from provisioning.engine import ProvisioningEngine
from provisioning.errors import ProvisioningError
from provisioning.jobs import OPERATION_STEPS, PROVISION_STEPS, new_steps
from provisioning.tables import UPDATE_POLICIES, Installation, ProvisionJob
from tenants import audit
from tenants.principal import Principal
from tenants.tables import Tenant


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Adoption:
    installation_id: int
    job_id: int


class ProvisioningService:
    def __init__(self, cipher: ConfigCipher, engine: ProvisioningEngine | None = None):
        self.cipher = cipher
        self.engine = engine

    async def _tenant_for(self, principal: Principal, slug: str, *, write: bool) -> dict[str, Any]:
        tenant = await Tenant.select(Tenant.id, Tenant.slug, Tenant.name, Tenant.max_installations,
                                     Tenant.max_memory_bytes).where(Tenant.slug == slug).first()
        if tenant is None:
            raise NotFound("no such tenant")
        role = principal.role_in(tenant["id"])
        if role is None and not (principal.is_platform_admin and not write):
            raise NotFound("no such tenant")
        if write:
            if role not in ("admin", "operator"):
                raise PermissionDenied("only the tenant's admins and operators adopt and operate apps")
            if not principal.has_scope("installations:write"):
                raise PermissionDenied("the token lacks the installations:write scope")
        return tenant

    async def adopt(
        self,
        principal: Principal,
        tenant_slug: str,
        app_slug: str,
        version: str,
        values: dict[str, Any],
        *,
        update_policy: str = "pinned",
    ) -> Adoption:
        """Check everything, then record the installation and queue its provisioning job."""
        tenant = await self._tenant_for(principal, tenant_slug, write=True)
        errors = []
        try:
            parse_version(version)
        except InvalidVersion as exc:
            errors.append({"field": "version", "message": str(exc)})
        if update_policy not in UPDATE_POLICIES:
            errors.append({"field": "update_policy", "message": f"one of {', '.join(UPDATE_POLICIES)}"})
        if not isinstance(values, dict):
            errors.append({"field": "config", "message": "an object of setting names and values"})
        if errors:
            raise ValidationFailed("the adoption is not valid", errors=errors)
        app = await App.select(App.id, App.slug, App.name, App.publisher).where(App.slug == app_slug).first()
        row = None
        if app is not None:
            row = await AppVersion.select(
                AppVersion.id, AppVersion.status, AppVersion.yanked, AppVersion.manifest
            ).where((AppVersion.app == app["id"]) & (AppVersion.version == version)).output(load_json=True).first()
        if row is None or row["status"] != "approved":
            raise NotFound("no such approved version")
        if row["yanked"]:
            raise Conflict(f"version {version} was yanked and cannot be adopted; choose another version")
        manifest = load_manifest_document(row["manifest"])
        stored, _env = resolve_config(manifest, values, self.cipher)

        async with transaction():
            active = await Installation.select(Installation.id, Installation.app, Installation.memory_bytes).where(
                (Installation.tenant == tenant["id"]) & (Installation.desired_state != "removed")
            )
            if any(i["app"] == app["id"] for i in active):
                raise Conflict(f"{tenant['name']} already runs {app['name']}")
            if tenant["max_installations"] and len(active) >= tenant["max_installations"]:
                raise Conflict(f"the tenant's quota of {tenant['max_installations']} installations is used up")
            memory = sum(i["memory_bytes"] for i in active) + manifest.resources.memory
            if tenant["max_memory_bytes"] and memory > tenant["max_memory_bytes"]:
                raise Conflict("the app's memory does not fit in the tenant's memory quota")
            installation = Installation(
                tenant=tenant["id"], app=app["id"], version=row["id"], config=stored, update_policy=update_policy,
                desired_state="running", observed_state="pending", memory_bytes=manifest.resources.memory,
                cpu=manifest.resources.cpu, created_by=principal.user_id, created_at=_utcnow(),
            )
            await installation.save()
            job = ProvisionJob(
                installation=installation.id, kind="provision", state="queued", steps=new_steps(PROVISION_STEPS),
                created_by=principal.user_id, created_at=_utcnow(),
            )
            await job.save()
        await audit.record(
            "installation.adopted", actor=principal, tenant_id=tenant["id"], subject_tenant_id=app["publisher"],
            object_type="installation", object_id=f"{tenant_slug}/{app_slug}@{version}",
            detail={"installation": installation.id, "job": job.id},
        )
        return Adoption(installation_id=installation.id, job_id=job.id)

    async def _installation_for(self, principal: Principal, installation_id: int, *, write: bool) -> dict[str, Any]:
        row = await Installation.select(
            Installation.id, Installation.tenant, Installation.desired_state, Installation.observed_state,
            Installation.tenant.slug.as_alias("tenant_slug"), Installation.app.slug.as_alias("app_slug"),
        ).where(Installation.id == installation_id).first()
        if row is None:
            raise NotFound("no such installation")
        await self._tenant_for(principal, row["tenant_slug"], write=write)
        return row

    async def operate(self, principal: Principal, installation_id: int, action: str) -> int:
        """Queue start, stop, restart, deprovision (data volumes kept) or purge; returns the job id."""
        if action not in OPERATION_STEPS:
            raise NotFound("no such action")
        row = await self._installation_for(principal, installation_id, write=True)
        if row["desired_state"] == "removed" and action != "purge":
            raise Conflict("the installation was removed")
        if row["observed_state"] == "purged":
            raise Conflict("the installation's data was already purged")
        async with transaction():
            busy = await ProvisionJob.exists().where(
                (ProvisionJob.installation == installation_id) & ProvisionJob.state.is_in(["queued", "running"])
            )
            if busy:
                raise Conflict("another job is still working on this installation")
            job = ProvisionJob(installation=installation_id, kind=action, state="queued",
                               steps=new_steps(OPERATION_STEPS[action]), created_by=principal.user_id, created_at=_utcnow())
            await job.save()
        await audit.record(
            f"installation.{action}", actor=principal, tenant_id=row["tenant"], subject_tenant_id=row["tenant"],
            object_type="installation", object_id=f"{row['tenant_slug']}/{row['app_slug']}", detail={"job": job.id},
        )
        return job.id

    async def logs(self, principal: Principal, installation_id: int, tail: int = 200) -> str:
        """The container's last log lines, for members of the installation's tenant."""
        await self._installation_for(principal, installation_id, write=False)
        if self.engine is None:
            raise Conflict("no container engine is configured")
        try:
            return await self.engine.logs(installation_id, tail=max(1, min(tail, 2000)))
        except ProvisioningError as exc:
            raise Conflict(exc.message) from None

    async def job(self, principal: Principal, job_id: int) -> dict[str, Any]:
        """A job with its steps, progress and log, for members of its tenant."""
        job = await ProvisionJob.select(
            ProvisionJob.all_columns(),
            ProvisionJob.installation.tenant.as_alias("tenant_id"),
            ProvisionJob.installation.tenant.slug.as_alias("tenant_slug"),
            ProvisionJob.installation.app.slug.as_alias("app_slug"),
            ProvisionJob.installation.url.as_alias("url"),
        ).where(ProvisionJob.id == job_id).output(load_json=True).first()
        if job is None or (principal.role_in(job["tenant_id"]) is None and not principal.is_platform_admin):
            raise NotFound("no such job")
        return job

    async def installations(self, principal: Principal, tenant_slug: str) -> list[dict[str, Any]]:
        tenant = await self._tenant_for(principal, tenant_slug, write=False)
        rows = await Installation.select(
            Installation.id, Installation.app.slug, Installation.app.name, Installation.version.version,
            Installation.desired_state, Installation.observed_state, Installation.url, Installation.config,
            Installation.update_policy, Installation.last_error, Installation.created_at, Installation.tenant,
        ).where((Installation.tenant == tenant["id"]) & (Installation.desired_state != "removed")).output(
            load_json=True
        ).order_by(Installation.id)
        for r in rows:
            r["config"] = masked(r["config"] or {})
        return rows
