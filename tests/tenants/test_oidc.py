"""Single sign-on through OpenID Connect, end to end against a real provider on loopback.

The provider below is built from authlib's server side (AuthorizationServer, the
authorization code grant with PKCE and the OpenID Connect extension) behind a plain
``http.server`` in a thread. The app under test finds it by discovery and talks to it
over real HTTP; the test plays the browser between the two.
"""

from __future__ import annotations

import html

import base64
import hashlib
import hmac
import json
import logging
import secrets
import socket
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from marketplace.i18n import translations
import pytest
from asgi_lifespan import LifespanManager
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import JsonRequest, OAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

from marketplace.settings import SettingsError, get_settings
from tenants import oidc
from tenants.tables import AuditEntry, Membership, Session, User
from tests.conftest import make_tenant, make_user
from tests.pages import login

pytestmark = pytest.mark.db

CLIENT_ID = "lumbung-test"
CLIENT_SECRET = "a-client-secret-for-the-test-provider"
KID = "provider-key-1"
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"}, private=True)
ROGUE_KEY = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"}, private=True)  # same kid, other key


# -- a real OpenID provider ------------------------------------------------------------


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uri: str
    auth_methods: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in {"openid", "profile", "email"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> None:
        return None


class Payload(OAuth2Payload):
    def __init__(self, values: dict[str, list[str]]):
        self._datalist = values

    @property
    def data(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._datalist.items()}

    @property
    def datalist(self) -> defaultdict[str, list]:
        return defaultdict(list, self._datalist)


class Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Any, query: dict[str, list[str]], form: dict[str, list[str]]):
        super().__init__(method, uri, headers=headers)
        self._args = {k: v[0] for k, v in query.items()}
        self._form = {k: v[0] for k, v in form.items()}
        self.payload = Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class RawRequest:
    method: str
    uri: str
    headers: Any
    query: dict[str, list[str]]
    form: dict[str, list[str]] = field(default_factory=dict)


class Provider(AuthorizationServer):
    """The OP: one client, one user who is always signed in and always consents."""

    def __init__(self, issuer: str, redirect_uri: str):
        super().__init__(scopes_supported=["openid", "profile", "email"])
        self.issuer = issuer
        self.client = Client(CLIENT_ID, CLIENT_SECRET, redirect_uri, ["client_secret_basic", "client_secret_post"])
        self.codes: dict[str, AuthCode] = {}
        self.user: dict[str, Any] = {
            "sub": "8f1c2d",
            "preferred_username": "budi.santoso",
            "name": "Budi Santoso",
            "email": "budi@paserkab.go.id",
            "lumbung_tenants": ["kabupaten-paser:operator", "kabupaten-nowhere:admin", "kota-surabaya:emperor"],
        }
        # what the tests turn: the methods advertised, consent, and how the ID token is made
        self.advertised_auth_methods = ["client_secret_basic", "client_secret_post"]
        self.approve = True
        self.signing_key: RSAKey = PROVIDER_KEY
        self.claim_overrides: dict[str, Any] = {}
        self.forge: Callable[[str], str] | None = None
        # what the tests look at
        self.paths: list[str] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.token_auth_methods: list[str] = []
        self.register_token_generator("default", BearerTokenGenerator(lambda *a, **k: secrets.token_urlsafe(24)))
        self.register_grant(CodeGrant, [CodeChallenge(required=True), OpenID(self)])

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": self.advertised_auth_methods,
            "scopes_supported": ["openid", "profile", "email"],
        }

    # AuthorizationServer's framework hooks
    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.token_auth_methods.append(request.auth_method)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return Request(request.method, request.uri, request.headers, request.query, request.form)

    def create_json_request(self, request: Any) -> JsonRequest:
        raise TypeError("this provider takes form-encoded requests only")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, bytes, list]:
        if isinstance(body, dict):
            return status, json.dumps(body).encode(), [*headers, ("Content-Type", "application/json")]
        return status, (body or "").encode(), headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    # the two endpoints
    def authorize(self, raw: RawRequest) -> tuple[int, bytes, list]:
        self.authorize_requests.append({k: v[0] for k, v in raw.query.items()})
        try:
            grant = self.get_consent_grant(raw, end_user=self.user)
        except OAuth2Error as error:
            return self.handle_error_response(self.create_oauth2_request(raw), error)
        return self.create_authorization_response(grant.request, grant_user=self.user if self.approve else None, grant=grant)

    def token(self, raw: RawRequest) -> tuple[int, bytes, list]:
        return self.create_token_response(raw)


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = AuthCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        item = self.server.codes.get(code)
        return item if item and item.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthCode) -> dict[str, Any]:
        return authorization_code.user


