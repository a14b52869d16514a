"""Generated adoption histories, and the figures computed from them in plain Python.

`reference` replays the events one by one; it shares no code with `stats.services`, so a
figure that agrees with it agrees with the definitions, not with the same SQL.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from catalog.tables import App, AppVersion
from provisioning.tables import AdoptionEvent, Installation
from tenants.tables import Tenant

WIB = timezone(timedelta(hours=7))
PROVINCES = ["Jawa Timur", "Jawa Barat", "Kalimantan Timur", "Sumatera Selatan", "Papua Pegunungan"]
CATEGORIES = ["perizinan", "pengaduan-publik", "keuangan", "kesehatan"]


@dataclass
class World:
    tenants: list[dict[str, Any]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def wib_month(moment: datetime) -> int:
    local = moment.astimezone(WIB)
    return local.year * 100 + local.month


async def build_world(seed: int = 7, *, regions: int = 14, apps: int = 9, adoptions: int = 90, now: datetime | None = None) -> World:
    """Tenants in a few provinces, apps with versions, and two years of events written as
    provisioning writes them (one adopted event per installation, then upgrades, roll-backs
    and at most one removal)."""
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    world = World()
    for i in range(regions):
        province = PROVINCES[i % len(PROVINCES)]
        tenant = Tenant(slug=f"kab-uji-{i}", name=f"Kabupaten Uji {i}", kind="kabupaten", province=province,
                        publishes=i < 4, created_at=now)
        await tenant.save()
        world.tenants.append({"id": tenant.id, "slug": tenant.slug, "province": province})
    ministry = Tenant(slug="kominfo", name="Kementerian Komunikasi dan Digital", kind="kementerian", province="", created_at=now)
    await ministry.save()
    for j in range(apps):
        publisher = world.tenants[j % 4]
        minors = rng.randint(1, 5)
        versions = [f"1.{m}.{p}" for m in range(minors + 1) for p in range(2)]
        listed = j != apps - 1  # the last app has no listed version (all yanked)
        latest = versions[-1] if listed else ""
        app = App(slug=f"app-uji-{j}", name=f"Aplikasi <b>Uji</b> {j}", category=CATEGORIES[j % len(CATEGORIES)],
                  publisher=publisher["id"], cost_estimate_idr=rng.choice([0, 150_000_000, 1_250_000_000]),
                  latest_version=latest, created_at=now, updated_at=now)
        await app.save()
        for v in versions:
            major, minor, patch = (int(x) for x in v.split("."))
            await AppVersion(app=app.id, version=v, major=major, minor=minor, patch=patch, bundle_sha256="0" * 64,
                             status="approved", yanked=not listed, created_at=now).save()
        world.apps.append({"id": app.id, "slug": app.slug, "publisher": publisher["id"], "category": app.category,
                           "cost": app.cost_estimate_idr, "latest": latest, "versions": versions})
    start = now - timedelta(days=730)
    pending: list[tuple[datetime, dict[str, Any]]] = []
    for _ in range(adoptions):
        tenant = rng.choice(world.tenants)
        app = rng.choice(world.apps)
        at = start + timedelta(seconds=rng.randint(0, int((now - start).total_seconds()) - 3600))
        installation = Installation(tenant=tenant["id"], app=app["id"], version=None, created_at=at)
        await installation.save()
        index = rng.randrange(len(app["versions"]))
        pending.append((at, {"kind": "adopted", "tenant": tenant["id"], "app": app["id"], "installation": installation.id,
                             "from_version": "", "to_version": app["versions"][index]}))
        moment = at
        for _ in range(rng.randint(0, 4)):
            moment += timedelta(days=rng.randint(1, 120))
            if moment >= now:
                break
            if rng.random() < 0.2 and index > 0:
                pending.append((moment, {"kind": "rolled_back", "tenant": tenant["id"], "app": app["id"],
                                         "installation": installation.id, "from_version": app["versions"][index],
                                         "to_version": app["versions"][index - 1]}))
                index -= 1
            elif index < len(app["versions"]) - 1:
                new = rng.randint(index + 1, len(app["versions"]) - 1)
                pending.append((moment, {"kind": "upgraded", "tenant": tenant["id"], "app": app["id"],
                                         "installation": installation.id, "from_version": app["versions"][index],
                                         "to_version": app["versions"][new]}))
                index = new
        if rng.random() < 0.3:
            moment += timedelta(days=rng.randint(1, 200))
            if moment < now:
                pending.append((moment, {"kind": "removed", "tenant": tenant["id"], "app": app["id"],
                                         "installation": installation.id, "from_version": app["versions"][index],
                                         "to_version": ""}))
    # Events arrive in time order, as provisioning writes them.
    pending.sort(key=lambda p: p[0])
    for at, event in pending:
        row = AdoptionEvent(created_at=at, **event)
        await row.save()
        world.events.append({**event, "id": row.id, "created_at": at})
    return world


# -- the reference computation ----------------------------------------------------------


def _behind(version: str, latest: str) -> bool:
    a = [int(x) for x in version.split(".")[:2]]
    b = [int(x) for x in latest.split(".")[:2]]
    return b[0] > a[0] or (b[0] == a[0] and b[1] - a[1] >= 2)


def reference(world: World, *, start: int = 0, end: int, province: str = "", category: str = "", publisher: int | None = None,
              now_month: int) -> dict[str, Any]:
    """Every figure of the dashboard for one filter, by replaying the events."""
    tenants = {t["id"]: t for t in world.tenants}
    apps = {a["id"]: a for a in world.apps}

    def selected(event: dict[str, Any]) -> bool:
        app = apps[event["app"]]
        tenant = tenants[event["tenant"]]
        return ((not province or tenant["province"] == province) and (not category or app["category"] == category)
                and (publisher is None or app["publisher"] == publisher))

    state: dict[int, dict[str, Any]] = {}
    adoptions_by_month: dict[int, int] = defaultdict(int)
    removals_by_month: dict[int, int] = defaultdict(int)
    pairs: set[tuple[int, int]] = set()
    per_app = defaultdict(lambda: {"adoptions": 0, "removals": 0})
    per_tenant = defaultdict(lambda: {"adoptions": 0, "removals": 0})
    for e in sorted(world.events, key=lambda e: e["id"]):
        if not selected(e):
            continue
        month = wib_month(e["created_at"])
        if month > end:
            continue
        inst = e["installation"]
        if e["kind"] == "adopted":
            state[inst] = {"tenant": e["tenant"], "app": e["app"], "version": e["to_version"], "removed": False}
            if start <= month <= end:
                adoptions_by_month[month] += 1
                per_app[e["app"]]["adoptions"] += 1
                per_tenant[e["tenant"]]["adoptions"] += 1
                if apps[e["app"]]["publisher"] != e["tenant"]:
                    pairs.add((e["tenant"], e["app"]))
        elif e["kind"] in ("upgraded", "rolled_back"):
            state[inst]["version"] = e["to_version"]
        elif e["kind"] == "removed":
            state[inst]["removed"] = True
            if start <= month <= end:
                removals_by_month[month] += 1
                per_app[e["app"]]["removals"] += 1
                per_tenant[e["tenant"]]["removals"] += 1
    # adoptions this month ignore the period but follow the other filters
    this_month = sum(1 for e in world.events if e["kind"] == "adopted" and selected(e) and wib_month(e["created_at"]) == now_month)
    live = [s for s in state.values() if not s["removed"]]
    # Freshness is measured now: replay the selected events to the end, whatever the period.
    current: dict[int, dict[str, Any]] = {}
    for e in sorted(world.events, key=lambda e: e["id"]):
        if not selected(e):
            continue
        if e["kind"] == "adopted":
            current[e["installation"]] = {"app": e["app"], "version": e["to_version"], "removed": False}
        elif e["kind"] == "removed":
            current[e["installation"]]["removed"] = True
        else:
            current[e["installation"]]["version"] = e["to_version"]
    listed = [a for a in world.apps if a["latest"] and (not category or a["category"] == category)
              and (publisher is None or a["publisher"] == publisher)]
    fresh = [s for s in current.values() if not s["removed"] and apps[s["app"]]["latest"]]
    on_latest = sum(1 for s in fresh if s["version"] == apps[s["app"]]["latest"])
    live_per_app = defaultdict(int)
    regions_per_app = defaultdict(set)
    live_per_province = defaultdict(int)
    adopting_per_province = defaultdict(set)
    for s in live:
        live_per_app[s["app"]] += 1
        regions_per_app[s["app"]].add(s["tenant"])
        live_per_province[tenants[s["tenant"]]["province"]] += 1
        adopting_per_province[tenants[s["tenant"]]["province"]].add(s["tenant"])
    return {
        "summary": {
            "apps_in_catalog": len(listed),
            "publishing_regions": len({a["publisher"] for a in listed}),
            "adopting_regions": len({s["tenant"] for s in live}),
            "live_installations": len(live),
            "adoptions_this_month": this_month,
            "adoptions": sum(adoptions_by_month.values()),
            "removals": sum(removals_by_month.values()),
            "systems_not_rebuilt": len(pairs),
            "cost_avoided_idr": sum(apps[a]["cost"] for _, a in pairs),
            "on_latest": on_latest,
            "behind_two_minor": sum(1 for s in fresh if _behind(s["version"], apps[s["app"]]["latest"])),
            "on_latest_share": round(on_latest / len(fresh), 4) if fresh else 0.0,
        },
        "apps": {apps[a]["slug"]: {"live_installations": live_per_app.get(a, 0), "adopting_regions": len(regions_per_app.get(a, ())),
                                   "adoptions": per_app[a]["adoptions"], "removals": per_app[a]["removals"],
                                   "systems_not_rebuilt": sum(1 for _, x in pairs if x == a),
                                   "cost_avoided_idr": sum(apps[x]["cost"] for _, x in pairs if x == a)}
                 for a in apps if a in live_per_app or per_app[a]["adoptions"] or per_app[a]["removals"] or a in {x["id"] for x in listed}},
        "provinces": {p: {"live_installations": live_per_province.get(p, 0), "adopting_regions": len(adopting_per_province.get(p, ())),
                          "regions": sum(1 for t in world.tenants if t["province"] == p),
                          "adoptions": sum(v["adoptions"] for t, v in per_tenant.items() if tenants[t]["province"] == p),
                          "removals": sum(v["removals"] for t, v in per_tenant.items() if tenants[t]["province"] == p),
                          "systems_not_rebuilt": sum(1 for t, _ in pairs if tenants[t]["province"] == p),
                          "cost_avoided_idr": sum(apps[a]["cost"] for t, a in pairs if tenants[t]["province"] == p)}
                      for p in PROVINCES if not province or p == province},
        "months": {m: (adoptions_by_month.get(m, 0), removals_by_month.get(m, 0)) for m in set(adoptions_by_month) | set(removals_by_month)},
        "live": live,
    }
