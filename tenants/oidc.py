"""Single sign-on through OpenID Connect: Lumbung as a relying party.

The authorization code flow with PKCE (S256), a confidential client, and an ID token
verified against the provider's published keys. Everything here is inert unless
``LUMBUNG_OIDC_ISSUER`` is set.

Where the login state lives
---------------------------
``state``, ``nonce`` and the PKCE ``code_verifier`` must survive the round trip through
the provider. They are kept in a short-lived cookie, not on the server:

* no table is needed (and no in-memory store, which would break with several workers or
  a restart between the start and the callback);
* the cookie is HMAC-signed with the app's secret key and carries its own issue time,
  so it cannot be forged and is refused after ``LOGIN_STATE_TTL`` seconds even if a
  browser keeps it longer;
* it holds only a random per-login seed (plus the ``next`` path and the time); the
  state, nonce and verifier are derived from the seed with HMAC under the server's key,
  so a leaked cookie reveals none of them;
* it is HttpOnly, ``SameSite=Lax`` (sent on the provider's top-level redirect back, not
  on cross-site sub-requests), limited to ``/login/sso`` and deleted by the callback,
  so each login can be completed once;
* binding the state to a cookie in *this* browser is what stops login CSRF: a callback
  URL made in another browser has no matching cookie.

The cost: two sign-ins started in parallel tabs share the cookie, and the first one to
come back fails with "please try again".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from marketplace.settings import SettingsError
from tenants import audit, identity
from tenants.tables import MEMBER_ROLES, Membership, Tenant, User

log = logging.getLogger("lumbung.oidc")

DISCOVERY_PATH = "/.well-known/openid-configuration"
LOGIN_STATE_COOKIE = "lumbung_sso"
LOGIN_STATE_PATH = "/login/sso"
LOGIN_STATE_TTL = 600  # seconds to come back from the provider
DISCOVERY_TTL = 3600  # seconds the discovery document and the keys are trusted
JWKS_MIN_REFRESH = 60  # an unknown key id refetches the keys at most this often
HTTP_TIMEOUT = 5.0
CLOCK_LEEWAY = 60  # seconds of clock skew allowed on exp / iat / nbf
MAX_TENANT_ENTRIES = 200

# Only asymmetric signatures: "none" and the HMAC family (where the provider's public key
# could be misused as a shared secret) are never accepted, whatever discovery says.
SIGNING_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
_PUBLIC_KEY_TYPES = {"RSA", "EC", "OKP"}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_ROLE_RANK = {role: rank for rank, role in enumerate(reversed(MEMBER_ROLES))}  # admin highest

# User-facing messages (English msgids, translated in the login template).
MSG_RESTART = "The sign-in expired or was not started from this site. Please try again."
MSG_DENIED = "The identity provider did not sign you in."
MSG_CODE_REJECTED = "The identity provider rejected the sign-in code. Please try again."
MSG_TOKEN_INVALID = "The identity token could not be verified."
MSG_TOKEN_EXPIRED = "The identity token has expired. Please try again."
MSG_TOKEN_NOT_FOR_US = "The identity token was not issued for this site."
MSG_NONCE = "The identity token does not belong to this sign-in."
MSG_NO_USERNAME = "The identity provider did not send a usable username."
MSG_DISABLED = "This account is disabled."
MSG_ACCOUNT_EXISTS = (
    "An account with this username already exists. Ask a platform admin to link it to single sign-on."
)
MSG_UNREACHABLE = "The identity provider cannot be reached. Please try again later."
MSG_BAD_ANSWER = "The identity provider sent an answer that cannot be used."


# -- errors ----------------------------------------------------------------------------


class SsoError(Exception):
    """A failed single sign-on. ``message`` is shown to the user; ``detail`` is logged."""

    status_code = 400

    def __init__(self, message: str, detail: str = ""):
        super().__init__(detail or message)
        self.message = message
        self.detail = detail or message


class SsoBadRequest(SsoError):
    """The callback does not belong to a login started here (state, cookie, parameters)."""

    status_code = 400


class SsoRejected(SsoError):
    """The user is not signed in: refused by the provider, or the token does not verify."""

    status_code = 401


class SsoProviderError(SsoError):
    """The provider cannot be reached or answered something unusable."""

    status_code = 502


# -- settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class OidcSettings:
    issuer: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"
    tenants_claim: str = ""
    button_label: str = "Masuk dengan SSO"

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OidcSettings:
        """Read ``LUMBUNG_OIDC_*``; without an issuer the result is disabled and unchecked."""
        env = os.environ if environ is None else environ

        def value(name: str, default: str = "") -> str:
            return (env.get(f"LUMBUNG_OIDC_{name}") or "").strip() or default

        issuer = value("ISSUER")
        if not issuer:
            return cls()
        settings = cls(
            issuer=issuer,
            client_id=value("CLIENT_ID"),
            client_secret=value("CLIENT_SECRET"),
            scopes=" ".join(value("SCOPES", cls.scopes).split()),
            username_claim=value("USERNAME_CLAIM", cls.username_claim),
            tenants_claim=value("TENANTS_CLAIM"),
            button_label=value("BUTTON_LABEL", cls.button_label),
        )
        parts = urlsplit(issuer)
        plain_http_ok = parts.scheme == "http" and parts.hostname in _LOOPBACK  # a provider on this machine
        if (parts.scheme != "https" and not plain_http_ok) or not parts.hostname or parts.query or parts.fragment:
            raise SettingsError(f"LUMBUNG_OIDC_ISSUER must be an https:// URL (http:// only on loopback), got {issuer!r}")
        if not settings.client_id or not settings.client_secret:
            raise SettingsError("LUMBUNG_OIDC_ISSUER needs LUMBUNG_OIDC_CLIENT_ID and LUMBUNG_OIDC_CLIENT_SECRET")
        if "openid" not in settings.scopes.split():
            raise SettingsError(f"LUMBUNG_OIDC_SCOPES must include 'openid', got {settings.scopes!r}")
        return settings


# -- the signed login-state cookie -----------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LoginState:
    """One login in progress. Only ``seed``, ``next_path`` and ``issued_at`` are stored."""

    seed: str
    next_path: str
    issued_at: int
    key: bytes = field(repr=False)

    def _derive(self, purpose: str) -> str:
        return _b64(hmac.new(self.key, f"{purpose}:{self.seed}".encode(), hashlib.sha256).digest())

    @property
    def state(self) -> str:
        return self._derive("state")

    @property
    def nonce(self) -> str:
        return self._derive("nonce")

    @property
    def code_verifier(self) -> str:
        return self._derive("pkce")  # 43 characters of [A-Za-z0-9_-], as RFC 7636 asks


class LoginStateCodec:
    """Signs and checks the login-state cookie with a key derived from the app's secret."""

    def __init__(self, secret_key: str, *, ttl: int = LOGIN_STATE_TTL, clock: Callable[[], float] = time.time):
        self.key = hmac.new(secret_key.encode(), b"lumbung-oidc-login-state-v1", hashlib.sha256).digest()
        self.ttl = ttl
        self.clock = clock

    def new(self, next_path: str) -> LoginState:
        return LoginState(secrets.token_urlsafe(32), next_path, int(self.clock()), self.key)

    def dump(self, login: LoginState) -> str:
        body = _b64(json.dumps({"s": login.seed, "n": login.next_path, "t": login.issued_at}, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def load(self, cookie: str | None) -> LoginState:
        if not cookie or len(cookie) > 2000 or "." not in cookie:
            raise SsoBadRequest(MSG_RESTART, "no login-state cookie")
        body, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            raise SsoBadRequest(MSG_RESTART, "login-state cookie with a bad signature")
        try:
            data = json.loads(_unb64(body))
            seed, next_path, issued_at = str(data["s"]), str(data["n"]), int(data["t"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SsoBadRequest(MSG_RESTART, "unreadable login-state cookie") from exc
        age = self.clock() - issued_at
        if age > self.ttl or age < -CLOCK_LEEWAY:
            raise SsoBadRequest(MSG_RESTART, f"login-state cookie is {age:.0f}s old")
        return LoginState(seed, next_path, issued_at, self.key)

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())


# -- the provider ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderMetadata:
    """What Lumbung uses from the discovery document, checked."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_method: str
    signing_algorithms: tuple[str, ...]

    @classmethod
    def from_document(cls, doc: Any, configured_issuer: str) -> ProviderMetadata:
        if not isinstance(doc, dict):
            raise SsoProviderError(MSG_BAD_ANSWER, "the discovery document is not a JSON object")
        issuer = doc.get("issuer")
        # OpenID Connect Discovery 1.0 §4.3: the issuer must be the one we asked about.
        if not isinstance(issuer, str) or issuer.rstrip("/") != configured_issuer.rstrip("/"):
            raise SsoProviderError(MSG_BAD_ANSWER, f"discovery names issuer {issuer!r}, expected {configured_issuer!r}")
        secure = urlsplit(configured_issuer).scheme == "https"
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            url = doc.get(name)
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or not parts.hostname or parts.scheme not in ({"https"} if secure else {"https", "http"}):
                raise SsoProviderError(MSG_BAD_ANSWER, f"discovery has no usable {name}: {url!r}")
            endpoints[name] = url
        methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = next((m for m in ("client_secret_basic", "client_secret_post") if m in methods), None)
        if method is None:
            raise SsoProviderError(MSG_BAD_ANSWER, f"the token endpoint supports none of our client auth methods: {methods!r}")
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in SIGNING_ALGORITHMS if a in offered)
        if not algorithms:
            raise SsoProviderError(MSG_BAD_ANSWER, f"the provider signs ID tokens only with {offered!r}")
        return cls(issuer=issuer, token_auth_method=method, signing_algorithms=algorithms, **endpoints)


@dataclass
class _Cached:
    value: Any
    expires_at: float


class OidcClient:
    """Talks to one OpenID provider: discovery, the authorization URL, code exchange, ID token checks.

    Discovery and the key set are cached for ``DISCOVERY_TTL`` seconds; a failed fetch is
    not cached, so the next login tries again.
    """

    def __init__(
        self,
        settings: OidcSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self._metadata: _Cached | None = None
        self._jwks: _Cached | None = None
        self._jwks_fetched_at = 0.0

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False, transport=self.transport)

    async def _get_json(self, http: httpx.AsyncClient, url: str, what: str) -> Any:
        try:
            response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SsoProviderError(MSG_UNREACHABLE, f"{what} at {url}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code != 200:
            raise SsoProviderError(MSG_UNREACHABLE if response.status_code >= 500 else MSG_BAD_ANSWER,
                                   f"{what} at {url} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise SsoProviderError(MSG_BAD_ANSWER, f"{what} at {url} is not JSON") from exc

    async def metadata(self, http: httpx.AsyncClient) -> ProviderMetadata:
        now = self.clock()
        if self._metadata is None or self._metadata.expires_at <= now:
            url = self.settings.issuer.rstrip("/") + DISCOVERY_PATH
            doc = await self._get_json(http, url, "the discovery document")
            self._metadata = _Cached(ProviderMetadata.from_document(doc, self.settings.issuer), now + DISCOVERY_TTL)
        return self._metadata.value

    async def key_set(self, http: httpx.AsyncClient, metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        now = self.clock()
        if self._jwks is None or self._jwks.expires_at <= now or refresh:
            doc = await self._get_json(http, metadata.jwks_uri, "the key set")
            keys = doc.get("keys") if isinstance(doc, dict) else None
            if not isinstance(keys, list):
                raise SsoProviderError(MSG_BAD_ANSWER, "the key set has no 'keys' list")
            # Public signing keys only: a symmetric ("oct") key in a JWKS is never trusted.
            usable = [
                k for k in keys
                if isinstance(k, dict) and k.get("kty") in _PUBLIC_KEY_TYPES and k.get("use", "sig") == "sig" and "d" not in k
            ]
            try:
                key_set = KeySet.import_key_set({"keys": usable})
            except (JoseError, ValueError, TypeError) as exc:
                raise SsoProviderError(MSG_BAD_ANSWER, f"the key set cannot be read: {exc}") from exc
            self._jwks = _Cached(key_set, now + DISCOVERY_TTL)
            self._jwks_fetched_at = now
        return self._jwks.value

    # -- the two legs of the flow ------------------------------------------------------

    async def authorization_url(self, login: LoginState, redirect_uri: str) -> str:
        async with self._http() as http:
            metadata = await self.metadata(http)
        return add_params_to_uri(
            metadata.authorization_endpoint,
            [
                ("response_type", "code"),
                ("client_id", self.settings.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", self.settings.scopes),
                ("state", login.state),
                ("nonce", login.nonce),
                ("code_challenge", create_s256_code_challenge(login.code_verifier)),
                ("code_challenge_method", "S256"),
            ],
        )

    async def finish(self, query: Mapping[str, str], login: LoginState, redirect_uri: str) -> dict[str, Any]:
        """Check the callback's parameters, exchange the code and return the verified ID token claims."""
        state = query.get("state") or ""
        if not hmac.compare_digest(state.encode(), login.state.encode()):
            raise SsoBadRequest(MSG_RESTART, "the state does not match the login-state cookie")
        error = query.get("error")
        if error:
            detail = f"the provider answered error={error!r}: {(query.get('error_description') or '')[:300]!r}"
            if error in {"server_error", "temporarily_unavailable"}:
                raise SsoProviderError(MSG_UNREACHABLE, detail)
            raise SsoRejected(MSG_DENIED, detail)
        code = query.get("code")
        if not code or len(code) > 2000:
            raise SsoBadRequest(MSG_RESTART, "the callback has no code")
        async with self._http() as http:
            metadata = await self.metadata(http)
            tokens = await self._exchange(http, metadata, code, login, redirect_uri)
            return await self._verify(http, metadata, tokens, login)

    async def _exchange(
        self, http: httpx.AsyncClient, metadata: ProviderMetadata, code: str, login: LoginState, redirect_uri: str
    ) -> dict[str, Any]:
        form = httpx.QueryParams(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": login.code_verifier,
            }
        )
        auth = ClientAuth(self.settings.client_id, self.settings.client_secret, metadata.token_auth_method)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        url, headers, body = auth.prepare("POST", metadata.token_endpoint, headers, str(form))
        try:
            response = await http.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise SsoProviderError(MSG_UNREACHABLE, f"the token endpoint: {exc.__class__.__name__}: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SsoProviderError(MSG_BAD_ANSWER, f"the token endpoint answered HTTP {response.status_code} without JSON")
        if response.status_code != 200 or "error" in answer:
            detail = f"the token endpoint answered HTTP {response.status_code}: {str(answer.get('error'))[:100]!r} {str(answer.get('error_description') or '')[:300]!r}"
            if answer.get("error") == "invalid_grant":  # expired, already used, or PKCE mismatch
                raise SsoRejected(MSG_CODE_REJECTED, detail)
            raise SsoProviderError(MSG_BAD_ANSWER, detail)
        if not isinstance(answer.get("id_token"), str):
            raise SsoProviderError(MSG_BAD_ANSWER, "the token response has no id_token")
        return answer

    async def _verify(
        self, http: httpx.AsyncClient, metadata: ProviderMetadata, tokens: dict[str, Any], login: LoginState
    ) -> dict[str, Any]:
        raw = tokens["id_token"]
        keys = await self.key_set(http, metadata)
        try:
            try:
                token = jwt.decode(raw, keys, algorithms=list(metadata.signing_algorithms))
            except InvalidKeyIdError:
                # The provider may have rotated its keys since we cached them.
                if self.clock() - self._jwks_fetched_at < JWKS_MIN_REFRESH:
                    raise
                keys = await self.key_set(http, metadata, refresh=True)
                token = jwt.decode(raw, keys, algorithms=list(metadata.signing_algorithms))
        except (JoseError, ValueError) as exc:
            raise SsoRejected(MSG_TOKEN_INVALID, f"ID token signature: {exc.__class__.__name__}: {exc}") from exc

        claims = CodeIDToken(
            token.claims,
            token.header,
            options={
                "iss": {"essential": True, "value": metadata.issuer},
                "aud": {"essential": True, "value": self.settings.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
                "nonce": {"essential": True},
            },
            params={"nonce": login.nonce, "client_id": self.settings.client_id, "access_token": tokens.get("access_token")},
        )
        try:
            claims.validate(now=int(self.clock()), leeway=CLOCK_LEEWAY)
        except ExpiredTokenError as exc:
            raise SsoRejected(MSG_TOKEN_EXPIRED, "the ID token has expired") from exc
        except ClaimError as exc:
            name = exc.claim.split(",")[0]
            message = {"nonce": MSG_NONCE, "iss": MSG_TOKEN_NOT_FOR_US, "aud": MSG_TOKEN_NOT_FOR_US, "azp": MSG_TOKEN_NOT_FOR_US}
            raise SsoRejected(message.get(name, MSG_TOKEN_INVALID), f"ID token claim: {exc.description}") from exc
        except JoseError as exc:
            raise SsoRejected(MSG_TOKEN_INVALID, f"ID token: {exc.__class__.__name__}: {exc}") from exc
        return dict(claims)


# -- from claims to a Lumbung account --------------------------------------------------


@dataclass(frozen=True)
class SsoProfile:
    issuer: str
    subject: str
    username: str
    display_name: str
    email: str
    tenant_roles: dict[str, str]  # tenant slug -> role


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def profile_from_claims(settings: OidcSettings, claims: Mapping[str, Any]) -> SsoProfile:
    raw = claims.get(settings.username_claim)
    username = raw.strip().lower() if isinstance(raw, str) else ""
    if not identity.USERNAME_RE.match(username) or len(username) > 80:
        raise SsoRejected(MSG_NO_USERNAME, f"claim {settings.username_claim!r} is {raw!r}, not a valid username")
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    email = claims.get("email")
    email = email.strip() if isinstance(email, str) and _EMAIL_RE.match(email.strip()) and len(email) <= 254 else ""
    roles = _tenant_roles(username, claims.get(settings.tenants_claim)) if settings.tenants_claim else {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SsoRejected(MSG_BAD_ANSWER, "the ID token has no usable subject")
    return SsoProfile(issuer=settings.issuer, subject=subject, username=username, display_name=name.strip()[:200], email=email, tenant_roles=roles)


def _tenant_roles(username: str, value: Any) -> dict[str, str]:
    """Parse "<tenant-slug>:<role>" entries; the strongest role wins when a tenant repeats."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        if value is not None:
            log.warning("SSO user %s: the tenants claim is a %s, not a list; ignored", username, type(value).__name__)
        return {}
    roles: dict[str, str] = {}
    for entry in value[:MAX_TENANT_ENTRIES]:
        slug, sep, role = entry.strip().rpartition(":") if isinstance(entry, str) else ("", "", "")
        if not sep or not slug or role not in MEMBER_ROLES:
            log.warning("SSO user %s: ignoring tenants claim entry %r (expected '<tenant>:<%s>')", username, entry, "|".join(MEMBER_ROLES))
            continue
        if slug not in roles or _ROLE_RANK[role] > _ROLE_RANK[roles[slug]]:
            roles[slug] = role
    return roles


async def user_for_profile(profile: SsoProfile) -> User:
    """Find the account bound to the provider's subject, or create one; refresh its profile
    and apply the tenant roles.

    An account is found by (issuer, subject), never by username alone: a provider user whose
    username matches an existing local account is refused until a platform admin links the
    two (`marketplace link-sso`), so nobody at the provider can take over a local account.
    New accounts get an empty password hash: they cannot sign in with a password. Tenant
    roles from the claim are added or updated; memberships it does not mention are left alone.
    """
    bound = (User.sso_issuer == profile.issuer) & (User.sso_subject == profile.subject)
    user = await User.objects().where(bound).first()
    if user is None:
        if await User.exists().where(User.username == profile.username):
            raise SsoRejected(MSG_ACCOUNT_EXISTS, f"{profile.username} exists and is not linked to {profile.subject!r}")
        user = User(
            username=profile.username,
            password_hash="",  # verify_password() never matches an empty hash
            display_name=profile.display_name or profile.username,
            email=profile.email,
            sso_issuer=profile.issuer,
            sso_subject=profile.subject,
        )
        try:
            await user.save()
        except Exception:  # a parallel first sign-in created it (unique username)
            user = await User.objects().where(bound).first()
            if user is None:
                raise SsoRejected(MSG_ACCOUNT_EXISTS, f"{profile.username} was taken meanwhile") from None
        else:
            log.info("SSO created the account %s", profile.username)
    if not user.is_active:
        raise SsoRejected(MSG_DISABLED, f"the account {user.username} is disabled")
    changed = []
    if profile.display_name and user.display_name != profile.display_name:
        user.display_name = profile.display_name
        changed.append(User.display_name)
    if profile.email and user.email != profile.email:
        user.email = profile.email
        changed.append(User.email)
    if changed:
        await user.save(changed)
    if profile.tenant_roles:
        await _apply_tenant_roles(user, profile.tenant_roles)
    return user


async def _apply_tenant_roles(user: User, roles: dict[str, str]) -> None:
    tenants = {t.slug: t for t in await Tenant.objects().where(Tenant.slug.is_in(list(roles)))}
    current = {
        row["tenant"]: row["role"]
        for row in await Membership.select(Membership.tenant, Membership.role).where(Membership.user == user.id)
    }
    for slug, role in roles.items():
        tenant = tenants.get(slug)
        if tenant is None:
            log.warning("SSO user %s: ignoring role %s in unknown tenant %r", user.username, role, slug)
            continue
        before = current.get(tenant.id)
        if before == role:
            continue
        await identity.add_membership(user, tenant, role)
        await audit.record(
            "member.added" if before is None else "member.role_changed",
            actor_id=user.id,
            actor_name=user.username,
            tenant_id=tenant.id,
            subject_tenant_id=tenant.id,
            object_type="user",
            object_id=user.username,
            detail={"role": role, "previous_role": before, "via": "sso"},
        )


async def sign_in(settings: OidcSettings, claims: Mapping[str, Any], *, ttl_seconds: int) -> tuple[User, str]:
    """Verified ID token claims to a signed-in account: returns the user and the session cookie value."""
    user = await user_for_profile(profile_from_claims(settings, claims))
    secret = await identity.start_session(user, ttl_seconds=ttl_seconds, ip_address=audit.client_address.get())
    await audit.record(
        "auth.sign_in", actor_id=user.id, actor_name=user.username, object_type="user", object_id=user.username,
        detail={"method": "sso", "issuer": settings.issuer},
    )
    return user, secret