class OpenID(OpenIDCode):
    def __init__(self, provider: Provider):
        super().__init__(require_nonce=True)
        self.provider = provider

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider.signing_key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": KID}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.provider.issuer, "aud": [client.get_client_id()]}

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False

    def generate_user_info(self, user: dict[str, Any], scope: str) -> dict[str, Any]:
        # The ID token's claims are updated with these last, so overrides win (nonce, exp, aud...).
        return {**user, **self.provider.claim_overrides}

    def process_token(self, grant: Any, response: Any) -> dict[str, Any]:
        token = super().process_token(grant, response)
        if self.provider.forge and "id_token" in token:
            token["id_token"] = self.provider.forge(token["id_token"])
        return token


def handler_for(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _raw(self, form: dict[str, list[str]] | None = None) -> RawRequest:
            parts = urlsplit(self.path)
            return RawRequest(self.command, provider.issuer + self.path, self.headers, parse_qs(parts.query), form or {})

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            provider.paths.append(path)
            if path == "/.well-known/openid-configuration":
                self._send(200, json.dumps(provider.discovery()).encode(), [("Content-Type", "application/json")])
            elif path == "/jwks":
                keys = {"keys": [PROVIDER_KEY.as_dict(private=False)]}
                self._send(200, json.dumps(keys).encode(), [("Content-Type", "application/json")])
            elif path == "/authorize":
                self._send(*provider.authorize(self._raw()))
            else:
                self._send(404, b"not found", [])

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self._send(404, b"not found", [])
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            self._send(*provider.token(self._raw(parse_qs(body))))

    return Handler


@pytest.fixture
def provider() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    op = Provider(issuer, redirect_uri=get_settings().base_url + "/login/sso/callback")
    server.RequestHandlerClass = handler_for(op)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield op
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# -- the app, built after the environment names the provider ---------------------------


@pytest.fixture
def make_client(db: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`async with make_client(issuer) as client:` builds the app with SSO (or without, for None)."""

    @asynccontextmanager
    async def build(issuer: str | None, **env: str) -> AsyncIterator[httpx.AsyncClient]:
        for name in ("ISSUER", "CLIENT_ID", "CLIENT_SECRET", "SCOPES", "USERNAME_CLAIM", "TENANTS_CLAIM", "BUTTON_LABEL"):
            monkeypatch.delenv(f"LUMBUNG_OIDC_{name}", raising=False)
        if issuer:
            monkeypatch.setenv("LUMBUNG_OIDC_ISSUER", issuer)
            monkeypatch.setenv("LUMBUNG_OIDC_CLIENT_ID", CLIENT_ID)
            monkeypatch.setenv("LUMBUNG_OIDC_CLIENT_SECRET", CLIENT_SECRET)
            monkeypatch.setenv("LUMBUNG_OIDC_TENANTS_CLAIM", "lumbung_tenants")
        for name, value in env.items():
            monkeypatch.setenv(f"LUMBUNG_OIDC_{name.upper()}", value)
        from marketplace.app import create_app

        app = create_app(get_settings())
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local", follow_redirects=True) as client:
                yield client

    return build


async def start(client: httpx.AsyncClient, next_path: str = "/") -> str:
    """The browser asks the app to sign in with SSO; returns the provider's authorize URL."""
    response = await client.get("/login/sso", params={"next": next_path}, follow_redirects=False)
    assert response.status_code == 302, response.text
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("lumbung_sso="))
    assert all(a in cookie for a in ("HttpOnly", "SameSite=lax", "Path=/login/sso", "Max-Age=600")), cookie
    return response.headers["location"]


async def authorize(url: str) -> str:
    """The browser at the provider (real HTTP); returns the callback path and query for the app."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    return f"{location.path}?{location.query}"


async def sso_round_trip(client: httpx.AsyncClient, next_path: str = "/") -> httpx.Response:
    return await client.get(await authorize(await start(client, next_path)))


def unsigned(token: str, header: dict[str, Any]) -> tuple[str, str]:
    _, payload, _ = token.split(".")
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return encoded, payload


# -- the happy path --------------------------------------------------------------------


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def oidc_log() -> Any:
    """Warnings of the SSO code (the app's logging set-up replaces caplog's root handler)."""
    recorder = Recorder()
    logger = logging.getLogger("lumbung.oidc")
    logger.addHandler(recorder)
    yield recorder
    logger.removeHandler(recorder)


async def test_sign_in_through_the_provider(provider, make_client, oidc_log):
    paser = await make_tenant("kabupaten-paser", "Pemerintah Kabupaten Paser", "Kalimantan Timur", kind="kabupaten")
    async with make_client(provider.issuer) as client:
        login_page = await client.get("/login")
        assert 'href="/login/sso?next=/"' in login_page.text and "Masuk dengan SSO" in login_page.text

        authorize_url = await start(client)
        assert authorize_url.startswith(provider.issuer + "/authorize?")
        signed_in = await client.get(await authorize(authorize_url), follow_redirects=False)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        cookies = [v for k, v in signed_in.headers.multi_items() if k == "set-cookie"]
        session = next(c for c in cookies if c.startswith("lumbung_session="))
        assert all(a in session for a in ("HttpOnly", "SameSite=lax", "Path=/")), session  # as the password login
        assert any(c.startswith('lumbung_sso="";') or c.startswith("lumbung_sso=;") for c in cookies), cookies
        assert "lumbung_sso" not in client.cookies  # the login state is spent

        home = await client.get("/")
        assert home.status_code == 200 and "Budi Santoso" in home.text

    sent = provider.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["nonce"] and sent["state"] and sent["scope"] == "openid profile email"
    assert provider.token_auth_methods == ["client_secret_basic"]
    assert not provider.codes  # the code was exchanged, once

    user = await User.objects().where(User.username == "budi.santoso").first()
    assert user.display_name == "Budi Santoso" and user.email == "budi@paserkab.go.id"
    assert user.password_hash == ""  # no password sign-in for this account
    memberships = await Membership.select(Membership.tenant, Membership.role).where(Membership.user == user.id)
    assert memberships == [{"tenant": paser.id, "role": "operator"}]
    assert await Session.count().where(Session.user == user.id) == 1
    ignored = " ".join(oidc_log.messages)
    assert "kabupaten-nowhere" in ignored and "kota-surabaya:emperor" in ignored
    actions = {r["action"] for r in await AuditEntry.select(AuditEntry.action).where(AuditEntry.actor == user.id)}
    assert {"auth.sign_in", "member.added"} <= actions


async def test_existing_account_is_updated_and_next_is_kept(provider, make_client):
    paser = await make_tenant("kabupaten-paser", "Pemerintah Kabupaten Paser", "Kalimantan Timur", kind="kabupaten")
    existing = await make_user("budi.santoso", paser, "viewer")
    await link(existing, provider)
    provider.advertised_auth_methods = ["client_secret_post"]
    provider.user = {**provider.user, "lumbung_tenants": ["kabupaten-paser:viewer", "kabupaten-paser:admin"]}
    async with make_client(provider.issuer) as client:
        landed = await sso_round_trip(client, "/account/tokens")
        assert landed.status_code == 200 and landed.url.path == "/account/tokens"
        # an open redirect through next is refused
        landed = await sso_round_trip(client, "//evil.example/")
        assert landed.url.host == "testserver.local" and landed.url.path == "/"
    assert provider.token_auth_methods == ["client_secret_post", "client_secret_post"]
    # discovery and keys were fetched once and cached for the second sign-in
    assert provider.paths.count("/.well-known/openid-configuration") == 1 and provider.paths.count("/jwks") == 1
    user = await User.objects().where(User.id == existing.id).first()
    assert user.display_name == "Budi Santoso" and user.email == "budi@paserkab.go.id"
    role = await Membership.select(Membership.role).where(Membership.user == existing.id).first()
    assert role["role"] == "admin"  # the strongest role named for the tenant


async def test_accounts_made_by_sso_have_no_password(provider, make_client):
    async with make_client(provider.issuer) as client:
        await sso_round_trip(client)
        client.cookies.clear()
        refused = await login(client, "budi.santoso", "")
        assert refused.status_code == 401
        refused = await login(client, "budi.santoso", "correct-horse-battery")
        assert refused.status_code == 401
        assert "lumbung_session" not in client.cookies


# -- refusals --------------------------------------------------------------------------


async def link(user: User, provider: Any) -> None:
    """Bind a local account to the provider's user, as `marketplace link-sso` does."""
    await User.update({User.sso_issuer: provider.issuer, User.sso_subject: provider.user["sub"]}).where(User.id == user.id)


def assert_login_page(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    shown = translations("id").gettext(message)  # the interface speaks Bahasa Indonesia
    assert 'id="sso-error"' in response.text and html.escape(shown, quote=True) in response.text
    assert 'action="/login"' in response.text  # the login page, not the error page
    assert "lumbung_session" not in response.cookies


async def test_tampered_state_is_refused(provider, make_client):
    async with make_client(provider.issuer) as client:
        callback = await authorize(await start(client))
        forged = callback.replace("state=", "state=x")
        assert_login_page(await client.get(forged), 400, oidc.MSG_RESTART)
        assert await Session.count() == 0


async def test_callback_without_the_login_cookie_is_refused(provider, make_client):
    async with make_client(provider.issuer) as client:
        callback = await authorize(await start(client))
        client.cookies.clear()
        assert_login_page(await client.get(callback), 400, oidc.MSG_RESTART)


async def test_a_code_is_good_once(provider, make_client):
    async with make_client(provider.issuer) as client:
        callback = await authorize(await start(client))
        state_cookie = client.cookies.get("lumbung_sso")
        assert (await client.get(callback)).status_code == 200
        # Replayed as is: the login state was spent with the first use.
        assert_login_page(await client.get(callback), 400, oidc.MSG_RESTART)
        # Replayed with the login cookie put back: the provider refuses the used code.
        client.cookies.clear()
        client.cookies.set("lumbung_sso", state_cookie, domain="testserver.local", path="/login/sso")
        assert_login_page(await client.get(callback), 401, oidc.MSG_CODE_REJECTED)


async def test_provider_refusal_is_shown(provider, make_client):
    provider.approve = False
    async with make_client(provider.issuer) as client:
        callback = await authorize(await start(client))
        assert "error=access_denied" in callback
        assert_login_page(await client.get(callback), 401, oidc.MSG_DENIED)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nonce": "a-nonce-from-another-login"}, oidc.MSG_NONCE),
        ({"exp": 1_000_000_000, "iat": 999_990_000}, oidc.MSG_TOKEN_EXPIRED),
        ({"aud": ["another-client"]}, oidc.MSG_TOKEN_NOT_FOR_US),
        ({"iss": "https://impostor.example"}, oidc.MSG_TOKEN_NOT_FOR_US),
    ],
    ids=["wrong-nonce", "expired", "wrong-audience", "wrong-issuer"],
)
async def test_id_token_claims_are_checked(provider, make_client, overrides, message):
    provider.claim_overrides = overrides
    async with make_client(provider.issuer) as client:
        assert_login_page(await sso_round_trip(client), 401, message)
    assert await User.count() == 0


