"""The catalog's web pages."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from catalog.controllers.params import CatalogParams, catalog_params
from catalog.controllers.uploads import spooled_submission
from catalog.search import FACETS, SORTS
from catalog.services import CatalogService
from marketplace.errors import ValidationFailed
from marketplace.i18n import current_locale
from marketplace.params import AppSlug, VersionText
from marketplace.settings import Settings

VERSION_PATH = "/review/{slug:str}/{version:str}"


def _form_text(form: Any, name: str, limit: int = 100_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


class CatalogPagesController(Controller):
    path = "/"
    include_in_schema = False

    @get("/", opt={"access": "user"}, dependencies={"params": Provide(catalog_params, sync_to_thread=False)})
    async def index(self, catalog: NamedDependency[CatalogService], params: NamedDependency[CatalogParams]) -> Template:
        page = await catalog.browse(params.to_query(), locale=current_locale.get())
        return Template(
            "catalog/index.html",
            context={"page": page, "params": params, "facet_names": FACETS, "sorts": SORTS},
        )

    @get("/apps/{slug:str}", opt={"access": "user"})
    async def app(
        self,
        request: Request,
        catalog: NamedDependency[CatalogService],
        slug: AppSlug,
        prereleases: Annotated[bool, QueryParameter(name="prereleases")] = False,
        submitted: Annotated[str | None, QueryParameter(name="submitted", max_length=100)] = None,
    ) -> Template:
        app = await catalog.app_detail(request.user, slug, include_prereleases=prereleases)
        return Template(
            "catalog/app.html",
            context={"app": app, "prereleases": prereleases, "submitted": submitted},
        )

    @get("/publish", opt={"access": "publisher"})
    async def publish_form(self, request: Request) -> Template:
        return Template("catalog/publish.html", context={"errors": [], "values": {}})

    @post("/publish", opt={"access": "publisher"}, status_code=200)
    async def publish(self, request: Request, catalog: NamedDependency[CatalogService], settings: NamedDependency[Settings]) -> Template | Redirect:
        form = await request.form()
        values = {
            "version": _form_text(form, "version", 100),
            "changelog": _form_text(form, "changelog"),
            "tenant": _form_text(form, "tenant", 80),
        }
        bundle = form.get("bundle")
        try:
            async with spooled_submission(
                settings,
                bundle if isinstance(bundle, UploadFile) and bundle.filename else None,
                version=values["version"],
                changelog=values["changelog"],
                app_slug=None,
                tenant_slug=values["tenant"] or None,
            ) as submission:
                version = await catalog.submit_version(request.user, submission)
        except ValidationFailed as exc:
            return Template(
                "catalog/publish.html",
                context={"errors": exc.errors, "message": exc.message, "values": values},
                status_code=422,
            )
        return Redirect(f"/apps/{version.app_slug}?submitted={version.version}", status_code=303)

    @get("/my/apps", opt={"access": "publisher"})
    async def my_apps(self, request: Request, catalog: NamedDependency[CatalogService]) -> Template:
        return Template("catalog/my_apps.html", context={"apps": await catalog.publisher_apps(request.user)})

    @get("/review", opt={"access": "curator"})
    async def review_queue(self, request: Request, catalog: NamedDependency[CatalogService]) -> Template:
        return Template("catalog/review.html", context={"queue": await catalog.review_queue(request.user)})

    @post(VERSION_PATH + "/{action:str}", opt={"access": "curator"}, status_code=303)
    async def review(
        self, request: Request, catalog: NamedDependency[CatalogService], slug: AppSlug, version: VersionText, action: FromPath[str]
    ) -> Redirect | Template:
        form = await request.form()
        reason = _form_text(form, "reason", 2000)
        back = _form_text(form, "next", 300)
        actions = {
            "approve": lambda: catalog.approve(request.user, slug, version),
            "reject": lambda: catalog.reject(request.user, slug, version, reason),
            "yank": lambda: catalog.yank(request.user, slug, version, reason),
            "unyank": lambda: catalog.unyank(request.user, slug, version),
        }
        if action not in actions:
            raise ValidationFailed("unknown review action", errors=[{"field": "action", "message": "unknown"}])
        try:
            await actions[action]()
        except ValidationFailed as exc:
            queue = await catalog.review_queue(request.user)
            return Template(
                "catalog/review.html",
                context={"queue": queue, "errors": exc.errors, "failed": (slug, version), "message": exc.message},
                status_code=422,
            )
        target = back if back.startswith("/") and not back.startswith("//") else "/review"
        return Redirect(target, status_code=303)

