"""The statistics API, pages and CSV: who sees what, bad input, exports that match."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from catalog.tables import App
from stats.services import current_month
from tenants import identity
from tests.conftest import bearer, make_user, token_for
from tests.stats.history import PROVINCES, build_world, reference

pytestmark = pytest.mark.db

MINISTRY_ONLY = ("summary", "categories", "provinces", "months", "freshness", "publishers")


@pytest.fixture
async def stats_world(db) -> dict[str, Any]:
    world = await build_world(seed=21)
    publisher = world.tenants[1]  # publishes apps
    plain = world.tenants[6]  # publishes nothing
    staff = await make_user("staf-kominfo", None, is_ministry_staff=True)
    admin = await make_user("platform", None, is_platform_admin=True)
    pub_admin = await make_user("admin-pub", await _tenant(publisher["id"]), "admin")
    viewer = await make_user("viewer-plain", await _tenant(plain["id"]), "viewer")
    return {
        "world": world, "publisher": publisher, "plain": plain,
        "staff": await token_for(staff, "stats:read"), "admin": await token_for(admin, "stats:read"),
        "pub_admin": await token_for(pub_admin, "stats:read"), "viewer": await token_for(viewer, "stats:read"),
        "no_scope": await token_for(staff, "catalog:read"),
        "users": {"staff": staff, "pub_admin": pub_admin, "viewer": viewer},
    }


async def _tenant(tenant_id: int):
    from tenants.tables import Tenant

    return await Tenant.objects().where(Tenant.id == tenant_id).first()


async def test_kominfo_and_platform_admins_read_every_table(client, stats_world) -> None:
    expected = reference(stats_world["world"], end=current_month(), now_month=current_month())
    for who in ("staff", "admin"):
        headers = bearer(stats_world[who])
        summary = (await client.get("/api/v1/stats/summary", headers=headers)).json()
        for key, value in expected["summary"].items():
            assert summary[key] == value, key
        for table in MINISTRY_ONLY[1:]:
            response = await client.get(f"/api/v1/stats/{table}", headers=headers)
            assert response.status_code == 200, table
        apps = (await client.get("/api/v1/stats/apps", headers=headers)).json()
        assert {a["slug"]: a["adoptions"] for a in apps} == {s: f["adoptions"] for s, f in expected["apps"].items()}
        other = stats_world["plain"]["slug"]
        assert (await client.get(f"/api/v1/stats/regions/{other}", headers=headers)).status_code == 200


async def test_a_region_sees_its_own_numbers_and_public_counts_only(client, stats_world) -> None:
    world, publisher, plain = stats_world["world"], stats_world["publisher"], stats_world["plain"]
    for who, own in (("pub_admin", publisher), ("viewer", plain)):
        headers = bearer(stats_world[who])
        for table in MINISTRY_ONLY:
            assert (await client.get(f"/api/v1/stats/{table}", headers=headers)).status_code == 403, (who, table)
        apps = (await client.get("/api/v1/stats/apps", headers=headers)).json()
        assert apps and all(set(a) == {"rank", "slug", "name", "category", "publisher", "publisher_name",
                                       "live_installations", "adopting_regions"} for a in apps)
        assert (await client.get(f"/api/v1/stats/apps?province={PROVINCES[0]}", headers=headers)).status_code == 403
        assert (await client.get("/api/v1/stats/apps?from=2024-01", headers=headers)).status_code == 403
        mine = await client.get(f"/api/v1/stats/regions/{own['slug']}", headers=headers)
        assert mine.status_code == 200
        live = [s for s in reference(world, end=current_month(), now_month=current_month())["live"] if s["tenant"] == own["id"]]
        assert mine.json()["live_installations"] == len(live)
        assert sorted(r["version"] for r in mine.json()["runs"]) == sorted(s["version"] for s in live)
        others = [t for t in world.tenants if t["id"] != own["id"]]
        for other in others[:3]:
            assert (await client.get(f"/api/v1/stats/regions/{other['slug']}", headers=headers)).status_code == 404
            assert (await client.get(f"/api/v1/stats/publishers/{other['slug']}", headers=headers)).status_code == 404
    reach = await client.get(f"/api/v1/stats/publishers/{publisher['slug']}", headers=bearer(stats_world["pub_admin"]))
    assert reach.status_code == 200
    own_apps = {a["slug"] for a in world.apps if a["publisher"] == publisher["id"]}
    assert {a["slug"] for a in reach.json()["apps"]} == own_apps


async def test_a_token_without_the_stats_scope_is_refused(client, stats_world) -> None:
    headers = bearer(stats_world["no_scope"])
    for path in ("/api/v1/stats/summary", "/api/v1/stats/apps", f"/api/v1/stats/regions/{stats_world['plain']['slug']}"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 403 and "stats:read" in response.json()["message"]
    assert (await client.get("/api/v1/stats/summary")).status_code == 401


@pytest.mark.parametrize(("query", "status", "field"), [
    ("from=2026-13", 422, "from"),
    ("to=26-01", 422, "to"),
    ("from=2026-05&to=2026-01", 422, "from"),
    ("from=1990-01", 422, "from"),
    ("province=Atlantis", 422, "province"),
    ("category=astrologi", 422, "category"),
    ("publisher=tidak-ada", 422, "publisher"),
    ("from=2026-01-01-01", 422, "from"),
    ("to=" + "9" * 5000, 422, "to"),
    ("province=" + "x" * 300, 422, "province"),
])
async def test_bad_filters_get_a_clear_4xx(client, stats_world, query, status, field) -> None:
    for path in ("/api/v1/stats/summary", "/api/v1/stats/months"):
        response = await client.get(f"{path}?{query}", headers=bearer(stats_world["staff"]))
        assert response.status_code == status, response.text
        if field:
            assert response.json()["errors"][0]["field"] == field
    await _sign_in(client, stats_world["users"]["staff"])
    page = await client.get(f"/stats?{query}")
    assert page.status_code in (400, 422)
    export = await client.get(f"/stats/export/provinces?{query}")
    assert export.status_code in (400, 422)


async def _sign_in(client, user) -> None:
    client.cookies.set("lumbung_session", await identity.start_session(user, ttl_seconds=600))


async def test_csv_exports_hold_the_same_rows_as_the_api(client, stats_world) -> None:
    await _sign_in(client, stats_world["users"]["staff"])
    headers = bearer(stats_world["staff"])
    query = f"province={PROVINCES[1]}&from=2024-01"
    for table in ("apps", "categories", "provinces", "months", "freshness", "publishers"):
        exported = await client.get(f"/stats/export/{table}?{query}")
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        api = (await client.get(f"/api/v1/stats/{table}?{query}", headers=headers)).json()
        assert len(rows) == len(api), table
        for row, item in zip(rows, api):
            for key, value in row.items():
                assert value == str(item[key]) if not isinstance(item[key], bool) else value == str(item[key]).lower(), (table, key)
    unknown = await client.get("/stats/export/secrets")
    assert unknown.status_code == 404
    assert (await client.get("/stats/export/region-installations")).status_code == 422


async def test_csv_cells_that_would_be_formulas_are_quoted(client, stats_world) -> None:
    await App.update({App.name: "=HYPERLINK(\"http://x\")"}).where(App.slug == "app-uji-0")
    await _sign_in(client, stats_world["users"]["staff"])
    text = (await client.get("/stats/export/apps")).text
    assert "'=HYPERLINK" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


async def test_the_dashboard_draws_charts_with_tables_and_escapes_names(client, stats_world) -> None:
    await App.update({App.name: "<script>alert(1)</script>"}).where(App.slug == "app-uji-0")
    await _sign_in(client, stats_world["users"]["staff"])
    page = await client.get("/stats")
    assert page.status_code == 200
    html = page.text
    for table in ("apps", "categories", "provinces", "months", "freshness", "publishers"):
        assert f'id="table-{table}"' in html and f'id="csv-{table}"' in html
    assert html.count("<svg") >= 6 and 'role="img"' in html
    assert "<script" not in html  # neither the app's name nor pygal's own script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Statistik adopsi" in html  # Bahasa Indonesia first
    filtered = await client.get(f"/stats?province={PROVINCES[0]}&from=2024-06&category=perizinan")
    assert filtered.status_code == 200


async def test_a_region_sees_the_public_dashboard_and_its_own_page(client, stats_world) -> None:
    await _sign_in(client, stats_world["users"]["viewer"])
    page = await client.get("/stats")
    assert page.status_code == 200
    assert 'id="table-apps"' in page.text and 'id="table-provinces"' not in page.text
    assert f'/stats/regions/{stats_world["plain"]["slug"]}' in page.text
    assert (await client.get(f"/stats/regions/{stats_world['plain']['slug']}")).status_code == 200
    assert (await client.get(f"/stats/regions/{stats_world['publisher']['slug']}")).status_code == 404
    assert (await client.get(f"/stats/export/region-installations?region={stats_world['publisher']['slug']}")).status_code == 404
    assert (await client.get("/stats/export/provinces")).status_code == 403
    public = await client.get("/stats/export/apps")
    assert public.status_code == 200 and public.text.splitlines()[0] == (
        "rank,slug,name,category,publisher,live_installations,adopting_regions"
    )