async def test_unusable_username_is_refused(provider, make_client):
    provider.user = {**provider.user, "preferred_username": "budi santoso@paser"}
    async with make_client(provider.issuer) as client:
        assert_login_page(await sso_round_trip(client), 401, oidc.MSG_NO_USERNAME)
    assert await User.count() == 0


async def test_an_unlinked_local_account_cannot_be_taken_over(provider, make_client):
    local = await make_user("budi.santoso", is_platform_admin=True)
    async with make_client(provider.issuer) as client:
        assert_login_page(await sso_round_trip(client), 401, oidc.MSG_ACCOUNT_EXISTS)
    assert await Session.count().where(Session.user == local.id) == 0


async def test_disabled_account_is_refused(provider, make_client):
    user = await make_user("budi.santoso")
    await link(user, provider)
    await User.update({User.is_active: False}).where(User.id == user.id)
    async with make_client(provider.issuer) as client:
        assert_login_page(await sso_round_trip(client), 401, oidc.MSG_DISABLED)
    assert await Session.count() == 0


async def test_token_signed_with_another_key_is_refused(provider, make_client):
    provider.signing_key = ROGUE_KEY
    async with make_client(provider.issuer) as client:
        assert_login_page(await sso_round_trip(client), 401, oidc.MSG_TOKEN_INVALID)


