"""Accounts, sessions and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.errors import AuthenticationRequired, Conflict, ValidationFailed
from tenants import identity
from tenants.tables import ApiToken, Session, User
from tests.conftest import PASSWORD, bearer, make_user
from tests.pages import csrf_token, login

pytestmark = pytest.mark.db


async def test_passwords_are_argon2id_hashes(db):
    user = await make_user("tuban")
    stored = await User.select(User.password_hash).where(User.id == user.id).first()
    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in stored["password_hash"]
    assert (await identity.authenticate("tuban", PASSWORD)).id == user.id
    with pytest.raises(AuthenticationRequired):
        await identity.authenticate("tuban", "not-the-password")
    with pytest.raises(AuthenticationRequired):
        await identity.authenticate("nobody", PASSWORD)


async def test_account_rules(db):
    await make_user("tuban")
    with pytest.raises(Conflict):
        await make_user("tuban")
    with pytest.raises(ValidationFailed) as caught:
        await identity.create_user("A B", "short")
    assert {e["field"] for e in caught.value.errors} == {"username", "password"}


async def test_logout_ends_the_session_on_the_server(client, world):
    await login(client, "surabaya")
    assert await Session.count() == 1
    cookie = client.cookies.get("lumbung_session")
    assert (await client.get("/")).status_code == 200
    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/")})
    assert await Session.count() == 0
    client.cookies.set("lumbung_session", cookie)  # replaying the old cookie does not work
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_session_cookie_is_httponly_and_samesite(client, world):
    token = await csrf_token(client)
    response = await client.post(
        "/login", data={"username": "surabaya", "password": PASSWORD, "_csrf_token": token}, follow_redirects=False
    )
    header = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "lumbung_session" in v)
    assert "HttpOnly" in header and "SameSite=lax" in header


async def test_forged_and_expired_sessions_are_anonymous(client, world):
    client.cookies.set("lumbung_session", "forged-value")
    assert (await client.get("/", follow_redirects=False)).status_code == 303
    secret = await identity.start_session(world["publisher"], ttl_seconds=60)
    await Session.update({Session.expires_at: identity.now() - timedelta(seconds=1)}).where(Session.user == world["publisher"].id)
    client.cookies.set("lumbung_session", secret)
    assert (await client.get("/", follow_redirects=False)).status_code == 303
    assert await Session.count() == 0  # the expired session was removed


async def test_token_lifecycle(client, world):
    issued = await identity.issue_token(world["publisher"].id, "ci", ["catalog:read"], expires_in_days=30)
    assert issued.secret.startswith("lmb_")
    stored = await ApiToken.select().where(ApiToken.id == issued.id).first()
    assert issued.secret not in str(stored.values())
    me = await client.get("/api/v1/me", headers=bearer(issued.secret))
    assert me.status_code == 200 and me.json()["scopes"] == ["catalog:read"]
    assert me.json()["tenants"][0]["slug"] == "kota-surabaya"
    used = await ApiToken.select(ApiToken.last_used_at).where(ApiToken.id == issued.id).first()
    assert used["last_used_at"] is not None

    await identity.revoke_token(world["publisher"].id, issued.id)
    assert (await client.get("/api/v1/me", headers=bearer(issued.secret))).status_code == 401

    expired = await identity.issue_token(world["publisher"].id, "old", ["catalog:read"])
    await ApiToken.update({ApiToken.expires_at: identity.now() - timedelta(minutes=1)}).where(ApiToken.id == expired.id)
    assert (await client.get("/api/v1/me", headers=bearer(expired.secret))).status_code == 401


async def test_token_rules(db, world):
    with pytest.raises(ValidationFailed):
        await identity.issue_token(world["publisher"].id, "x", ["everything"])
    with pytest.raises(ValidationFailed):
        await identity.issue_token(world["publisher"].id, "", ["catalog:read"])
    with pytest.raises(ValidationFailed):
        await identity.issue_token(world["publisher"].id, "x", ["catalog:read"], expires_in_days=5000)


async def test_cookies_do_not_authenticate_the_api(client, world):
    await login(client, "surabaya")
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_tokens_page_creates_and_revokes(client, world):
    await login(client, "surabaya")
    token = await csrf_token(client, "/account/tokens")
    created = await client.post(
        "/account/tokens",
        data={"name": "ci-surabaya", "scopes": ["catalog:read", "apps:publish"], "expires_in_days": "30", "_csrf_token": token},
    )
    assert created.status_code == 201
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    assert (await client.get("/api/v1/me", headers=bearer(secret))).json()["scopes"] == ["apps:publish", "catalog:read"]
    row = await ApiToken.select(ApiToken.id).first()
    await client.post(f"/account/tokens/{row['id']}/revoke", data={"_csrf_token": await csrf_token(client, "/account/tokens")})
    assert (await client.get("/api/v1/me", headers=bearer(secret))).status_code == 401


async def test_last_use_is_recorded_on_the_right_token(client, world):
    for n in range(3):  # token ids and user ids diverge
        await identity.issue_token(world["sby_viewer"].id, f"other-{n}", ["catalog:read"])
    issued = await identity.issue_token(world["publisher"].id, "ci", ["catalog:read"])
    assert issued.id != world["publisher"].id
    assert (await client.get("/api/v1/me", headers=bearer(issued.secret))).json()["username"] == "surabaya"
    used = {r["id"]: r["last_used_at"] for r in await ApiToken.select(ApiToken.id, ApiToken.last_used_at)}
    assert used[issued.id] is not None
    assert [i for i, at in used.items() if at is not None] == [issued.id]


async def test_a_token_limited_to_one_tenant_acts_only_there(client, world, make_bundle):
    both = await make_user("dua-kota", world["surabaya"], "admin")
    await identity.add_membership(both, world["bandung"], "admin")
    await login(client, "dua-kota")
    token = await csrf_token(client, "/account/tokens")
    created = await client.post(
        "/account/tokens",
        data={"name": "ci-bandung", "scopes": ["apps:publish", "catalog:read"], "tenant": "kota-bandung",
              "expires_in_days": "30", "_csrf_token": token},
    )
    assert created.status_code == 201
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    me = (await client.get("/api/v1/me", headers=bearer(secret))).json()
    assert {t["slug"] for t in me["tenants"]} == {"kota-bandung"}
    with make_bundle().open("rb") as fh:
        data = fh.read()
    response = await client.post(
        "/api/v1/apps/e-perizinan/versions",
        headers=bearer(secret),
        data={"version": "1.0.0", "tenant": "kota-surabaya"},
        files={"bundle": ("b.tar.gz", data, "application/gzip")},
    )
    assert response.status_code == 422  # Surabaya is outside the token's tenant
    response = await client.post(
        "/api/v1/apps/e-perizinan/versions",
        headers=bearer(secret),
        data={"version": "1.0.0"},
        files={"bundle": ("b.tar.gz", data, "application/gzip")},
    )
    assert response.status_code == 201  # the token's only publishing tenant is chosen
    foreign = await client.post(
        "/account/tokens",
        data={"name": "x", "scopes": ["catalog:read"], "tenant": "kabupaten-paser", "_csrf_token": token},
    )
    assert foreign.status_code == 422
