"""Who is calling, and may they call this route.

Pages authenticate with a server-side session cookie; the API only with bearer tokens,
so a cookie can never be replayed against it across sites. Every route declares an
access rule in its `opt`; a route without one is refused (fail closed).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from marketplace.errors import AuthenticationRequired, PermissionDenied
from tenants import audit, identity
from tenants.principal import Principal

SESSION_COOKIE = "lumbung_session"
API_PREFIX = "/api/"

# rule -> the token scope it needs (browser sessions carry every right the user has)
ACCESS_RULES: dict[str, str | None] = {
    "public": None,
    "user": "catalog:read",
    "publisher": "apps:publish",
    "curator": "catalog:review",
    "installer": "installations:write",
    "stats": "stats:read",
    "platform_admin": None,
}


class LoginRequired(AuthenticationRequired):
    """A page that needs a signed-in user; answered with a redirect to the login page."""


class InvalidToken(AuthenticationRequired):
    pass


class IdentityMiddleware(ASGIMiddleware):
    """Resolves the caller into `scope["user"]` (a Principal, or None)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal: Principal | None = None
        token_error = False
        path = scope.get("path", "")
        if path.startswith(API_PREFIX):
            header = _header(scope, b"authorization")
            if header:
                kind, _, secret = header.partition(" ")
                if kind.lower() == "bearer" and secret.strip():
                    principal = await identity.principal_from_token(secret.strip())
                token_error = principal is None
        else:
            cookie = _cookie(scope, SESSION_COOKIE)
            if cookie:
                principal = await identity.principal_from_session(cookie)
        scope["user"] = principal
        scope["auth"] = {"invalid_token": token_error}
        client = scope.get("client")
        address = audit.client_address.set(client[0] if client else "")
        try:
            await next_app(scope, receive, send)
        finally:
            audit.client_address.reset(address)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _cookie(scope: Scope, name: str) -> str:
    raw = _header(scope, b"cookie")
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def access_rule(handler: BaseRouteHandler) -> str | None:
    rule = handler.opt.get("access")
    return rule if rule in ACCESS_RULES else None


def access_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The one guard every route passes through."""
    rule = access_rule(handler)
    if rule is None:
        raise PermissionDenied("this route declares no access rule")
    is_api = connection.scope.get("path", "").startswith(API_PREFIX)
    auth = connection.scope.get("auth") or {}
    if is_api and auth.get("invalid_token"):
        raise InvalidToken("the API token is invalid, expired or revoked")
    if rule == "public":
        return
    principal: Principal | None = connection.scope.get("user")
    if principal is None:
        if is_api:
            raise AuthenticationRequired("send an API token: Authorization: Bearer lmb_...")
        raise LoginRequired("please sign in")
    scope_needed = ACCESS_RULES[rule]
    if scope_needed and not principal.has_scope(scope_needed):
        raise PermissionDenied(f"the token lacks the {scope_needed} scope")
    if rule == "publisher" and not principal.is_publisher:
        raise PermissionDenied("only admins and operators of a publishing tenant can do this")
    if rule == "curator" and not principal.can_review:
        raise PermissionDenied("only curators can do this")
    if rule == "platform_admin" and not (principal.is_platform_admin and principal.via == "session"):
        raise PermissionDenied("only platform admins can do this")
