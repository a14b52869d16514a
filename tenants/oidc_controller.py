"""Sign-in through an OpenID Connect provider: ``/login/sso`` and its callback.

The routes always exist; without ``LUMBUNG_OIDC_ISSUER`` they answer 404 and the login
page shows no SSO button. The logic lives in :mod:`tenants.oidc`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Controller, Request, Response, Router, get
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template

from marketplace.settings import Settings
from tenants.controllers import safe_next, session_cookie
from tenants.oidc import (
    LOGIN_STATE_COOKIE,
    LOGIN_STATE_PATH,
    LOGIN_STATE_TTL,
    LoginStateCodec,
    OidcClient,
    OidcSettings,
    SsoError,
    sign_in,
)

log = logging.getLogger("lumbung.oidc")

CALLBACK_PATH = "/login/sso/callback"
SSO_LABEL_GLOBAL = "sso_label"  # the Jinja global the login page tests to show the button
_NO_STORE = {"Cache-Control": "no-store"}


class OidcController(Controller):
    path = "/login/sso"
    include_in_schema = False

    def __init__(self, owner: Router) -> None:
        super().__init__(owner)
        # Read once, when the app is built, like the rest of the settings.
        self.oidc = OidcSettings.from_env()
        self.client = OidcClient(self.oidc) if self.oidc.enabled else None
        engine = getattr(owner, "template_engine", None)
        if isinstance(engine, JinjaTemplateEngine):
            engine.engine.globals[SSO_LABEL_GLOBAL] = self.oidc.button_label if self.oidc.enabled else None

    def _client(self) -> OidcClient:
        if self.client is None:
            raise NotFoundException()
        return self.client

    @get("/", opt={"access": "public"})
    async def start(
        self,
        settings: NamedDependency[Settings],
        next_: Annotated[str | None, QueryParameter(name="next", max_length=500)] = None,
    ) -> Response[Any]:
        client = self._client()
        codec = LoginStateCodec(settings.secret_key)
        login = codec.new(safe_next(next_))
        try:
            url = await client.authorization_url(login, _redirect_uri(settings))
        except SsoError as exc:
            return _failure(exc, login.next_path)
        response = Redirect(url, status_code=302, headers=_NO_STORE)
        response.set_cookie(
            Cookie(
                key=LOGIN_STATE_COOKIE,
                value=codec.dump(login),
                max_age=LOGIN_STATE_TTL,
                httponly=True,
                secure=settings.secure_cookies,
                samesite="lax",
                path=LOGIN_STATE_PATH,
            )
        )
        return response

    @get("/callback", opt={"access": "public"})
    async def callback(self, request: Request, settings: NamedDependency[Settings]) -> Response[Any]:
        client = self._client()
        next_path = "/"
        try:
            login = LoginStateCodec(settings.secret_key).load(request.cookies.get(LOGIN_STATE_COOKIE))
            next_path = safe_next(login.next_path)
            query = {key: request.query_params.get(key) for key in ("state", "code", "error", "error_description")}
            claims = await client.finish({k: v for k, v in query.items() if isinstance(v, str)}, login, _redirect_uri(settings))
            user, secret = await sign_in(self.oidc, claims, ttl_seconds=settings.session_ttl_seconds)
        except SsoError as exc:
            response = _failure(exc, next_path)
        else:
            log.info("SSO sign-in of %s", user.username)
            response = Redirect(next_path, status_code=303, headers=_NO_STORE)
            response.set_cookie(session_cookie(secret, settings))
        # One login, one callback: the state cannot be used again, whatever happened.
        response.delete_cookie(LOGIN_STATE_COOKIE, path=LOGIN_STATE_PATH)
        return response


def _redirect_uri(settings: Settings) -> str:
    """The registered callback URL: from the configured base URL, never from the Host header."""
    return settings.base_url + CALLBACK_PATH


def _failure(exc: SsoError, next_path: str) -> Template:
    log.warning("SSO sign-in failed (%s): %s", exc.status_code, exc.detail)
    return Template(
        "auth/login.html",
        context={"next": next_path, "error": None, "username": "", "sso_error": exc.message},
        status_code=exc.status_code,
        headers=_NO_STORE,
    )
