"""The application factory: wiring of settings, services, middleware, routes and errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar, MediaType, Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.middleware import ASGIMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Receive, Scope, Send

from catalog.bundles import BundleLimits, BundleStore
from catalog.controllers.api import CatalogApiController
from catalog.controllers.pages import CatalogPagesController
from catalog.search import make_search_backend
from catalog.services import CatalogService
from marketplace import __version__, i18n
from marketplace.db import engine
from marketplace.errors import DomainError
from provisioning.config import ConfigCipher
from provisioning.controllers import ProvisioningApiController
from provisioning.engine import DockerEngine
from provisioning.pages import ProvisioningPagesController
from provisioning.jobs import JobRunner
from provisioning.reconciler import Reconciler
from provisioning.services import ProvisioningService
from stats.controllers import StatsApiController
from stats.metrics import MetricsController
from stats.pages import StatsPagesController
from marketplace.settings import Settings, get_settings
from marketplace.templating import build_environment
from tenants.auth import API_PREFIX, LoginRequired, access_guard, IdentityMiddleware
from tenants.pages import AdminPagesController, TenantPagesController
from tenants.controllers import LANG_COOKIE, AccountPagesController, IdentityApiController, LoginLimiter, api_health, healthz
from tenants.oidc_controller import OidcController

log = logging.getLogger("lumbung")


def build_catalog_service(settings: Settings) -> CatalogService:
    search = make_search_backend(
        settings.search_backend,
        index_path=settings.search_index_path,
        meili_url=settings.meili_url,
        meili_api_key=settings.meili_api_key,
        meili_index=settings.meili_index,
    )
    limits = BundleLimits(
        max_bytes=settings.max_bundle_bytes,
        max_members=settings.max_bundle_members,
        max_unpacked_bytes=settings.max_bundle_unpacked_bytes,
    )
    settings.bundle_dir.mkdir(parents=True, exist_ok=True)
    return CatalogService(search=search, store=BundleStore(settings.bundle_dir), limits=limits)


class LocaleMiddleware(ASGIMiddleware):
    """Sets the interface language for the request from ?lang= or the language cookie."""

    def __init__(self, default: str):
        super().__init__()
        self.default = default

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        cookie = query = None
        for key, value in scope.get("headers", []):
            if key == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    name, _, val = part.strip().partition("=")
                    if name == LANG_COOKIE:
                        cookie = val
        for part in scope.get("query_string", b"").decode("latin-1").split("&"):
            name, _, val = part.partition("=")
            if name == "lang":
                query = val
        token = i18n.current_locale.set(i18n.negotiate(cookie, query, self.default))
        try:
            await next_app(scope, receive, send)
        finally:
            i18n.current_locale.reset(token)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX) or request.url.path.startswith("/schema")


def _problem(status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _page(request: Request, status: int, message: str) -> Response:
    return Template("error.html", context={"status": status, "message": message}, status_code=status)


def domain_error_handler(request: Request, exc: DomainError) -> Response:
    if isinstance(exc, LoginRequired):
        return Redirect(f"/login?next={request.url.path}", status_code=303)
    if _wants_json(request):
        response = _problem(exc.status_code, exc.code, exc.message, exc.errors)
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="lumbung"'
        return response
    return _page(request, exc.status_code, exc.message)


def validation_error_handler(request: Request, exc: ValidationException) -> Response:
    items = [item for item in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(item, dict)]
    if items and all(item.get("source") == "path" for item in items):
        # A path whose slug, version or id cannot exist names nothing: "not found", as for
        # one that does not exist.
        return http_error_handler(request, NotFoundException())
    errors = [
        {"field": str(item.get("key") or item.get("source") or "body"), "message": str(item.get("message", ""))}
        for item in items
    ]
    message = exc.detail or "the request is not valid"
    if _wants_json(request):
        return _problem(422 if errors else 400, "validation_failed" if errors else "bad_request", message, errors)
    return _page(request, 400, message)


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 403: "permission_denied"}.get(
        exc.status_code, "error"
    )
    message = exc.detail if exc.status_code != 404 else "not found"
    if _wants_json(request):
        return _problem(exc.status_code, code, message)
    return _page(request, exc.status_code, message)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _wants_json(request):
        return _problem(500, "internal_error", "something went wrong on our side")
    return _page(request, 500, "something went wrong on our side")


async def reconcile_forever(reconciler: Reconciler, stop: asyncio.Event, every: int) -> None:
    """Reconcile now and then until `stop` is set; a failing pass never ends the loop."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
            return
        except TimeoutError:
            pass
        try:
            report = await reconciler.run_once()
            if report.changed or report.orphans:
                log.info("reconciled: %s", report)
        except Exception:  # noqa: BLE001
            log.exception("reconciling failed")


