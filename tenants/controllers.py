"""Sign-in, sign-out, API tokens and the caller's own profile."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from marketplace.errors import AuthenticationRequired, ValidationFailed
from marketplace.i18n import LOCALES
from marketplace.params import RowId
from marketplace.problems import problem_responses
from marketplace.settings import Settings
from tenants import audit, identity
from tenants.auth import SESSION_COOKIE
from tenants.principal import SCOPES, Principal

LANG_COOKIE = "lang"


class LoginLimiter:
    """Sign-in attempts per client address, on top of the per-account lockout: slows
    down password spraying across many accounts. Kept in the process's memory."""

    def __init__(self, rate: str):
        self.rate = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, address: str) -> bool:
        return self.limiter.hit(self.rate, "login", address)


def safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target[:500]
    return "/"


def session_cookie(secret: str, settings: Settings) -> Cookie:
    """The cookie of a new session, for every way of signing in (password, SSO)."""
    return Cookie(
        key=SESSION_COOKIE,
        value=secret,
        max_age=settings.session_ttl_seconds,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )


class Me(msgspec.Struct):
    username: str
    display_name: str
    is_curator: bool
    is_platform_admin: bool
    tenants: list[dict[str, Any]]
    scopes: list[str] | None
    via: str


class AccountPagesController(Controller):
    path = "/"
    include_in_schema = False

    @get("/login", opt={"access": "public"})
    async def login_form(
        self, next_: Annotated[str | None, QueryParameter(name="next", max_length=500)] = None
    ) -> Template:
        return Template("auth/login.html", context={"next": safe_next(next_), "error": None, "username": ""})

    @post("/login", opt={"access": "public"}, status_code=303)
    async def login(
        self, request: Request, settings: NamedDependency[Settings], login_limiter: NamedDependency[LoginLimiter]
    ) -> Response:
        form = await request.form()
        username = form.get("username") if isinstance(form.get("username"), str) else ""
        password = form.get("password") if isinstance(form.get("password"), str) else ""
        target = safe_next(form.get("next") if isinstance(form.get("next"), str) else None)
        client = request.client.host if request.client else ""
        if not login_limiter.allow(client):
            return Template(
                "auth/login.html",
                context={"next": target, "error": "rate_limited", "username": username[:80]},
                status_code=429,
                headers={"Retry-After": "60"},
            )
        try:
            if len(username) > 80 or len(password) > 1024:
                raise AuthenticationRequired("wrong username or password")
            secret = await identity.sign_in(username, password, ttl_seconds=settings.session_ttl_seconds)
        except AuthenticationRequired as exc:
            return Template(
                "auth/login.html",
                context={
                    "next": target,
                    "error": "locked" if isinstance(exc, identity.AccountLocked) else "wrong",
                    "username": username[:80],
                },
                status_code=401,
            )
        response = Redirect(target, status_code=303)
        response.set_cookie(session_cookie(secret, settings))
        return response

    @post("/logout", opt={"access": "public"}, status_code=303)
    async def logout(self, request: Request) -> Redirect:
        if request.user is not None:
            await audit.record("auth.sign_out", actor=request.user, object_type="user", object_id=request.user.username)
        await identity.end_session(request.cookies.get(SESSION_COOKIE, ""))
        response = Redirect("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/lang/{code:str}", opt={"access": "public"})
    async def switch_language(
        self, code: FromPath[str], next_: Annotated[str | None, QueryParameter(name="next", max_length=500)] = None
    ) -> Redirect:
        response = Redirect(safe_next(next_), status_code=303)
        if code in LOCALES:
            response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", httponly=True)
        return response

    @get("/account/tokens", opt={"access": "user"})
    async def tokens(self, request: Request) -> Template:
        principal: Principal = request.user
        return Template(
            "account/tokens.html",
            context={"tokens": await identity.list_tokens(principal.user_id), "scopes": SCOPES, "issued": None},
        )

    @post("/account/tokens", opt={"access": "user"}, status_code=200)
    async def create_token(self, request: Request) -> Template:
        principal: Principal = request.user
        form = await request.form()
        name = form.get("name") if isinstance(form.get("name"), str) else ""
        scopes = [s for s in form.getall("scopes", []) if isinstance(s, str)] if hasattr(form, "getall") else []
        days_raw = form.get("expires_in_days") if isinstance(form.get("expires_in_days"), str) else "90"
        tenant_slug = form.get("tenant") if isinstance(form.get("tenant"), str) else ""
        issued, errors = None, []
        try:
            days = int(days_raw)
        except ValueError:
            days = 0
        try:
            issued = await identity.issue_token(
                principal.user_id, name, scopes, expires_in_days=days,
                tenant_id=identity.token_tenant(principal, tenant_slug),
            )
        except ValidationFailed as exc:
            errors = exc.errors
        return Template(
            "account/tokens.html",
            context={
                "tokens": await identity.list_tokens(principal.user_id),
                "scopes": SCOPES,
                "issued": issued,
                "errors": errors,
            },
            status_code=201 if issued else 422,
        )

    @post("/account/tokens/{token_id:int}/revoke", opt={"access": "user"}, status_code=303)
    async def revoke_token(self, request: Request, token_id: RowId) -> Redirect:
        await identity.revoke_token(request.user.user_id, token_id)
        return Redirect("/account/tokens", status_code=303)


class IdentityApiController(Controller):
    path = "/api/v1"
    tags = ["identity"]

    @get("/me", opt={"access": "user"}, summary="The caller: user, tenants and roles, token scopes",
         responses=problem_responses())
    async def me(self, request: Request) -> Me:
        p: Principal = request.user
        return Me(
            username=p.username,
            display_name=p.display_name,
            is_curator=p.is_curator,
            is_platform_admin=p.is_platform_admin,
            tenants=[{"slug": m.slug, "name": m.name, "role": m.role, "publishes": m.publishes} for m in p.memberships],
            scopes=sorted(p.scopes) if p.scopes is not None else None,
            via=p.via,
        )


@get("/healthz", opt={"access": "public"}, include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/api/v1/health", opt={"access": "public"}, tags=["health"], summary="Liveness, for load balancers", sync_to_thread=False)
def api_health() -> dict[str, str]:
    return {"status": "ok"}
