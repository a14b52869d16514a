"""Who may call what: every route of the app, with every kind of caller.

The table below is checked against the app's own route table: a route that is added
without a row here fails `test_every_route_is_in_the_matrix`. Each (route, caller) pair runs
on a fresh database with the same small world: Kota Surabaya publishes e-perizinan (1.0.0
approved, 0.9.0 yanked, 1.1.0 waiting for review) and a draft app no one else may see;
Kota Bandung is another publishing tenant.

Outcomes: "ok" (the call is served: 2xx, a redirect other than to the login page, or a
409/422 about the data), "login" (pages: redirect to sign in), 401, 403 and 404 (what
another tenant owns answers like what does not exist).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.handlers.http_handlers import HTTPRouteHandler

from catalog.services import Submission
from marketplace.app import create_app
from marketplace.settings import get_settings
from provisioning.config import ConfigCipher
from provisioning.services import ProvisioningService
from tenants import identity
from tenants.auth import access_rule
from tenants.passwords import hash_password
from tenants.principal import SCOPES
from tenants.tables import ApiToken, Membership, Tenant, User
from tests.conftest import manifest_doc

ACTORS = ("anonymous", "viewer", "operator", "admin", "other_admin", "curator", "platform_admin")
API_ONLY_ACTORS = ("revoked_token", "expired_token", "read_only_token")
ALL_SCOPES = sorted(SCOPES)
_HASH = hash_password("matrix-password-123")

EVERYONE = {a: "ok" for a in ACTORS}
SIGNED_IN = {**EVERYONE, "anonymous": "login"}
API_SIGNED_IN = {**EVERYONE, "anonymous": 401}
PUBLISHERS = {**SIGNED_IN, "viewer": 403, "curator": 403, "platform_admin": 403}
CURATORS = {a: 403 for a in ACTORS} | {"anonymous": "login", "curator": "ok"}
SURABAYA_ADMINS = {"anonymous": "login", "viewer": 403, "operator": 403, "admin": "ok", "other_admin": 404,
                   "curator": 404, "platform_admin": "ok"}
OPERATORS = {"anonymous": "login", "viewer": 403, "operator": "ok", "admin": "ok", "other_admin": 404, "curator": 404, "platform_admin": 404}
PLATFORM_ADMINS = {a: 403 for a in ACTORS} | {"anonymous": "login", "platform_admin": "ok"}
STATS_READERS = {a: 403 for a in ACTORS} | {"anonymous": "login", "platform_admin": "ok"}
SURABAYA_MEMBERS = {"anonymous": "login", "viewer": "ok", "operator": "ok", "admin": "ok", "other_admin": 404,
                    "curator": 404, "platform_admin": "ok"}
AUDIT_READERS = {"anonymous": "login", "viewer": 403, "operator": 403, "admin": "ok", "other_admin": "ok",
                 "curator": 403, "platform_admin": "ok"}


def api(expect: dict[str, Any]) -> dict[str, Any]:
    """API calls: no cookie, a bearer token; anonymous and bad tokens answer 401."""
    out = {a: (401 if v == "login" else v) for a, v in expect.items()}
    return {**out, "revoked_token": 401, "expired_token": 401}


# (method, route path as the app declares it) -> (path to call, body, expected outcome per actor)
MATRIX: dict[tuple[str, str], tuple[str, dict[str, Any] | None, dict[str, Any]]] = {
    ("GET", "/healthz"): ("/healthz", None, EVERYONE),
    ("GET", "/api/v1/health"): ("/api/v1/health", None, {**EVERYONE, "revoked_token": 401, "expired_token": 401}),
    ("GET", "/login"): ("/login", None, EVERYONE),
    ("POST", "/login"): ("/login", {"username": "nobody", "password": "wrong-password"}, {a: 401 for a in ACTORS}),
    ("POST", "/logout"): ("/logout", {}, {a: "login" for a in ACTORS}),  # back to the sign-in page
    ("GET", "/lang/{code:str}"): ("/lang/en?next=/", None, EVERYONE),
    ("GET", "/static/{file_path:path}"): ("/static/lumbung.css", None, EVERYONE),
    ("GET", "/login/sso"): ("/login/sso", None, {a: 404 for a in ACTORS}),  # SSO is not configured here
    ("GET", "/login/sso/callback"): ("/login/sso/callback?code=x&state=y", None, {a: 404 for a in ACTORS}),
    ("GET", "/"): ("/", None, SIGNED_IN),
    ("GET", "/apps/{slug:str}"): ("/apps/e-perizinan", None, SIGNED_IN),
    ("GET", "/publish"): ("/publish", None, PUBLISHERS),
    ("POST", "/publish"): ("/publish", {"version": "9.9.9"}, PUBLISHERS),
    ("GET", "/my/apps"): ("/my/apps", None, PUBLISHERS),
    ("GET", "/review"): ("/review", None, CURATORS),
    ("POST", "/review/{slug:str}/{version:str}/{action:str}"): ("/review/e-perizinan/1.1.0/approve", {}, CURATORS),
    ("GET", "/account/tokens"): ("/account/tokens", None, SIGNED_IN),
    ("POST", "/account/tokens"): ("/account/tokens", {"name": "ci", "scopes": "catalog:read"}, SIGNED_IN),
    ("POST", "/account/tokens/{token_id:int}/revoke"): (
        "/account/tokens/{admin_token}/revoke", {},
        {**{a: 404 for a in ACTORS}, "anonymous": "login", "admin": "ok"},
    ),
    ("GET", "/tenants/{slug:str}"): ("/tenants/kota-surabaya", None, SIGNED_IN),
    ("GET", "/tenants/{slug:str}/members"): ("/tenants/kota-surabaya/members", None, SURABAYA_ADMINS),
    ("POST", "/tenants/{slug:str}/members"): (
        "/tenants/kota-surabaya/members", {"username": "outsider", "role": "viewer"}, SURABAYA_ADMINS,
    ),
    ("POST", "/tenants/{slug:str}/members/{username:str}/role"): (
        "/tenants/kota-surabaya/members/op-surabaya/role", {"role": "viewer"}, SURABAYA_ADMINS,
    ),
    ("POST", "/tenants/{slug:str}/members/{username:str}/remove"): (
        "/tenants/kota-surabaya/members/op-surabaya/remove", {}, SURABAYA_ADMINS,
    ),
    ("POST", "/session/tenant"): (
        "/session/tenant", {"tenant": "kota-surabaya", "next": "/"},
        {**{a: "ok" for a in ACTORS}, "anonymous": "login", "other_admin": 404, "curator": 404, "platform_admin": 404},
    ),
    ("GET", "/apps/{slug:str}/adopt"): ("/apps/e-perizinan/adopt", None, SIGNED_IN),
    ("POST", "/apps/{slug:str}/adopt"): (
        "/apps/e-perizinan/adopt", {"tenant": "kota-surabaya", "version": "1.0.0"},
        {"anonymous": "login", "viewer": 403, "operator": "ok", "admin": "ok", "other_admin": 404, "curator": 404,
         "platform_admin": 404},
    ),
    ("GET", "/jobs/{job_id:int}"): ("/jobs/{job}", None, {**SIGNED_IN, "other_admin": 404, "curator": 404}),
    ("GET", "/tenants/{slug:str}/installations"): (
        "/tenants/kota-surabaya/installations", None, {**SIGNED_IN, "other_admin": 404, "curator": 404},
    ),
    ("POST", "/installations/{installation_id:int}/{action:str}"): ("/installations/{inst}/stop", {}, OPERATORS),
    ("POST", "/installations/{installation_id:int}/upgrade"): ("/installations/{inst}/upgrade", {"version": "0.9.0"}, OPERATORS),
    ("POST", "/installations/{installation_id:int}/rollback"): ("/installations/{inst}/rollback", {}, OPERATORS),
    ("GET", "/installations/{installation_id:int}/settings"): ("/installations/{inst}/settings", None, OPERATORS),
    ("POST", "/installations/{installation_id:int}/settings"): (
        "/installations/{inst}/settings", {"update_policy": "auto-patch"}, OPERATORS,
    ),
    ("GET", "/installations/{installation_id:int}/data.tar"): ("/installations/{inst}/data.tar", None, OPERATORS),
    ("GET", "/installations/{installation_id:int}/logs"): (
        "/installations/{inst}/logs", None, {**SIGNED_IN, "other_admin": 404, "curator": 404},
    ),
    ("GET", "/admin/tenants"): ("/admin/tenants", None, PLATFORM_ADMINS),
    ("POST", "/admin/tenants/{slug:str}"): (
        "/admin/tenants/kota-bandung", {"publishes": "on", "max_installations": "5", "max_memory_mib": "2048"}, PLATFORM_ADMINS,
    ),
    ("GET", "/admin/users"): ("/admin/users", None, PLATFORM_ADMINS),
    ("POST", "/admin/users/{username:str}/roles"): ("/admin/users/bandung/roles", {"curator": "on"}, PLATFORM_ADMINS),
    ("GET", "/audit"): ("/audit", None, AUDIT_READERS),
    ("GET", "/audit.csv"): ("/audit.csv", None, AUDIT_READERS),
    # The JSON API
    ("GET", "/api/v1/me"): ("/api/v1/me", None, api(API_SIGNED_IN)),
    ("GET", "/api/v1/categories"): ("/api/v1/categories", None, api(API_SIGNED_IN)),
    ("GET", "/api/v1/apps"): ("/api/v1/apps", None, api(API_SIGNED_IN)),
    ("GET", "/api/v1/apps/{slug:str}"): ("/api/v1/apps/e-perizinan", None, api(API_SIGNED_IN)),
    ("GET", "/api/v1/apps/{slug:str}/versions"): ("/api/v1/apps/e-perizinan/versions", None, api(API_SIGNED_IN)),
    ("GET", "/api/v1/apps/{slug:str}/versions/{version:str}"): (
        "/api/v1/apps/e-perizinan/versions/1.0.0", None, api(API_SIGNED_IN),
    ),
    ("POST", "/api/v1/apps/{slug:str}/versions"): (
        "/api/v1/apps/e-perizinan/versions", "bundle",
        api({**PUBLISHERS, "other_admin": 403}),
    ),
    ("GET", "/api/v1/review/queue"): ("/api/v1/review/queue", None, api(CURATORS)),
    ("POST", "/api/v1/apps/{slug:str}/versions/{version:str}/approve"): (
        "/api/v1/apps/e-perizinan/versions/1.1.0/approve", None, api(CURATORS),
    ),
    ("POST", "/api/v1/apps/{slug:str}/versions/{version:str}/reject"): (
        "/api/v1/apps/e-perizinan/versions/1.1.0/reject", {"reason": "incomplete"}, api(CURATORS),
    ),
    ("POST", "/api/v1/apps/{slug:str}/versions/{version:str}/yank"): (
        "/api/v1/apps/e-perizinan/versions/1.0.0/yank", {"reason": "bug"}, api(CURATORS),
    ),
    ("POST", "/api/v1/tenants/{tenant:str}/installations"): (
        "/api/v1/tenants/kota-surabaya/installations", {"app": "e-perizinan", "version": "1.0.0", "config": {}},
        api({"anonymous": 401, "viewer": 403, "operator": "ok", "admin": "ok", "other_admin": 404, "curator": 404,
             "platform_admin": 404}),
    ),
    ("GET", "/api/v1/tenants/{tenant:str}/installations"): (
        "/api/v1/tenants/kota-surabaya/installations", None,
        api({**API_SIGNED_IN, "other_admin": 404, "curator": 404}),
    ),
    ("POST", "/api/v1/installations/{installation_id:int}/{action:str}"): (
        "/api/v1/installations/{inst}/stop", None, api(OPERATORS),
    ),
    ("GET", "/api/v1/installations/{installation_id:int}/logs"): (
        "/api/v1/installations/{inst}/logs", None, api({**API_SIGNED_IN, "other_admin": 404, "curator": 404}),
    ),
    ("POST", "/api/v1/installations/{installation_id:int}/upgrade"): (
        "/api/v1/installations/{inst}/upgrade", {"version": "0.9.0"}, api(OPERATORS),
    ),
    ("POST", "/api/v1/installations/{installation_id:int}/rollback"): (
        "/api/v1/installations/{inst}/rollback", None, api(OPERATORS),
    ),
    ("PATCH", "/api/v1/installations/{installation_id:int}"): (
        "/api/v1/installations/{inst}", {"update_policy": "auto-patch"}, api(OPERATORS),
    ),
    ("GET", "/api/v1/installations/{installation_id:int}/data.tar"): (
        "/api/v1/installations/{inst}/data.tar", None, api(OPERATORS),
    ),
    ("GET", "/api/v1/jobs/{job_id:int}"): (
        "/api/v1/jobs/{job}", None, api({**API_SIGNED_IN, "other_admin": 404, "curator": 404}),
    ),
    ("POST", "/api/v1/apps/{slug:str}/versions/{version:str}/unyank"): (
        "/api/v1/apps/e-perizinan/versions/0.9.0/unyank", None, api(CURATORS),
    ),
    # Adoption statistics: cross-region tables for Kominfo staff and platform admins only; a
    # region's own page for its members; the public per-app counts for everyone signed in.
    ("GET", "/stats"): ("/stats", None, SIGNED_IN),
    ("GET", "/stats/regions/{slug:str}"): ("/stats/regions/kota-surabaya", None, SURABAYA_MEMBERS),
    ("GET", "/stats/publishers/{slug:str}"): ("/stats/publishers/kota-surabaya", None, SURABAYA_MEMBERS),
    ("GET", "/stats/export/{table:str}"): ("/stats/export/provinces", None, STATS_READERS),
    ("GET", "/api/v1/stats/summary"): ("/api/v1/stats/summary", None, api(STATS_READERS)),
    ("GET", "/api/v1/stats/apps"): ("/api/v1/stats/apps", None, api(API_SIGNED_IN)),
    ("GET", "/api/v1/stats/categories"): ("/api/v1/stats/categories", None, api(STATS_READERS)),
    ("GET", "/api/v1/stats/provinces"): ("/api/v1/stats/provinces?province=Jawa%20Timur", None, api(STATS_READERS)),
    ("GET", "/api/v1/stats/months"): ("/api/v1/stats/months?from=2026-01", None, api(STATS_READERS)),
    ("GET", "/api/v1/stats/freshness"): ("/api/v1/stats/freshness", None, api(STATS_READERS)),
    ("GET", "/api/v1/stats/publishers"): ("/api/v1/stats/publishers", None, api(STATS_READERS)),
    ("GET", "/api/v1/stats/regions/{slug:str}"): ("/api/v1/stats/regions/kota-surabaya", None, api(SURABAYA_MEMBERS)),
    ("GET", "/api/v1/stats/publishers/{slug:str}"): (
        "/api/v1/stats/publishers/kota-surabaya", None, api(SURABAYA_MEMBERS),
    ),
    # Operators' metrics need LUMBUNG_METRICS_TOKEN; unset (as here) the route does not exist.
    ("GET", "/metrics"): ("/metrics", None, {a: 404 for a in ACTORS}),
}

# Routes of the OpenAPI documentation are public by design and carry no data.
PUBLIC_PREFIXES = ("/api/v1/schema",)

# What only the owner tenant may see, probed directly: the other tenant must get 404.
HIDDEN_FROM_OTHERS = [
    ("/apps/draft-app", "page"),
    ("/api/v1/apps/draft-app", "api"),
    ("/api/v1/apps/draft-app/versions/0.1.0", "api"),
    ("/tenants/kota-surabaya/members", "page"),
]


def app_routes() -> dict[tuple[str, str], str | None]:
    """(method, path) -> the access rule the handler declares."""
    app = create_app(get_settings())
    found = {}
    for route in app.routes:
        if route.path.startswith(PUBLIC_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                    found[(method, route.path)] = access_rule(handler)
    return found


ROUTE_RULES = app_routes()


def test_every_route_is_in_the_matrix() -> None:
    routes = set(ROUTE_RULES)
    assert sorted(routes - set(MATRIX)) == [], "new routes need a row in MATRIX"
    assert sorted(set(MATRIX) - routes) == [], "MATRIX names routes the app no longer has"


async def _user(username: str, tenant: Tenant | None, role: str | None, **flags: bool) -> User:
    user = User(username=username, display_name=username, password_hash=_HASH, **flags)
    await user.save()
    if tenant is not None and role is not None:
        await Membership(user=user.id, tenant=tenant.id, role=role).save()
    return user


async def _world(catalog: Any, make_bundle: Any) -> dict[str, Any]:
    surabaya = Tenant(slug="kota-surabaya", name="Pemerintah Kota Surabaya", kind="kota", province="Jawa Timur", publishes=True)
    bandung = Tenant(slug="kota-bandung", name="Pemerintah Kota Bandung", kind="kota", province="Jawa Barat", publishes=True)
    kominfo = Tenant(slug="kominfo", name="Kementerian Komunikasi dan Digital", kind="kementerian")
    for t in (surabaya, bandung, kominfo):
        await t.save()
    users = {
        "viewer": await _user("viewer-surabaya", surabaya, "viewer"),
        "operator": await _user("op-surabaya", surabaya, "operator"),
        "admin": await _user("surabaya", surabaya, "admin"),
        "other_admin": await _user("bandung", bandung, "admin"),
        "curator": await _user("kurator", kominfo, "viewer", is_curator=True),
        "platform_admin": await _user("platform", None, None, is_platform_admin=True),
    }
    await _user("outsider", None, None)
    admin = await identity.principal_for_user(users["admin"].id)
    curator = await identity.principal_for_user(users["curator"].id)
    for version in ("0.9.0", "1.0.0", "1.1.0"):
        bundle = make_bundle(manifest_doc(version=version))
        await catalog.submit_version(admin, Submission(version=version, changelog="", bundle_path=bundle, app_slug="e-perizinan"))
    await catalog.approve(curator, "e-perizinan", "0.9.0")
    await catalog.approve(curator, "e-perizinan", "1.0.0")
    await catalog.yank(curator, "e-perizinan", "0.9.0", "old")
    draft = make_bundle(manifest_doc(slug="draft-app", version="0.1.0"))
    await catalog.submit_version(admin, Submission(version="0.1.0", changelog="", bundle_path=draft, app_slug="draft-app"))
    admin_token = await identity.issue_token(users["admin"].id, "mine", ["catalog:read"])
    adoption = await ProvisioningService(ConfigCipher("matrix-secret-key-0123456789abcdef")).adopt(
        admin, "kota-surabaya", "e-perizinan", "1.0.0", {}
    )
    return {"users": users, "admin_token": admin_token.id, "job": adoption.job_id, "installation": adoption.installation_id}


async def _credentials(actor: str, world: dict[str, Any], api: bool) -> dict[str, str]:
    """Headers (API) or a session cookie (pages) for one kind of caller."""
    users = world["users"]
    if actor == "anonymous":
        return {}
    if api:
        if actor in API_ONLY_ACTORS:
            issued = await identity.issue_token(users["admin"].id, actor, ["catalog:read"] if actor == "read_only_token" else ALL_SCOPES)
            if actor == "revoked_token":
                await identity.revoke_token(users["admin"].id, issued.id)
            if actor == "expired_token":
                await ApiToken.update({ApiToken.expires_at: identity.now() - timedelta(minutes=1)}).where(ApiToken.id == issued.id)
            return {"Authorization": f"Bearer {issued.secret}"}
        issued = await identity.issue_token(users[actor].id, "matrix", ALL_SCOPES)
        return {"Authorization": f"Bearer {issued.secret}"}
    secret = await identity.start_session(users[actor], ttl_seconds=600)
    return {"session": secret}


def _outcome(response: Any) -> Any:
    if response.status_code in (401, 403, 404):
        return response.status_code
    if response.status_code in (302, 303) and response.headers.get("location", "").startswith("/login"):
        return "login"
    if response.status_code >= 500:
        return response.status_code
    return "ok"


def _cases() -> list[Any]:
    cases = []
    for (method, route), (_path, _body, expect) in MATRIX.items():
        for actor in (*ACTORS, *(API_ONLY_ACTORS if route.startswith("/api/") else ())):
            if actor in expect or actor in API_ONLY_ACTORS:
                cases.append(pytest.param(method, route, actor, id=f"{method} {route} as {actor}"))
    return cases


@pytest.mark.parametrize(("method", "route", "actor"), _cases())
async def test_route_answers_each_caller_as_declared(client, catalog_service, make_bundle, method, route, actor):
    path, body, expect = MATRIX[(method, route)]
    world = await _world(catalog_service, make_bundle)
    path = path.replace("{admin_token}", str(world["admin_token"])).replace("{job}", str(world["job"]))
    path = path.replace("{inst}", str(world["installation"]))
    is_api = route.startswith("/api/")
    headers = await _credentials(actor, world, is_api)
    if "session" in headers:
        client.cookies.set("lumbung_session", headers.pop("session"))
    if actor == "read_only_token":
        # Surabaya's admin's token with catalog:read only: reads as the admin would, and is
        # refused wherever a route needs the apps:publish, catalog:review or stats:read scope.
        expected: Any = 403 if ROUTE_RULES[(method, route)] in ("publisher", "curator", "installer", "stats") else expect["admin"]
    else:
        expected = expect[actor]

    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if method in ("POST", "PATCH"):
        if body == "bundle":
            bundle = make_bundle(manifest_doc(version="2.0.0"))
            kwargs["data"] = {"version": "2.0.0"}
            kwargs["files"] = {"bundle": (bundle.name, bundle.read_bytes(), "application/gzip")}
        elif is_api:
            if body is not None:
                kwargs["json"] = body
        else:
            kwargs["data"] = {**(body or {}), "_csrf_token": await _csrf(client, headers)}
            kwargs["headers"] = {**headers, "x-csrftoken": kwargs["data"]["_csrf_token"]}
    response = await client.request(method, path, **kwargs)
    assert _outcome(response) == expected, (response.status_code, response.text[:300])


async def _csrf(client: Any, headers: dict[str, str]) -> str:
    await client.get("/login", headers=headers, follow_redirects=False)
    return client.cookies.get("lumbung_csrf", "")


@pytest.mark.parametrize(("path", "kind"), HIDDEN_FROM_OTHERS)
async def test_what_another_tenant_owns_answers_404(client, catalog_service, make_bundle, path, kind):
    world = await _world(catalog_service, make_bundle)
    for actor in ("other_admin", "curator" if "members" in path else "other_admin"):
        response = await client.get(path, headers=await _as(client, actor, world, kind), follow_redirects=False)
        assert response.status_code == 404, (actor, path, response.status_code)
    owner = await _as(client, "admin", world, kind)
    assert (await client.get(path, headers=owner, follow_redirects=False)).status_code == 200


async def _as(client: Any, actor: str, world: dict[str, Any], kind: str) -> dict[str, str]:
    headers = await _credentials(actor, world, api=kind == "api")
    if "session" in headers:
        client.cookies.set("lumbung_session", headers.pop("session"))
    return headers
