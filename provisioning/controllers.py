"""The provisioning API: adopt an app for a tenant, follow its job, list installations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import File

from marketplace.errors import ValidationFailed
from marketplace.params import APP_SLUG_PATTERN, RowId, TenantSlug
from marketplace.problems import problem_responses
from provisioning.services import ProvisioningService

CHANGE_ERRORS = problem_responses(404, 409)
ENGINE_ERRORS = problem_responses(404, 409, 503)
# The operations of provisioning.jobs.OPERATION_STEPS, named in the schema.
Operation = Literal["start", "stop", "restart", "deprovision", "purge"]


class AdoptBody(msgspec.Struct, forbid_unknown_fields=True):
    app: Annotated[str, msgspec.Meta(max_length=64, pattern=APP_SLUG_PATTERN)]
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    config: dict[str, str] = {}
    update_policy: str = "pinned"


class UpgradeBody(msgspec.Struct, forbid_unknown_fields=True):
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    config: dict[str, str] = {}


class ChangeBody(msgspec.Struct, forbid_unknown_fields=True):
    config: dict[str, str] | None = None
    update_policy: str | None = None


class JobLink(msgspec.Struct):
    job_id: int
    job_url: str


class AdoptionOut(msgspec.Struct):
    installation_id: int
    job_id: int
    job_url: str


class JobStep(msgspec.Struct):
    key: str
    label: str
    state: str
    detail: str


class JobOut(msgspec.Struct):
    id: int
    kind: str
    state: str
    progress: int
    steps: list[JobStep]
    error: str
    log: str
    tenant: str
    app: str
    url: str


async def data_download(provisioning: ProvisioningService, request: Request, installation_id: int) -> File:
    """The installation's data volumes as a tar download; the temporary file goes after it is sent."""
    path, name = await provisioning.export_data(request.user, installation_id)
    return File(path=path, filename=name, media_type="application/x-tar",
                background=BackgroundTask(path.unlink, missing_ok=True))


class ProvisioningApiController(Controller):
    path = "/api/v1"
    tags = ["provisioning"]

    @post("/tenants/{tenant:str}/installations", opt={"access": "installer"}, status_code=202,
          summary="Adopt an approved version for a tenant; returns the provisioning job", responses=CHANGE_ERRORS)
    async def adopt(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], tenant: TenantSlug, data: JSONBody[AdoptBody]
    ) -> AdoptionOut:
        adoption = await provisioning.adopt(
            request.user, tenant, data.app, data.version, data.config, update_policy=data.update_policy
        )
        return AdoptionOut(adoption.installation_id, adoption.job_id, f"/api/v1/jobs/{adoption.job_id}")

    @get("/tenants/{tenant:str}/installations", opt={"access": "user"}, summary="The tenant's installations",
         responses=problem_responses(404))
    async def installations(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], tenant: TenantSlug
    ) -> list[dict[str, Any]]:
        return await provisioning.installations(request.user, tenant)

    @post("/installations/{installation_id:int}/upgrade", opt={"access": "installer"}, status_code=202,
          summary="Move to another approved version, data kept (snapshotted first; rolled back by itself on failure)",
          responses=CHANGE_ERRORS)
    async def upgrade(
        self, request: Request, provisioning: NamedDependency[ProvisioningService],
        installation_id: RowId, data: JSONBody[UpgradeBody],
    ) -> JobLink:
        job_id = await provisioning.upgrade(request.user, installation_id, data.version, data.config)
        return JobLink(job_id, f"/api/v1/jobs/{job_id}")

    @post("/installations/{installation_id:int}/rollback", opt={"access": "installer"}, status_code=202,
          summary="Return to the version before the last upgrade, with its data snapshot", responses=CHANGE_ERRORS)
    async def rollback(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
    ) -> JobLink:
        job_id = await provisioning.rollback(request.user, installation_id)
        return JobLink(job_id, f"/api/v1/jobs/{job_id}")

    @patch("/installations/{installation_id:int}", opt={"access": "installer"},
           summary="Change settings (recreates the container; returns the job) and/or the update policy",
           responses=CHANGE_ERRORS)
    async def change(
        self, request: Request, provisioning: NamedDependency[ProvisioningService],
        installation_id: RowId, data: JSONBody[ChangeBody],
    ) -> Response[dict[str, Any]]:
        if data.config is None and data.update_policy is None:
            raise ValidationFailed("nothing to change", errors=[{"field": "body", "message": "give config or update_policy"}])
        out: dict[str, Any] = {}
        if data.update_policy is not None:
            await provisioning.set_update_policy(request.user, installation_id, data.update_policy)
            out["update_policy"] = data.update_policy
        if data.config is not None:
            job_id = await provisioning.reconfigure(request.user, installation_id, data.config)
            out.update(job_id=job_id, job_url=f"/api/v1/jobs/{job_id}")
        return Response(out, status_code=202 if "job_id" in out else 200)

    @get("/installations/{installation_id:int}/data.tar", opt={"access": "installer"}, media_type="application/x-tar",
         summary="The installation's data volumes as a tar archive (also during retention after removal)",
         responses=ENGINE_ERRORS)
    async def export(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
    ) -> File:
        return await data_download(provisioning, request, installation_id)

    @post("/installations/{installation_id:int}/{action:str}", opt={"access": "installer"}, status_code=202,
          summary="start, stop, restart, deprovision (data kept) or purge an installation; returns the job",
          responses=CHANGE_ERRORS)
    async def operate(
        self, request: Request, provisioning: NamedDependency[ProvisioningService],
        installation_id: RowId, action: FromPath[Operation],
    ) -> dict[str, Any]:
        job_id = await provisioning.operate(request.user, installation_id, action)
        return {"job_id": job_id, "job_url": f"/api/v1/jobs/{job_id}"}

    @get("/installations/{installation_id:int}/logs", opt={"access": "user"}, summary="The container's last log lines",
         responses=ENGINE_ERRORS)
    async def logs(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], installation_id: RowId,
        tail: Annotated[int, QueryParameter(name="tail", ge=1, le=2000)] = 200,
    ) -> dict[str, str]:
        return {"logs": await provisioning.logs(request.user, installation_id, tail)}

    @get("/jobs/{job_id:int}", opt={"access": "user"}, summary="A provisioning job: steps, progress, log",
         responses=problem_responses(404))
    async def job(
        self, request: Request, provisioning: NamedDependency[ProvisioningService], job_id: RowId
    ) -> JobOut:
        job = await provisioning.job(request.user, job_id)
        return JobOut(
            id=job["id"], kind=job["kind"], state=job["state"], progress=job["progress"],
            steps=[JobStep(**s) for s in job["steps"]], error=job["error"], log=job["log"],
            tenant=job["tenant_slug"], app=job["app_slug"], url=job["url"] if job["state"] == "succeeded" else "",
        )