async def test_unsigned_token_is_refused(provider, make_client):
    def alg_none(token: str) -> str:
        header, payload = unsigned(token, {"alg": "none", "kid": KID})
        return f"{header}.{payload}."

    provider.forge = alg_none
    async with make_client(provider.issuer) as client:
        assert_login_page(await sso_round_trip(client), 401, oidc.MSG_TOKEN_INVALID)


async def test_hmac_with_the_public_key_is_refused(provider, make_client):
    public_pem = PROVIDER_KEY.as_pem(private=False)

    def hs256_with_public_key(token: str) -> str:
        header, payload = unsigned(token, {"alg": "HS256", "kid": KID})
        mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    provider.forge = hs256_with_public_key
    async with make_client(provider.issuer) as client:
        assert_login_page(await sso_round_trip(client), 401, oidc.MSG_TOKEN_INVALID)


async def test_unreachable_provider(make_client):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with make_client(f"http://127.0.0.1:{port}") as client:
        response = await client.get("/login/sso", follow_redirects=False)
        assert_login_page(response, 502, oidc.MSG_UNREACHABLE)


async def test_without_an_issuer_sso_does_not_exist(make_client):
    async with make_client(None) as client:
        assert (await client.get("/login/sso", follow_redirects=False)).status_code == 404
        assert (await client.get("/login/sso/callback?code=x&state=y", follow_redirects=False)).status_code == 404
        page = await client.get("/login")
        assert page.status_code == 200 and "/login/sso" not in page.text and "sso-login" not in page.text


