"""Every figure of the dashboard agrees with a replay of the same generated events."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from catalog.tables import App
from stats import projection
from stats.services import StatsService, current_month, make_filter, month_text
from stats.tables import StatsInstallation
from tests.conftest import make_user, principal
from tests.stats.history import PROVINCES, build_world, reference

pytestmark = pytest.mark.db


async def _ministry():
    return await principal(await make_user("staf-kominfo", None, is_ministry_staff=True))


def _filters(world):
    now = current_month()
    months = sorted({int(e["created_at"].strftime("%Y%m")) for e in world.events})
    middle = months[len(months) // 2]
    early = months[len(months) // 4]
    publisher = world.tenants[1]
    return [
        {},
        {"province": PROVINCES[0]},
        {"category": "perizinan"},
        {"publisher": publisher["slug"], "_publisher": publisher["id"]},
        {"since": early, "until": middle},
        {"since": middle},
        {"until": early, "province": PROVINCES[2], "category": "pengaduan-publik"},
        {"since": now, "until": now},
    ]


async def test_every_figure_matches_a_replay_of_the_events(db) -> None:
    world = await build_world(seed=11)
    service = StatsService()
    staff = await _ministry()
    now = current_month()
    for f in _filters(world):
        flt = make_filter(
            month_text(f["since"]) if f.get("since") else None, month_text(f["until"]) if f.get("until") else None,
            f.get("province", ""), f.get("category", ""), f.get("publisher", ""),
        )
        expected = reference(world, start=f.get("since", 0), end=f.get("until", now), province=f.get("province", ""),
                             category=f.get("category", ""), publisher=f.get("_publisher"), now_month=now)
        board = await service.dashboard(staff, flt)
        summary = board.summary
        for key, value in expected["summary"].items():
            assert getattr(summary, key) == value, (f, key)
        got_apps = {r.slug: r for r in board.apps}
        assert set(got_apps) == set(expected["apps"]), f
        for slug, figures in expected["apps"].items():
            for key, value in figures.items():
                assert getattr(got_apps[slug], key) == value, (f, slug, key)
        ranks = [r.live_installations for r in board.apps]
        assert ranks == sorted(ranks, reverse=True)
        got_provinces = {r.province: r for r in board.provinces}
        assert set(got_provinces) == set(expected["provinces"]), f
        for province, figures in expected["provinces"].items():
            for key, value in figures.items():
                assert getattr(got_provinces[province], key) == value, (f, province, key)
        got_months = {int(r.month.replace("-", "")): (r.adoptions, r.removals) for r in board.months}
        for month, pair in expected["months"].items():
            assert got_months[month] == pair, (f, month)
        assert sum(r.adoptions for r in board.months) == summary.adoptions
        assert all(r.net == r.adoptions - r.removals for r in board.months)
        # categories and publishers add up to the same totals
        assert sum(r.live_installations for r in board.categories) == summary.live_installations
        assert sum(r.systems_not_rebuilt for r in board.categories) == summary.systems_not_rebuilt
        assert sum(r.cost_avoided_idr for r in board.publishers) == summary.cost_avoided_idr


async def test_version_freshness_per_app(db) -> None:
    world = await build_world(seed=3)
    board = await StatsService().dashboard(await _ministry(), make_filter())
    expected = reference(world, end=current_month(), now_month=current_month())
    apps = {a["id"]: a for a in world.apps}
    for row in board.freshness:
        app = next(a for a in world.apps if a["slug"] == row.slug)
        live = [s for s in expected["live"] if s["app"] == app["id"]]
        assert row.live_installations == len(live)
        assert row.on_latest == sum(1 for s in live if s["version"] == app["latest"])
        assert row.latest_version == app["latest"]
    # the app without a listed version is left out: there is nothing to be current with
    unlisted = [a for a in apps.values() if not a["latest"]]
    assert all(r.slug not in {a["slug"] for a in unlisted} for r in board.freshness)


async def test_the_read_model_rebuilt_from_the_events_is_the_one_the_triggers_kept(db) -> None:
    await build_world(seed=5)
    columns = (StatsInstallation.installation, StatsInstallation.tenant, StatsInstallation.app,
               StatsInstallation.by_other_region, StatsInstallation.adopted_month, StatsInstallation.removed_month,
               StatsInstallation.version, StatsInstallation.last_event)
    kept = await StatsInstallation.select(*columns).order_by(StatsInstallation.installation)
    assert kept
    await projection.rebuild()
    await projection.rebuild()  # idempotent
    rebuilt = await StatsInstallation.select(*columns).order_by(StatsInstallation.installation)
    assert [_plain(r) for r in rebuilt] == [_plain(r) for r in kept]


def _plain(row):
    return {k: (bool(v) if k == "by_other_region" else v) for k, v in row.items()}


async def test_months_are_counted_in_wib(db) -> None:
    """An adoption at 20:00 UTC on 31 January is a February adoption in Jakarta."""
    from catalog.tables import App
    from provisioning.tables import AdoptionEvent, Installation
    from tenants.tables import Tenant

    moment = datetime(2025, 1, 31, 20, 0, tzinfo=timezone.utc)
    tenant = Tenant(slug="kab-wib", name="Kabupaten WIB", kind="kabupaten", province="Jawa Barat", created_at=moment)
    await tenant.save()
    app = App(slug="app-wib", name="App", category="lainnya", publisher=tenant.id, created_at=moment, updated_at=moment)
    await app.save()
    inst = Installation(tenant=tenant.id, app=app.id, created_at=moment)
    await inst.save()
    await AdoptionEvent(kind="adopted", tenant=tenant.id, app=app.id, installation=inst.id, to_version="1.0.0",
                        created_at=moment).save()
    months = await StatsService().months(await _ministry(), make_filter("2025-01", "2025-02"))
    assert [(m.month, m.adoptions) for m in months] == [("2025-01", 0), ("2025-02", 1)]
    # the publisher adopting its own app is not a system that was not rebuilt
    summary = await StatsService().summary(await principal(await make_user("staf-2", None, is_ministry_staff=True)),
                                           make_filter())
    assert summary.systems_not_rebuilt == 0 and summary.live_installations == 1


async def test_a_new_event_is_counted_by_the_next_request(db) -> None:
    """Figures are kept between requests only while the events and the catalog are unchanged."""
    from provisioning.tables import AdoptionEvent, Installation

    world = await build_world(seed=8, adoptions=20)
    service = StatsService(cache_size=8)
    staff = await _ministry()
    before = await service.summary(staff, make_filter())
    assert (await service.summary(staff, make_filter())) == before
    tenant, app = world.tenants[9], world.apps[0]
    inst = Installation(tenant=tenant["id"], app=app["id"], created_at=datetime.now(timezone.utc))
    await inst.save()
    await AdoptionEvent(kind="adopted", tenant=tenant["id"], app=app["id"], installation=inst.id,
                        to_version=app["versions"][0], created_at=datetime.now(timezone.utc)).save()
    after = await service.summary(staff, make_filter())
    assert after.live_installations == before.live_installations + 1
    assert after.adoptions_this_month == before.adoptions_this_month + 1
    await App.update({App.latest_version: ""}).where(App.id == app["id"])
    assert (await service.summary(staff, make_filter())).apps_in_catalog == after.apps_in_catalog - 1


async def test_each_endpoint_agrees_with_the_dashboard(db) -> None:
    """The dashboard folds apps, regions and publishers from one scan; the single-table
    endpoints run their own, narrower queries. Both must give the same figures."""
    world = await build_world(seed=13)
    staff = await _ministry()
    for f in _filters(world):
        flt = make_filter(
            month_text(f["since"]) if f.get("since") else None, month_text(f["until"]) if f.get("until") else None,
            f.get("province", ""), f.get("category", ""), f.get("publisher", ""),
        )
        board = await StatsService(cache_size=0).dashboard(staff, flt)
        alone = StatsService(cache_size=0)
        assert await alone.summary(staff, flt) == board.summary, f
        assert await alone.apps(staff, flt) == board.apps, f
        assert await alone.categories(staff, flt) == board.categories, f
        assert await alone.provinces(staff, flt) == board.provinces, f
        assert await alone.freshness(staff, flt) == board.freshness, f
        assert await alone.publishers(staff, flt) == board.publishers, f


async def test_figures_after_a_rebuild_match_a_replay(db) -> None:
    world = await build_world(seed=17)
    await projection.rebuild()
    now = current_month()
    board = await StatsService(cache_size=0).dashboard(await _ministry(), make_filter())
    expected = reference(world, end=now, now_month=now)
    for key, value in expected["summary"].items():
        assert getattr(board.summary, key) == value, key