def build_engine(settings: Settings) -> DockerEngine:
    """The container engine named by LUMBUNG_ENGINE."""
    if settings.container_engine == "swarm":
        from provisioning.swarm import SwarmEngine

        return SwarmEngine()
    return DockerEngine()


def build_job_runner(settings: Settings, engine: DockerEngine, store: BundleStore, cipher: ConfigCipher) -> JobRunner:
    return JobRunner(
        engine, store, cipher, snapshot_dir=settings.snapshot_dir,
        retention=timedelta(days=settings.retention_days),
        stale_after=timedelta(seconds=settings.job_stale_seconds),
    )


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the marketplace application."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = engine()
        # One connection pool per process on PostgreSQL, owned by the running app.
        owns_pool = db.engine_type == "postgres" and getattr(db, "pool", None) is None
        if owns_pool:
            await db.start_connection_pool()
        app.state.catalog = build_catalog_service(settings)
        cipher = ConfigCipher(settings.secret_key)
        docker_engine = build_engine(settings)
        app.state.provisioning = ProvisioningService(cipher, docker_engine)
        app.state.catalog.version_listeners.append(app.state.provisioning.apply_update_policies)
        stop_jobs = asyncio.Event()
        worker = None
        reconciling = None
        if settings.run_jobs:
            runner = build_job_runner(settings, docker_engine, app.state.catalog.store, cipher)
            worker = asyncio.create_task(runner.work(stop_jobs), name="lumbung-jobs")
            reconciler = Reconciler(docker_engine, remove_orphans=settings.remove_orphans,
                                    policies=app.state.provisioning.apply_update_policies)
            reconciling = asyncio.create_task(
                reconcile_forever(reconciler, stop_jobs, settings.reconcile_seconds), name="lumbung-reconciler"
            )
        try:
            yield
        finally:
            stop_jobs.set()
            for task in (worker, reconciling):
                if task is not None:
                    await task
            await docker_engine.close()
            await app.state.catalog.search.close()
            if owns_pool:
                await db.close_connection_pool()
            elif hasattr(db, "close_idle_connections"):
                await db.close_idle_connections()

    def provide_catalog(state: State) -> CatalogService:
        return state.catalog

    def provide_provisioning(state: State) -> ProvisioningService:
        return state.provisioning

    def provide_settings() -> Settings:
        return settings

    login_limiter = LoginLimiter(settings.login_rate)

    template_engine = JinjaTemplateEngine.from_environment(build_environment(settings.templates_dir, auto_reload=settings.debug))
    return Litestar(
        route_handlers=[
            CatalogApiController,
            CatalogPagesController,
            ProvisioningApiController,
            ProvisioningPagesController,
            AccountPagesController,
            IdentityApiController,
            OidcController,
            TenantPagesController,
            AdminPagesController,
            StatsApiController,
            StatsPagesController,
            MetricsController,
            healthz,
            api_health,
            create_static_files_router(
                path="/static", directories=[settings.static_dir], opt={"access": "public"}, include_in_schema=False
            ),
        ],
        dependencies={
            "catalog": Provide(provide_catalog, sync_to_thread=False),
            "provisioning": Provide(provide_provisioning, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "login_limiter": Provide(lambda: login_limiter, sync_to_thread=False),
        },
        guards=[access_guard],
        middleware=[LocaleMiddleware(settings.default_locale), IdentityMiddleware()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="lumbung_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=False,
            exclude=[API_PREFIX.rstrip("/")],
        ),
        template_config=TemplateConfig(instance=template_engine),
        openapi_config=OpenAPIConfig(
            title="Lumbung API",
            version=__version__,
            description="The catalog of e-government apps shared between Indonesia's regional governments.",
            path="/api/v1/schema",
            render_plugins=[SwaggerRenderPlugin()],
            # Like the framework's own router: the documentation is not an operation of the API.
            openapi_router=Router(path="/api/v1/schema", route_handlers=[], opt={"access": "public"}, include_in_schema=False),
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="An API token (lmb_...)")}
            ),
            security=[{"bearer": []}],
        ),
        exception_handlers={
            DomainError: domain_error_handler,
            ValidationException: validation_error_handler,
            NotFoundException: http_error_handler,
            HTTPException: http_error_handler,
            Exception: internal_error_handler,
        },
        request_max_body_size=settings.max_bundle_bytes + 1024 * 1024,
        lifespan=[lifespan],
        debug=settings.debug,
    )
