"""The catalog's JSON API, end to end through the app with a real database and index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bearer, manifest_doc, token_for

pytestmark = pytest.mark.db


async def submit(client: Any, token: str, bundle: Path, slug: str = "e-perizinan", version: str = "1.0.0", **data: str):
    with bundle.open("rb") as fh:
        return await client.post(
            f"/api/v1/apps/{slug}/versions",
            headers=bearer(token),
            data={"version": version, "changelog": data.pop("changelog", "- Rilis pertama"), **data},
            files={"bundle": (bundle.name, fh.read(), "application/gzip")},
        )


async def test_publish_review_and_browse(client, world, make_bundle):
    publisher = await token_for(world["publisher"], "apps:publish", "catalog:read")
    curator = await token_for(world["curator"], "catalog:review", "catalog:read")
    viewer = await token_for(world["viewer"], "catalog:read")

    response = await submit(client, publisher, make_bundle())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "submitted" and body["version"] == "1.0.0"
    assert len(body["bundle_sha256"]) == 64

    # Not listed before review: invisible to others, visible to the publisher.
    hidden = await client.get("/api/v1/apps/e-perizinan", headers=bearer(viewer))
    assert hidden.status_code == 404, hidden.text
    assert (await client.get("/api/v1/apps", headers=bearer(viewer))).json()["total"] == 0
    own = await client.get("/api/v1/apps/e-perizinan", headers=bearer(publisher))
    assert own.status_code == 200 and own.json()["versions"][0]["status"] == "submitted"

    queue = (await client.get("/api/v1/review/queue", headers=bearer(curator))).json()
    assert [(q["app_slug"], q["version"], q["new_app"]) for q in queue] == [("e-perizinan", "1.0.0", True)]

    approved = await client.post("/api/v1/apps/e-perizinan/versions/1.0.0/approve", headers=bearer(curator))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    listing = (await client.get("/api/v1/apps?q=perijinan", headers=bearer(viewer))).json()
    assert [a["slug"] for a in listing["items"]] == ["e-perizinan"]
    assert listing["items"][0]["latest_version"] == "1.0.0"
    assert listing["items"][0]["publisher"] == {
        "slug": "kota-surabaya", "name": "Pemerintah Kota Surabaya", "province": "Jawa Timur"
    }
    facets = {f["value"]: f["count"] for f in listing["facets"]["province"]}
    assert facets == {"Jawa Timur": 1}

    detail = (await client.get("/api/v1/apps/e-perizinan", headers=bearer(viewer))).json()
    assert detail["requirements"] if "requirements" in detail else True
    assert detail["versions"][0]["requirements"]["memory_bytes"] == 64 * 1024 * 1024
    assert detail["versions"][0]["requirements"]["env"][1]["secret"] is True
    assert detail["adopted_by"] == []


async def test_version_must_match_manifest_and_be_unique(client, world, make_bundle):
    publisher = await token_for(world["publisher"], "apps:publish")
    bundle = make_bundle(manifest_doc(version="1.0.0"))

    mismatch = await submit(client, publisher, bundle, version="1.0.1")
    assert mismatch.status_code == 422
    assert mismatch.json()["errors"] == [
        {"field": "manifest.version", "message": "is '1.0.0' but the submitted version is '1.0.1'"}
    ]

    wrong_slug = await submit(client, publisher, bundle, slug="other-app")
    assert wrong_slug.status_code == 422
    assert wrong_slug.json()["errors"][0]["field"] == "manifest.slug"

    bad = await submit(client, publisher, bundle, version="v1.0.0")
    assert bad.status_code == 422
    assert any(e["field"] == "version" for e in bad.json()["errors"])

    assert (await submit(client, publisher, bundle)).status_code == 201
    again = await submit(client, publisher, bundle)
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"


async def test_invalid_manifest_reports_every_field(client, world, make_bundle):
    publisher = await token_for(world["publisher"], "apps:publish")
    doc = manifest_doc(container={"port": 70000, "privileged": True}, capabilities=["SYS_ADMIN"])
    response = await submit(client, publisher, make_bundle(doc))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"manifest.container.port", "manifest.container.privileged", "manifest.capabilities"} <= fields


async def test_rejected_upload_leaves_nothing_behind(client, world, make_bundle, tmp_path):
    from marketplace.settings import get_settings

    publisher = await token_for(world["publisher"], "apps:publish")
    store = get_settings().bundle_dir
    before = sorted(p for p in store.rglob("*") if p.is_file())
    broken = make_bundle(dockerfile=False)
    response = await submit(client, publisher, broken)
    assert response.status_code == 422
    assert "Dockerfile" in response.json()["errors"][0]["message"]
    assert sorted(p for p in store.rglob("*") if p.is_file()) == before
    tmp_dir = get_settings().data_dir / "tmp"
    assert not any(tmp_dir.iterdir())


async def test_not_a_tar_is_a_clear_error(client, world, tmp_path):
    publisher = await token_for(world["publisher"], "apps:publish")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive" * 10)
    response = await submit(client, publisher, junk)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "bundle"


async def test_oversized_upload_is_refused(client, world, tmp_path):
    publisher = await token_for(world["publisher"], "apps:publish")
    big = tmp_path / "big.tar.gz"
    big.write_bytes(b"\0" * (7 * 1024 * 1024))  # the test limit is 5 MiB
    response = await submit(client, publisher, big)
    assert response.status_code == 413


async def test_reject_needs_reason_and_yank_hides_version(client, world, make_bundle):
    publisher = await token_for(world["publisher"], "apps:publish", "catalog:read")
    curator = await token_for(world["curator"], "catalog:review", "catalog:read")
    for version in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
        assert (await submit(client, publisher, make_bundle(manifest_doc(version=version)), version=version)).status_code == 201

    no_reason = await client.post(
        "/api/v1/apps/e-perizinan/versions/1.1.0/reject", headers=bearer(curator), json={"reason": ""}
    )
    assert no_reason.status_code == 422
    for version in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
        assert (await client.post(f"/api/v1/apps/e-perizinan/versions/{version}/approve", headers=bearer(curator))).status_code == 200

    viewer = await token_for(world["viewer"], "catalog:read")
    app = (await client.get("/api/v1/apps/e-perizinan", headers=bearer(viewer))).json()
    assert app["latest_version"] == "1.1.0"  # a prerelease never becomes latest
    assert [v["version"] for v in app["versions"]] == ["1.1.0", "1.0.0"]
    with_pre = (await client.get("/api/v1/apps/e-perizinan?prereleases=true", headers=bearer(viewer))).json()
    assert [v["version"] for v in with_pre["versions"]] == ["2.0.0-rc.1", "1.1.0", "1.0.0"]

    yank = await client.post(
        "/api/v1/apps/e-perizinan/versions/1.1.0/yank", headers=bearer(curator), json={"reason": "data loss bug"}
    )
    assert yank.status_code == 200 and yank.json()["yanked"] is True
    app = (await client.get("/api/v1/apps/e-perizinan", headers=bearer(viewer))).json()
    assert app["latest_version"] == "1.0.0"
    assert [v["version"] for v in app["versions"]] == ["1.0.0"]
    again = await client.post("/api/v1/apps/e-perizinan/versions/1.1.0/yank", headers=bearer(curator), json={})
    assert again.status_code == 409


async def test_other_tenant_cannot_publish_versions_of_an_app(client, world, make_bundle):
    publisher = await token_for(world["publisher"], "apps:publish")
    curator = await token_for(world["curator"], "catalog:review")
    assert (await submit(client, publisher, make_bundle())).status_code == 201
    await client.post("/api/v1/apps/e-perizinan/versions/1.0.0/approve", headers=bearer(curator))
    intruder = await token_for(world["other_publisher"], "apps:publish")
    response = await submit(client, intruder, make_bundle(manifest_doc(version="9.9.9")), version="9.9.9")
    assert response.status_code == 403


async def test_tokens_without_the_scope_or_role_are_refused(client, world, make_bundle):
    read_only = await token_for(world["publisher"], "catalog:read")
    assert (await submit(client, read_only, make_bundle())).status_code == 403
    viewer_publish = await token_for(world["viewer"], "apps:publish")
    assert (await submit(client, viewer_publish, make_bundle())).status_code == 403
    not_curator = await token_for(world["publisher"], "catalog:review")
    assert (await client.get("/api/v1/review/queue", headers=bearer(not_curator))).status_code == 403
    assert (await client.get("/api/v1/apps")).status_code == 401
    bad = await client.get("/api/v1/apps", headers=bearer("lmb_forged"))
    assert bad.status_code == 401 and bad.json()["error"] == "authentication_required"


async def test_bad_query_parameters_are_422_not_500(client, world):
    viewer = await token_for(world["viewer"], "catalog:read")
    for query in ("sort=price", "page=0", "per_page=1000", "q=" + "x" * 300):
        response = await client.get(f"/api/v1/apps?{query}", headers=bearer(viewer))
        assert response.status_code in (400, 422), (query, response.status_code)


async def test_openapi_schema_is_served(client):
    response = await client.get("/api/v1/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/apps" in paths and "/api/v1/apps/{slug}/versions" in paths


async def test_reindex_restores_the_index_without_emptying_it_first(client, world, make_bundle, catalog_service):
    from catalog.search import SearchQuery

    publisher = await token_for(world["publisher"], "apps:publish")
    curator = await token_for(world["curator"], "catalog:review")
    assert (await submit(client, publisher, make_bundle())).status_code == 201
    await client.post("/api/v1/apps/e-perizinan/versions/1.0.0/approve", headers=bearer(curator))
    await catalog_service.search.delete(["e-perizinan"])  # the index lost the app
    assert (await catalog_service.search.search(SearchQuery(text="perizinan"))).total == 0
    assert await catalog_service.reindex() == 1
    assert (await catalog_service.search.search(SearchQuery(text="perizinan"))).slugs == ["e-perizinan"]
    # A yanked-only app leaves the index on reindex as well.
    await client.post("/api/v1/apps/e-perizinan/versions/1.0.0/yank", headers=bearer(curator), json={"reason": "x"})
    assert await catalog_service.reindex() == 0
    assert (await catalog_service.search.search(SearchQuery(text="perizinan"))).total == 0