# -- the pieces ------------------------------------------------------------------------


def test_settings_from_the_environment():
    assert not oidc.OidcSettings.from_env({}).enabled
    settings = oidc.OidcSettings.from_env(
        {"LUMBUNG_OIDC_ISSUER": "https://sso.example.go.id/realms/pemda", "LUMBUNG_OIDC_CLIENT_ID": "lumbung",
         "LUMBUNG_OIDC_CLIENT_SECRET": "s3cret"}
    )
    assert settings.enabled and settings.scopes == "openid profile email"
    assert settings.username_claim == "preferred_username" and settings.button_label == "Masuk dengan SSO"
    assert "s3cret" not in repr(settings)
    with pytest.raises(SettingsError):
        oidc.OidcSettings.from_env({"LUMBUNG_OIDC_ISSUER": "https://sso.example.go.id"})
    with pytest.raises(SettingsError):  # plain http only to a provider on this machine
        oidc.OidcSettings.from_env({"LUMBUNG_OIDC_ISSUER": "http://sso.example.go.id", "LUMBUNG_OIDC_CLIENT_ID": "a",
                                    "LUMBUNG_OIDC_CLIENT_SECRET": "b"})
    with pytest.raises(SettingsError):
        oidc.OidcSettings.from_env({"LUMBUNG_OIDC_ISSUER": "https://sso.example.go.id", "LUMBUNG_OIDC_CLIENT_ID": "a",
                                    "LUMBUNG_OIDC_CLIENT_SECRET": "b", "LUMBUNG_OIDC_SCOPES": "profile"})


def test_login_state_cookie_is_signed_and_short_lived():
    clock = [1_000_000.0]
    codec = oidc.LoginStateCodec("k" * 40, clock=lambda: clock[0])
    login_state = codec.new("/apps")
    cookie = codec.dump(login_state)
    assert login_state.state not in cookie and login_state.code_verifier not in cookie
    assert codec.load(cookie).state == login_state.state
    with pytest.raises(oidc.SsoBadRequest):
        oidc.LoginStateCodec("other-key" * 5, clock=lambda: clock[0]).load(cookie)
    body, _, signature = cookie.partition(".")
    with pytest.raises(oidc.SsoBadRequest):
        codec.load(body[:-2] + "AA." + signature)
    clock[0] += oidc.LOGIN_STATE_TTL + 1
    with pytest.raises(oidc.SsoBadRequest):
        codec.load(cookie)
