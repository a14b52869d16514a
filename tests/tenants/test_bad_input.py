"""Forged, tampered, over-long and malformed input: a clear 4xx, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import bearer, token_for
from tests.pages import csrf_token, login

pytestmark = pytest.mark.db


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + "x" * 5000,
        "Bearer lmb_" + "A" * 43,
        "Bearer",
        "Basic c3VyYWJheWE6cGFzc3dvcmQ=",
        "Bearer lmb_\u00e9\u00e9".encode("latin-1"),
        "bearer  ",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
    ],
)
async def test_bad_authorization_headers_are_401(client, world, header):
    response = await client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_required"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("cookie", ["x" * 5000, "%00%ff", "a;b=c", "lmb_" + "A" * 43, ""])
async def test_forged_session_cookies_are_anonymous(client, world, cookie):
    client.cookies.set("lumbung_session", cookie)
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_tampered_session_cookie_is_anonymous(client, world):
    await login(client, "surabaya")
    real = client.cookies.get("lumbung_session")
    client.cookies.clear()
    client.cookies.set("lumbung_session", real[:-1] + ("A" if real[-1] != "A" else "B"))
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_over_long_sign_in_fields(client, world):
    token = await csrf_token(client)
    response = await client.post("/login", data={"username": "u" * 10_000, "password": "p" * 100_000, "_csrf_token": token})
    assert response.status_code == 401


async def test_missing_or_wrong_csrf_token_is_403(client, world):
    await login(client, "surabaya")
    assert (await client.post("/logout", data={})).status_code == 403
    assert (await client.post("/logout", data={"_csrf_token": "forged"})).status_code == 403
    assert (await client.post("/publish", data={"version": "1.0.0"})).status_code == 403


async def test_malformed_api_bodies_are_4xx(client, world):
    curator = await token_for(world["curator"], "catalog:review", "catalog:read")
    url = "/api/v1/apps/e-perizinan/versions/1.0.0/reject"
    for body, kwargs in (
        ("not json", {"content": b"{not json", "headers": {**bearer(curator), "content-type": "application/json"}}),
        ("long reason", {"json": {"reason": "x" * 3000}, "headers": bearer(curator)}),
        ("extra field", {"json": {"reason": "ok", "admin": True}, "headers": bearer(curator)}),
        ("wrong type", {"json": {"reason": 5}, "headers": bearer(curator)}),
    ):
        response = await client.post(url, **kwargs)
        assert response.status_code in (400, 422), (body, response.status_code, response.text)
    publisher = await token_for(world["publisher"], "apps:publish")
    no_file = await client.post("/api/v1/apps/e-perizinan/versions", headers=bearer(publisher), data={"version": "1.0.0"})
    assert no_file.status_code in (400, 422)


@pytest.mark.parametrize("path", ["/api/v1/apps/%F0%9F%92%A5", "/api/v1/apps/" + "a" * 2000, "/api/v1/apps/x/versions/%00"])
async def test_strange_paths_are_404(client, world, path):
    viewer = await token_for(world["viewer"], "catalog:read")
    assert (await client.get(path, headers=bearer(viewer))).status_code == 404


async def test_wrong_types_in_query_are_422_with_the_field(client, world):
    viewer = await token_for(world["viewer"], "catalog:read")
    response = await client.get("/api/v1/apps?page=two", headers=bearer(viewer))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "page"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/99999999999999999999",
        f"/api/v1/installations/{2**31}/logs",
        "/api/v1/installations/0/data.tar",
    ],
)
async def test_ids_no_row_can_have_are_404(client, world, path):
    """Ids beyond what the database stores used to reach it and fail there (a 500)."""
    admin = await token_for(world["publisher"], "catalog:read", "installations:write")
    response = await client.get(path, headers=bearer(admin))
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/apps/%00",
        "/api/v1/tenants/kota-surabaya%00/installations",
        "/api/v1/apps/e-perizinan/versions/1.0.0%00",
        "/api/v1/stats/regions/kota-surabaya%00",
    ],
)
async def test_nul_bytes_in_paths_are_404(client, world, path):
    """PostgreSQL refuses NUL in text: such a path used to fail in the database (a 500)."""
    admin = await token_for(world["publisher"], "catalog:read", "stats:read")
    response = await client.get(path, headers=bearer(admin))
    assert response.status_code == 404 and response.json()["error"] == "not_found"


async def test_nul_bytes_in_api_bodies_are_422_with_the_field(client, world, make_bundle):
    curator = await token_for(world["curator"], "catalog:read", "catalog:review")
    reject = await client.post(
        "/api/v1/apps/e-perizinan/versions/1.0.0/reject", json={"reason": "bad\u0000"}, headers=bearer(curator)
    )
    assert reject.status_code == 422 and reject.json()["errors"][0]["field"] == "reason"
    operator = await token_for(world["operator"], "catalog:read", "installations:write")
    adopt = await client.post(
        "/api/v1/tenants/kota-surabaya/installations", json={"app": "e-perizinan\u0000", "version": "1.0.0"},
        headers=bearer(operator),
    )
    assert adopt.status_code == 422 and adopt.json()["errors"][0]["field"] == "app"
    publisher = await token_for(world["publisher"], "catalog:read", "apps:publish")
    submit = await client.post(
        "/api/v1/apps/e-perizinan/versions", headers=bearer(publisher),
        data={"version": "1.0.0", "changelog": "fixed\u0000"},
        files={"bundle": ("bundle.tar.gz", make_bundle().read_bytes(), "application/gzip")},
    )
    assert submit.status_code == 422 and {"field": "changelog", "message": "may not contain NUL"} in submit.json()["errors"]


async def test_an_unknown_operation_is_404(client, world):
    operator = await token_for(world["operator"], "catalog:read", "installations:write")
    response = await client.post("/api/v1/installations/1/explode", headers=bearer(operator))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/apps/e-perizinan%00",
        "/apps/%00/adopt",
        "/tenants/kota-surabaya%00",
        "/tenants/kota-surabaya%00/members",
        "/tenants/kota-surabaya%00/installations",
        "/stats/regions/kota-surabaya%00",
    ],
)
async def test_nul_bytes_in_page_paths_are_404(client, world, path):
    """The pages take the same path shapes as the API: no NUL reaches the database."""
    await login(client, world["publisher"].username)
    response = await client.get(path)
    assert response.status_code == 404
