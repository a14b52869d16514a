"""The catalog's JSON API under /api/v1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, QueryParameter

from catalog import schemas
from catalog.controllers.params import CatalogParams, catalog_params
from catalog.controllers.uploads import spooled_submission
from catalog.services import CatalogService, categories
from marketplace.i18n import current_locale
from marketplace.params import AppSlug, VersionText
from marketplace.problems import problem_responses
from marketplace.settings import Settings

VERSION_PATH = "/apps/{slug:str}/versions/{version:str}"
REVIEW_ERRORS = problem_responses(404, 409)


@dataclass
class VersionUpload:
    """A bundle (tar or tar.gz with lumbung.yaml and a Dockerfile) and its version."""

    bundle: UploadFile
    version: str
    changelog: str = ""
    tenant: str | None = None


class CatalogApiController(Controller):
    path = "/api/v1"
    tags = ["catalog"]
    dependencies = {"params": Provide(catalog_params, sync_to_thread=False)}

    @get("/apps", opt={"access": "user"}, summary="Search and browse the catalog", responses=problem_responses())
    async def list_apps(self, catalog: NamedDependency[CatalogService], params: NamedDependency[CatalogParams]) -> schemas.CatalogPage:
        return await catalog.browse(params.to_query(), locale=current_locale.get())

    @get("/apps/{slug:str}", opt={"access": "user"}, summary="One app with its versions and adopters", responses=problem_responses(404))
    async def get_app(
        self,
        request: Request,
        catalog: NamedDependency[CatalogService],
        slug: AppSlug,
        prereleases: Annotated[bool, QueryParameter(name="prereleases")] = False,
    ) -> schemas.App:
        return await catalog.app_detail(request.user, slug, include_prereleases=prereleases)

    @get("/apps/{slug:str}/versions", opt={"access": "user"}, summary="Versions of an app, newest first", responses=problem_responses(404))
    async def list_versions(
        self,
        request: Request,
        catalog: NamedDependency[CatalogService],
        slug: AppSlug,
        prereleases: Annotated[bool, QueryParameter(name="prereleases")] = False,
    ) -> list[schemas.Version]:
        return (await catalog.app_detail(request.user, slug, include_prereleases=prereleases)).versions

    @get(VERSION_PATH, opt={"access": "user"}, summary="One version", responses=problem_responses(404))
    async def get_version(self, request: Request, catalog: NamedDependency[CatalogService], slug: AppSlug, version: VersionText) -> schemas.Version:
        return await catalog.version_detail(request.user, slug, version)

    @post(
        "/apps/{slug:str}/versions",
        opt={"access": "publisher"},
        summary="Submit a new app or a new version for review",
        status_code=201,
        responses=problem_responses(404, 409, 413),
    )
    async def submit_version(
        self,
        request: Request,
        catalog: NamedDependency[CatalogService],
        settings: NamedDependency[Settings],
        slug: AppSlug,
        data: Annotated[VersionUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> schemas.Version:
        async with spooled_submission(
            settings,
            data.bundle,
            version=data.version,
            changelog=data.changelog,
            app_slug=slug,
            tenant_slug=data.tenant,
        ) as submission:
            return await catalog.submit_version(request.user, submission)

    @get("/review/queue", opt={"access": "curator"}, summary="Versions waiting for review", responses=problem_responses())
    async def review_queue(self, request: Request, catalog: NamedDependency[CatalogService]) -> list[schemas.QueueItem]:
        return await catalog.review_queue(request.user)

    @post(VERSION_PATH + "/approve", opt={"access": "curator"}, status_code=200, summary="Approve a version", responses=REVIEW_ERRORS)
    async def approve(self, request: Request, catalog: NamedDependency[CatalogService], slug: AppSlug, version: VersionText) -> schemas.Version:
        return await catalog.approve(request.user, slug, version)

    @post(VERSION_PATH + "/reject", opt={"access": "curator"}, status_code=200, summary="Reject a version", responses=REVIEW_ERRORS)
    async def reject(
        self, request: Request, catalog: NamedDependency[CatalogService], slug: AppSlug, version: VersionText, data: JSONBody[schemas.ReasonBody]
    ) -> schemas.Version:
        return await catalog.reject(request.user, slug, version, data.reason)

    @post(VERSION_PATH + "/yank", opt={"access": "curator"}, status_code=200, summary="Yank a version", responses=REVIEW_ERRORS)
    async def yank(
        self, request: Request, catalog: NamedDependency[CatalogService], slug: AppSlug, version: VersionText, data: JSONBody[schemas.OptionalReasonBody]
    ) -> schemas.Version:
        return await catalog.yank(request.user, slug, version, data.reason)

    @post(VERSION_PATH + "/unyank", opt={"access": "curator"}, status_code=200, summary="Undo a yank", responses=REVIEW_ERRORS)
    async def unyank(self, request: Request, catalog: NamedDependency[CatalogService], slug: AppSlug, version: VersionText) -> schemas.Version:
        return await catalog.unyank(request.user, slug, version)

    @get("/categories", opt={"access": "user"}, summary="The SPBE categories", responses=problem_responses())
    async def list_categories(self) -> list[schemas.Category]:
        return categories()
