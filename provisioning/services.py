"""Adopting apps: installations and their provisioning jobs, scoped to the caller's tenants.

An operator or admin of a tenant adopts an approved version; a job then does the work
(provisioning.jobs). What another tenant owns answers NotFound.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from catalog.services import load_manifest_document
from catalog.tables import App, AppVersion
from catalog.versions import InvalidVersion, parse_version
from marketplace.db import transaction
from marketplace.errors import Conflict, NotFound, PermissionDenied, ServiceUnavailable, ValidationFailed
from provisioning.config import ConfigCipher, masked, merge_config, resolve_config
from provisioning.engine import ProvisioningEngine
from provisioning.errors import EngineUnavailable, ProvisioningError
from provisioning.jobs import CHANGE_STEPS, OPERATION_STEPS, PROVISION_STEPS, new_steps
from provisioning.tables import UPDATE_POLICIES, Installation, ProvisionJob
from tenants import audit
from tenants.principal import Principal
from tenants.tables import Tenant


def _engine_error(exc: ProvisioningError) -> Conflict | ServiceUnavailable:
    """An engine failure as the caller sees it: 503 while the engine is away, else 409."""
    if isinstance(exc, EngineUnavailable):
        return ServiceUnavailable(exc.message)
    return Conflict(exc.message)


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

    async def _installation_for(self, principal: Principal | None, installation_id: int, *, write: bool) -> dict[str, Any]:
        row = await Installation.select(
            Installation.id, Installation.tenant, Installation.app, Installation.desired_state,
            Installation.observed_state, Installation.config, Installation.image_id, Installation.previous_version,
            Installation.snapshot, Installation.version.version.as_alias("version_string"),
            Installation.version.manifest.as_alias("manifest"),
            Installation.tenant.slug.as_alias("tenant_slug"), Installation.app.slug.as_alias("app_slug"),
        ).where(Installation.id == installation_id).output(load_json=True).first()
        if row is None:
            raise NotFound("no such installation")
        if principal is not None:  # None: the platform itself (update policies)
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

    async def _queue(
        self, row: dict[str, Any], kind: str, steps: tuple[tuple[str, str], ...], params: dict[str, Any],
        user_id: int | None,
    ) -> int:
        """Record a job for the installation unless another one is still working on it."""
        async with transaction():
            busy = await ProvisionJob.exists().where(
                (ProvisionJob.installation == row["id"]) & ProvisionJob.state.is_in(["queued", "running"])
            )
            if busy:
                raise Conflict("another job is still working on this installation")
            job = ProvisionJob(installation=row["id"], kind=kind, state="queued", steps=new_steps(steps),
                               params=params, created_by=user_id, created_at=_utcnow())
            await job.save()
        return job.id

    @staticmethod
    def _live(row: dict[str, Any]) -> None:
        if row["desired_state"] == "removed":
            raise Conflict("the installation was removed")
        if row["observed_state"] in ("pending", "failed", "restoring"):
            raise Conflict("the installation is not provisioned yet; wait for its job to finish")

    async def upgrade(
        self, principal: Principal | None, installation_id: int, version: str, values: dict[str, Any] | None = None,
        *, row: dict[str, Any] | None = None,
    ) -> int:
        """Queue an upgrade (or a move to any other approved version) that keeps the data:
        the volumes are snapshotted first, and a version that fails its health check is
        rolled back by itself. `values` change settings on the way (a newer version may
        need new ones). `principal` None: the platform's update policy."""
        if row is None:
            row = await self._installation_for(principal, installation_id, write=True)
        self._live(row)
        try:
            parse_version(version)
        except InvalidVersion as exc:
            raise ValidationFailed("the upgrade is not valid", errors=[{"field": "version", "message": str(exc)}]) from None
        if version == row["version_string"]:
            raise Conflict(f"version {version} is already installed")
        target = await AppVersion.select(
            AppVersion.id, AppVersion.status, AppVersion.yanked, AppVersion.manifest
        ).where((AppVersion.app == row["app"]) & (AppVersion.version == version)).output(load_json=True).first()
        if target is None or target["status"] != "approved":
            raise NotFound("no such approved version")
        if target["yanked"]:
            raise Conflict(f"version {version} was yanked and cannot be installed; choose another version")
        manifest = load_manifest_document(target["manifest"])
        stored, _env = merge_config(manifest, row["config"] or {}, values or {}, self.cipher)
        job_id = await self._queue(
            row, "upgrade", CHANGE_STEPS["upgrade"], {"to_version": target["id"], "config": stored},
            principal.user_id if principal else None,
        )
        await audit.record(
            "installation.upgrade", actor=principal, actor_name="" if principal else "update policy",
            tenant_id=row["tenant"], subject_tenant_id=row["tenant"], object_type="installation",
            object_id=f"{row['tenant_slug']}/{row['app_slug']}",
            detail={"job": job_id, "from": row["version_string"], "to": version},
        )
        return job_id

    async def rollback(self, principal: Principal, installation_id: int) -> int:
        """Queue a return to the version before the last upgrade, with the data as it was
        then. The current data is snapshotted first, so a rollback can be undone."""
        row = await self._installation_for(principal, installation_id, write=True)
        self._live(row)
        if not row["previous_version"]:
            raise Conflict("there is no earlier version to roll back to")
        previous = await AppVersion.select(AppVersion.id, AppVersion.version).where(
            AppVersion.id == row["previous_version"]
        ).first()
        params: dict[str, Any] = {"to_version": previous["id"]}
        if row["snapshot"]:
            if not Path(row["snapshot"]).is_file():
                raise Conflict("the data snapshot from before the upgrade is missing; a rollback would lose data")
            params["restore"] = row["snapshot"]
        job_id = await self._queue(row, "rollback", CHANGE_STEPS["rollback"], params, principal.user_id)
        await audit.record(
            "installation.rollback", actor=principal, tenant_id=row["tenant"], subject_tenant_id=row["tenant"],
            object_type="installation", object_id=f"{row['tenant_slug']}/{row['app_slug']}",
            detail={"job": job_id, "from": row["version_string"], "to": previous["version"]},
        )
        return job_id

    async def reconfigure(self, principal: Principal, installation_id: int, values: dict[str, Any]) -> int:
        """Queue a configuration change: the container is recreated with the new values; if
        the app then fails its health check, the previous configuration comes back."""
        row = await self._installation_for(principal, installation_id, write=True)
        self._live(row)
        if not isinstance(values, dict) or not values:
            raise ValidationFailed("nothing to change", errors=[{"field": "config", "message": "name the settings to change"}])
        stored, _env = merge_config(load_manifest_document(row["manifest"]), row["config"] or {}, values, self.cipher)
        job_id = await self._queue(row, "reconfigure", CHANGE_STEPS["reconfigure"], {"config": stored}, principal.user_id)
        await audit.record(
            "installation.reconfigure", actor=principal, tenant_id=row["tenant"], subject_tenant_id=row["tenant"],
            object_type="installation", object_id=f"{row['tenant_slug']}/{row['app_slug']}",
            detail={"job": job_id, "settings": sorted(values)},
        )
        return job_id

    async def set_update_policy(self, principal: Principal, installation_id: int, policy: str) -> None:
        row = await self._installation_for(principal, installation_id, write=True)
        if policy not in UPDATE_POLICIES:
            raise ValidationFailed(
                "unknown update policy", errors=[{"field": "update_policy", "message": f"one of {', '.join(UPDATE_POLICIES)}"}]
            )
        if row["desired_state"] == "removed":
            raise Conflict("the installation was removed")
        await Installation.update({Installation.update_policy: policy}).where(Installation.id == installation_id)
        await audit.record(
            "installation.policy", actor=principal, tenant_id=row["tenant"], subject_tenant_id=row["tenant"],
            object_type="installation", object_id=f"{row['tenant_slug']}/{row['app_slug']}", detail={"policy": policy},
        )
        if policy != "pinned":
            await self.apply_update_policies(row["app"])

    async def apply_update_policies(self, app_id: int | None = None) -> list[int]:
        """Queue upgrades for installations whose update policy allows a newer approved
        version (auto-patch: same minor; auto-minor: same major; never prereleases, never a
        version that failed before). Installations with a job under way wait for the next
        pass. Returns the job ids."""
        query = Installation.select(
            Installation.id, Installation.app, Installation.update_policy, Installation.skipped_version,
        ).where(
            Installation.update_policy.is_in(["auto-patch", "auto-minor"])
            & Installation.desired_state.is_in(["running", "stopped"])
            & Installation.observed_state.is_in(["running", "stopped", "unknown"])
        )
        if app_id is not None:
            query = query.where(Installation.app == app_id)
        candidates = await query
        if not candidates:
            return []
        by_app = await self._adoptable_versions({c["app"] for c in candidates})
        jobs = []
        for candidate in candidates:
            row = await self._installation_for(None, candidate["id"], write=True)
            current = parse_version(row["version_string"])
            chosen = None
            for version in by_app.get(candidate["app"], []):
                parsed = parse_version(version)
                if parsed <= current or version == candidate["skipped_version"]:
                    continue
                if parsed.major != current.major:
                    continue
                if candidate["update_policy"] == "auto-patch" and parsed.minor != current.minor:
                    continue
                chosen = version if chosen is None or parsed > parse_version(chosen) else chosen
            if chosen is None:
                continue
            try:
                jobs.append(await self.upgrade(None, candidate["id"], chosen, row=row))
            except (Conflict, ValidationFailed, NotFound):
                continue  # busy, or the new version needs settings only a person can give
        return jobs

    @staticmethod
    async def _adoptable_versions(app_ids: set[int]) -> dict[int, list[str]]:
        """Approved, unyanked, non-prerelease versions per app."""
        rows = await AppVersion.select(AppVersion.app, AppVersion.version).where(
            AppVersion.app.is_in(list(app_ids)) & (AppVersion.status == "approved") & (AppVersion.yanked == False)  # noqa: E712
        )
        out: dict[int, list[str]] = {}
        for r in rows:
            if parse_version(r["version"]).prerelease is None:
                out.setdefault(r["app"], []).append(r["version"])
        return out

    async def export_data(self, principal: Principal, installation_id: int) -> tuple[Path, str]:
        """A tar archive of the installation's data volumes (while it runs, after it was
        stopped, or during its retention after a removal), written to a temporary file the
        caller deletes. Returns the file and a download name."""
        row = await self._installation_for(principal, installation_id, write=True)
        if row["observed_state"] == "purged":
            raise Conflict("the installation's data was purged")
        paths = [v.path for v in load_manifest_document(row["manifest"]).volumes]
        if not paths:
            raise Conflict("the app keeps no data volumes")
        if self.engine is None:
            raise Conflict("no container engine is configured")
        handle, name = tempfile.mkstemp(prefix="lumbung-export-", suffix=".tar")
        os.close(handle)
        path = Path(name)
        try:
            await self.engine.snapshot(installation_id, row["image_id"], paths, path)
        except ProvisioningError as exc:
            path.unlink(missing_ok=True)
            raise _engine_error(exc) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        await audit.record(
            "installation.export", actor=principal, tenant_id=row["tenant"], subject_tenant_id=row["tenant"],
            object_type="installation", object_id=f"{row['tenant_slug']}/{row['app_slug']}",
            detail={"bytes": path.stat().st_size},
        )
        stamp = _utcnow().strftime("%Y%m%d-%H%M%S")
        return path, f"{row['tenant_slug']}-{row['app_slug']}-{row['version_string']}-{stamp}.tar"

    async def settings_view(self, principal: Principal, installation_id: int) -> dict[str, Any]:
        """What the settings page shows: the manifest's settings with the installation's
        values (secrets masked), its update policy and version, for its operators."""
        row = await self._installation_for(principal, installation_id, write=True)
        self._live(row)
        manifest = load_manifest_document(row["manifest"])
        shown = masked(row["config"] or {})
        policy = await Installation.select(Installation.update_policy).where(Installation.id == installation_id).first()
        return {
            "id": row["id"], "tenant_slug": row["tenant_slug"], "app_slug": row["app_slug"],
            "version": row["version_string"], "update_policy": policy["update_policy"],
            "env": [{"name": e.name, "label": e.label or e.name, "description": e.description or "",
                     "secret": e.secret, "generate": e.generate, "required": e.required,
                     "default": e.default or "", "value": shown.get(e.name, "")} for e in manifest.env],
            "current": {e.name: shown.get(e.name, "") for e in manifest.env if not e.secret},
            "kept_secrets": [e.name for e in manifest.env if e.secret and e.name in shown],
        }

    async def logs(self, principal: Principal, installation_id: int, tail: int = 200) -> str:
        """The container's last log lines, for members of the installation's tenant."""
        await self._installation_for(principal, installation_id, write=False)
        if self.engine is None:
            raise Conflict("no container engine is configured")
        try:
            return await self.engine.logs(installation_id, tail=max(1, min(tail, 2000)))
        except ProvisioningError as exc:
            raise _engine_error(exc) from None

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
        """The tenant's installations: the live ones, then removed ones whose data is still
        kept (`retain_until`). Each carries `newer_versions` (approved versions above the
        installed one, newest first: the "update available" badge) and `previous`."""
        tenant = await self._tenant_for(principal, tenant_slug, write=False)
        rows = await Installation.select(
            Installation.id, Installation.app, Installation.app.slug, Installation.app.name,
            Installation.version.version, Installation.previous_version.version.as_alias("previous"),
            Installation.desired_state, Installation.observed_state, Installation.url, Installation.config,
            Installation.update_policy, Installation.last_error, Installation.created_at, Installation.tenant,
            Installation.removed_at, Installation.retain_until,
        ).where(
            (Installation.tenant == tenant["id"])
            & ((Installation.desired_state != "removed") | (Installation.observed_state == "removed"))
        ).output(load_json=True).order_by(Installation.id)
        versions = await self._adoptable_versions({r["app"] for r in rows}) if rows else {}
        for r in rows:
            r["config"] = masked(r["config"] or {})
            current = parse_version(r["version.version"])
            r["newer_versions"] = sorted(
                (v for v in versions.get(r["app"], []) if parse_version(v) > current),
                key=parse_version, reverse=True,
            )
        return rows
