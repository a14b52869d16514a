"""Adoption statistics, computed from the adoption events (through the installations read
model, `stats.tables.StatsInstallation`) and the catalog.

Definitions (the tests hold every figure to these, computed independently):

- Months are WIB calendar months. A period is a range of months, both ends included; its
  end defaults to the current month and its start to the beginning of the records.
- Flows count what happened inside the period: adoptions (adopted events), removals
  (removed events), systems not rebuilt (distinct region-and-app pairs adopted in the
  period by a region other than the app's publisher; adopting, removing and adopting again
  avoided one build, not two) and the cost avoided (each such pair at the app's declared
  cost to build from scratch).
- Stocks are taken at the end of the period: an installation is live if it was adopted
  at or before the end month and not removed by then. Adopting regions run at least one.
- Version freshness is measured now, whatever the period (the catalog knows only the
  current latest version): the installations live now, on their app's latest version, or
  two or more minor versions behind it (an older major version counts as behind too).
- Filters: the province is the adopting region's; the category and the publisher are the
  app's. Catalog counts (apps, publishing regions) follow category and publisher only.

Who sees what: Kominfo staff and platform admins see everything. Anyone else with the
`stats:read` right sees the public per-app counts (live installations, adopting regions),
their own regions' pages and, for a publishing region, the reach of its own apps.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from catalog.categories import CATEGORIES, category_label
from catalog.tables import App
from marketplace.errors import NotFound, PermissionDenied, ValidationFailed
from stats.schemas import (
    AppRow,
    CategoryRow,
    Dashboard,
    Filters,
    FreshnessRow,
    InstalledRow,
    MonthRow,
    Period,
    ProvinceRow,
    PublisherRow,
    PublisherStats,
    ReachRow,
    RegionStats,
    Summary,
    VersionRow,
)
from stats.tables import StatsInstallation
from tenants.principal import Principal
from tenants.tables import Tenant

WIB = timezone(timedelta(hours=7))
MAX_MONTHS = 240  # a period of at most twenty years
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# -- months ----------------------------------------------------------------------------


def month_of(moment: datetime) -> int:
    """The WIB calendar month of a moment, as YYYYMM."""
    local = moment.astimezone(WIB)
    return local.year * 100 + local.month


def current_month() -> int:
    return month_of(datetime.now(timezone.utc))


def month_text(month: int) -> str:
    return f"{month // 100:04d}-{month % 100:02d}"


def next_month(month: int) -> int:
    year, m = divmod(month, 100)
    return (year + 1) * 100 + 1 if m == 12 else month + 1


def months_between(first: int, last: int) -> list[int]:
    out = []
    month = first
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def parse_month(text: str, field_name: str) -> int:
    match = _MONTH.match(text.strip()[:20])
    if not match or not (2000 <= int(match[1]) <= 2100 and 1 <= int(match[2]) <= 12):
        raise ValidationFailed("bad month", errors=[{"field": field_name, "message": "a month such as 2026-11"}])
    return int(match[1]) * 100 + int(match[2])


# -- filters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatsFilter:
    """What the figures cover. Build it with :func:`make_filter`, which validates."""

    since: int | None = None
    until: int | None = None
    province: str = ""
    category: str = ""
    publisher: str = ""

    @property
    def end(self) -> int:
        return self.until or current_month()

    @property
    def start(self) -> int:
        return self.since or 0

    @property
    def narrows_adopters(self) -> bool:
        return bool(self.since or self.until or self.province)

    def describe(self) -> Filters:
        period = Period(from_month=month_text(self.since) if self.since else None, to_month=month_text(self.end))
        return Filters(period=period, province=self.province, category=self.category, publisher=self.publisher)


def make_filter(
    since: str | None = None, until: str | None = None, province: str = "", category: str = "", publisher: str = ""
) -> StatsFilter:
    """Check the filters' form (existence of the province and publisher is checked later)."""
    start = parse_month(since, "from") if since else None
    end = parse_month(until, "to") if until else None
    if start and end and start > end:
        raise ValidationFailed("bad period", errors=[{"field": "from", "message": "the period starts after it ends"}])
    if start and len(months_between(start, end or max(start, current_month()))) > MAX_MONTHS:
        raise ValidationFailed("bad period", errors=[{"field": "from", "message": "a period of at most 20 years"}])
    category = category.strip()
    if category and category not in CATEGORIES:
        raise ValidationFailed("bad category", errors=[{"field": "category", "message": "not an SPBE category"}])
    return StatsFilter(since=start, until=end, province=province.strip(), category=category, publisher=publisher.strip())


# -- access ----------------------------------------------------------------------------


def sees_everything(principal: Principal) -> bool:
    """Kominfo staff and platform admins read every region's figures."""
    return principal.is_ministry_staff or principal.is_platform_admin


def _require_everything(principal: Principal) -> None:
    if not sees_everything(principal):
        raise PermissionDenied("only Kominfo staff and platform admins see cross-region statistics")


# -- the catalog and the regions, as the figures need them ------------------------------


@dataclass
class _Catalog:
    apps: dict[int, dict[str, Any]]
    tenants: dict[int, dict[str, Any]]
    by_slug: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    async def load(cls) -> _Catalog:
        apps = await App.select(
            App.id, App.slug, App.name, App.category, App.publisher, App.cost_estimate_idr, App.latest_version
        )
        tenants = await Tenant.select(Tenant.id, Tenant.slug, Tenant.name, Tenant.kind, Tenant.province)
        catalog = cls(apps={a["id"]: a for a in apps}, tenants={t["id"]: t for t in tenants})
        catalog.by_slug = {t["slug"]: t for t in tenants}
        return catalog

    def tenant_slug(self, tenant_id: int) -> str:
        tenant = self.tenants.get(tenant_id)
        return tenant["slug"] if tenant else ""

    def tenant_name(self, tenant_id: int) -> str:
        tenant = self.tenants.get(tenant_id)
        return tenant["name"] if tenant else ""

    def provinces(self) -> list[str]:
        return sorted({t["province"] for t in self.tenants.values() if t["province"]})


@lru_cache(maxsize=4096)  # a few thousand distinct versions, parsed for every live installation
def _version_key(version: str) -> tuple[int, int] | None:
    parts = version.split("-", 1)[0].split("+", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def behind_two_minor(version: str, latest: str) -> bool:
    """Two or more minor versions behind the latest, or on an older major version."""
    have, want = _version_key(version), _version_key(latest)
    if have is None or want is None:
        return False
    return want[0] > have[0] or (want[0] == have[0] and want[1] - have[1] >= 2)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


# -- the figures -----------------------------------------------------------------------


class _Figures:
    """The aggregate queries for one filter, each run at most once."""

    def __init__(self, flt: StatsFilter, catalog: _Catalog, *, tenant_id: int | None = None):
        self.flt = flt
        self.catalog = catalog
        self.end = flt.end
        self.start = flt.start
        conditions: list[str] = []
        self.args: list[Any] = []
        if flt.province:
            conditions.append("s.tenant IN (SELECT t.id FROM tenant t WHERE t.province = {})")
            self.args.append(flt.province)
        if flt.category:
            conditions.append("s.app IN (SELECT a.id FROM app a WHERE a.category = {})")
            self.args.append(flt.category)
        if flt.publisher:
            publisher = catalog.by_slug.get(flt.publisher)
            conditions.append(f"s.app IN (SELECT a.id FROM app a WHERE a.publisher = {int(publisher['id']) if publisher else 0})")
        if tenant_id is not None:
            conditions.append(f"s.tenant = {int(tenant_id)}")
        self.where = " AND ".join(conditions) or "1 = 1"
        # Months are validated integers, written into the SQL as literals.
        self.live = f"(s.adopted_month <= {self.end} AND (s.removed_month IS NULL OR s.removed_month > {self.end}))"
        self.adopted_in = f"(s.adopted_month BETWEEN {self.start} AND {self.end})"
        self.removed_in = f"(s.removed_month BETWEEN {self.start} AND {self.end})"
        self._cache: dict[str, Any] = {}

    async def _raw(self, sql: str) -> list[dict[str, Any]]:
        return await StatsInstallation.raw(sql, *self.args)

    async def _once(self, key: str, sql: str) -> list[dict[str, Any]]:
        if key not in self._cache:
            self._cache[key] = await self._raw(sql)
        return self._cache[key]

    async def _reach(self) -> dict[str, dict[int, dict[str, int]]]:
        """Per app, per adopting region and per publisher, from one scan of the read model.

        The inner query folds installations into region-and-app pairs, so "distinct
        regions" and "distinct apps" become plain sums over pairs (no `COUNT(DISTINCT)` over
        the installations); the three groupings then read only the pairs.
        """
        rows = await self._once(
            "reach",
            "WITH p AS MATERIALIZED (SELECT s.app AS app, s.tenant AS tenant, "
            f"SUM(CASE WHEN {self.live} THEN 1 ELSE 0 END) AS live, "
            f"SUM(CASE WHEN {self.adopted_in} THEN 1 ELSE 0 END) AS adoptions, "
            f"SUM(CASE WHEN {self.removed_in} THEN 1 ELSE 0 END) AS removals, "
            f"MAX(CASE WHEN {self.adopted_in} AND s.by_other_region THEN 1 ELSE 0 END) AS not_rebuilt, "
            f"MAX(CASE WHEN {self.live} AND s.by_other_region THEN 1 ELSE 0 END) AS reached "
            f"FROM stats_installation s WHERE s.adopted_month <= {self.end} AND {self.where} GROUP BY s.app, s.tenant) "
            "SELECT 'app' AS kind, p.app AS key, SUM(p.live) AS live, SUM(CASE WHEN p.live > 0 THEN 1 ELSE 0 END) AS spread, "
            "SUM(p.adoptions) AS adoptions, SUM(p.removals) AS removals, SUM(p.not_rebuilt) AS not_rebuilt, 0 AS cost, "
            "0 AS provinces FROM p GROUP BY p.app "
            "UNION ALL SELECT 'tenant', p.tenant, SUM(p.live), SUM(CASE WHEN p.live > 0 THEN 1 ELSE 0 END), "
            "SUM(p.adoptions), SUM(p.removals), SUM(p.not_rebuilt), "
            "SUM(CASE WHEN p.not_rebuilt = 1 THEN a.cost_estimate_idr END), 0 "
            "FROM p LEFT JOIN app a ON a.id = p.app GROUP BY p.tenant "
            "UNION ALL SELECT 'publisher', a.publisher, 0, COUNT(DISTINCT p.tenant), 0, 0, 0, 0, COUNT(DISTINCT t.province) "
            "FROM p JOIN app a ON a.id = p.app JOIN tenant t ON t.id = p.tenant WHERE p.reached = 1 GROUP BY a.publisher",
        )
        if "reach_split" not in self._cache:
            split: dict[str, dict[int, dict[str, int]]] = {"app": {}, "tenant": {}, "publisher": {}}
            for r in rows:
                split[r["kind"]][r["key"]] = {**_ints(r), "provinces": int(r["provinces"] or 0)}
            self._cache["reach_split"] = split
        return self._cache["reach_split"]

    async def per_app(self) -> dict[int, dict[str, int]]:
        if "reach" in self._cache:  # already folded by the query that serves the regions too
            return (await self._reach())["app"]
        rows = await self._once(
            "app",
            "SELECT s.app AS key, "
            f"SUM(CASE WHEN {self.live} THEN 1 ELSE 0 END) AS live, "
            f"COUNT(DISTINCT CASE WHEN {self.live} THEN s.tenant END) AS spread, "
            f"SUM(CASE WHEN {self.adopted_in} THEN 1 ELSE 0 END) AS adoptions, "
            f"SUM(CASE WHEN {self.removed_in} THEN 1 ELSE 0 END) AS removals, "
            f"COUNT(DISTINCT CASE WHEN {self.adopted_in} AND s.by_other_region THEN s.tenant END) AS not_rebuilt "
            f"FROM stats_installation s WHERE s.adopted_month <= {self.end} AND {self.where} GROUP BY s.app",
        )
        return {r["key"]: _ints(r) for r in rows}

    async def adopting_regions(self) -> int:
        """Regions running at least one installation at the end of the period."""
        if "reach" in self._cache:
            return sum(1 for f in (await self._reach())["tenant"].values() if f["live"] > 0)
        rows = await self._once(
            "adopting", f"SELECT COUNT(DISTINCT s.tenant) AS n FROM stats_installation s WHERE {self.live} AND {self.where}"
        )
        return int(rows[0]["n"] or 0) if rows else 0

    async def per_tenant(self) -> dict[int, dict[str, int]]:
        return (await self._reach())["tenant"]

    async def per_tenant_with_cost(self) -> dict[int, dict[str, int]]:
        return (await self._reach())["tenant"]

    async def adoptions_this_month(self) -> int:
        month = current_month()
        rows = await self._once(
            "this_month", f"SELECT COUNT(*) AS n FROM stats_installation s WHERE s.adopted_month = {month} AND {self.where}"
        )
        return int(rows[0]["n"]) if rows else 0

    async def monthly(self) -> tuple[dict[int, int], dict[int, int]]:
        adopted = await self._once(
            "adopted_months",
            f"SELECT s.adopted_month AS month, COUNT(*) AS n FROM stats_installation s WHERE {self.adopted_in} "
            f"AND {self.where} GROUP BY s.adopted_month",
        )
        removed = await self._once(
            "removed_months",
            f"SELECT s.removed_month AS month, COUNT(*) AS n FROM stats_installation s WHERE {self.removed_in} "
            f"AND {self.where} GROUP BY s.removed_month",
        )
        return {r["month"]: int(r["n"]) for r in adopted}, {r["month"]: int(r["n"]) for r in removed}

    async def live_versions(self) -> list[dict[str, Any]]:
        """Installations live now, per app and version (freshness is measured now)."""
        return await self._once(
            "versions",
            f"SELECT s.app AS app, s.version AS version, COUNT(*) AS n FROM stats_installation s "
            f"WHERE s.removed_month IS NULL AND {self.where} GROUP BY s.app, s.version",
        )

    async def publisher_reach(self) -> dict[int, tuple[int, int]]:
        """Per publisher: regions other than the publisher running its apps, and their provinces."""
        return {k: (f["spread"], f["provinces"]) for k, f in (await self._reach())["publisher"].items()}


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {
        "live": int(row["live"] or 0),
        "spread": int(row["spread"] or 0),
        "adoptions": int(row["adoptions"] or 0),
        "removals": int(row["removals"] or 0),
        "not_rebuilt": int(row["not_rebuilt"] or 0),
        "cost": int(row.get("cost") or 0),
    }


_EMPTY = {"live": 0, "spread": 0, "adoptions": 0, "removals": 0, "not_rebuilt": 0, "cost": 0}


class StatsService:
    """Every figure of the statistics pages, API and exports.

    Query results are kept per filter for as long as the data they come from is unchanged:
    the key holds the newest adoption event, the catalog's last change and the regions, so
    a new event or a new latest version is seen by the very next request. `cache_size` 0
    turns the cache off (every request computes everything).
    """

    def __init__(self, cache_size: int = 64):
        self.cache_size = cache_size
        self._figures: OrderedDict[tuple[Any, ...], _Figures] = OrderedDict()
        self._catalog: tuple[tuple[Any, ...], _Catalog] | None = None

    async def data_version(self) -> tuple[Any, ...]:
        """What the figures depend on, read cheaply; any change means new figures."""
        row = (await StatsInstallation.raw(
            "SELECT (SELECT MAX(id) FROM adoption_event) AS events, (SELECT MAX(updated_at) FROM app) AS apps, "
            "(SELECT COUNT(*) FROM app WHERE latest_version <> '') AS listed, (SELECT COUNT(*) FROM tenant) AS tenants, "
            "(SELECT MAX(id) FROM tenant) AS last_tenant"
        ))[0]
        return (row["events"], str(row["apps"]), row["listed"], row["tenants"], row["last_tenant"], current_month())

    async def _load(self, version: tuple[Any, ...]) -> _Catalog:
        if self.cache_size and self._catalog is not None and self._catalog[0] == version:
            return self._catalog[1]
        catalog = await _Catalog.load()
        self._catalog = (version, catalog)
        return catalog

    async def _figures_for(self, flt: StatsFilter) -> tuple[_Catalog, _Figures]:
        version = await self.data_version()
        catalog = await self._load(version)
        self._check(flt, catalog)
        key = (flt, flt.end, version)
        figures = self._figures.get(key) if self.cache_size else None
        if figures is None:
            figures = _Figures(flt, catalog)
            if self.cache_size:
                self._figures[key] = figures
                while len(self._figures) > self.cache_size:
                    self._figures.popitem(last=False)
        else:
            self._figures.move_to_end(key)
        return figures.catalog, figures

    def _check(self, flt: StatsFilter, catalog: _Catalog) -> None:
        errors = []
        if flt.province and flt.province not in catalog.provinces():
            errors.append({"field": "province", "message": "no region is in this province"})
        if flt.publisher and flt.publisher not in catalog.by_slug:
            errors.append({"field": "publisher", "message": "no such publisher"})
        if errors:
            raise ValidationFailed("bad filter", errors=errors)

    def _catalog_apps(self, flt: StatsFilter, catalog: _Catalog) -> list[dict[str, Any]]:
        publisher = catalog.by_slug.get(flt.publisher)
        return [
            a for a in catalog.apps.values()
            if a["latest_version"]
            and (not flt.category or a["category"] == flt.category)
            and (publisher is None or a["publisher"] == publisher["id"])
        ]

    # -- the ministry's view -----------------------------------------------------------

    async def dashboard(self, principal: Principal, flt: StatsFilter) -> Dashboard:
        """Everything on Kominfo's dashboard, from one set of queries."""
        _require_everything(principal)
        catalog, figures = await self._figures_for(flt)
        # Independent queries, each on its own pooled connection: the database works on them
        # at once. The first folds per app, per region and per publisher from one scan.
        await asyncio.gather(figures.per_tenant(), figures.live_versions(), figures.monthly(),
                             figures.adoptions_this_month())
        freshness = await self._freshness(catalog, figures)
        return Dashboard(
            summary=await self._summary(flt, catalog, figures, freshness),
            apps=await self._apps(flt, catalog, figures, full=True),
            categories=await self._categories(flt, catalog, figures),
            provinces=await self._provinces(flt, catalog, figures),
            months=await self._months(flt, figures),
            freshness=freshness,
            publishers=await self._publishers(flt, catalog, figures),
        )

    async def summary(self, principal: Principal, flt: StatsFilter) -> Summary:
        _require_everything(principal)
        catalog, figures = await self._figures_for(flt)
        await asyncio.gather(figures.per_app(), figures.adopting_regions(), figures.live_versions(),
                             figures.adoptions_this_month())
        return await self._summary(flt, catalog, figures)

    async def categories(self, principal: Principal, flt: StatsFilter) -> list[CategoryRow]:
        _require_everything(principal)
        catalog, figures = await self._figures_for(flt)
        return await self._categories(flt, catalog, figures)

    async def provinces(self, principal: Principal, flt: StatsFilter) -> list[ProvinceRow]:
        _require_everything(principal)
        catalog, figures = await self._figures_for(flt)
        return await self._provinces(flt, catalog, figures)

    async def months(self, principal: Principal, flt: StatsFilter) -> list[MonthRow]:
        _require_everything(principal)
        catalog, figures = await self._figures_for(flt)
        return await self._months(flt, figures)

    async def freshness(self, principal: Principal, flt: StatsFilter) -> list[FreshnessRow]:
        _require_everything(principal)
        catalog, figures = await self._figures_for(flt)
        return await self._freshness(catalog, figures)

    async def publishers(self, principal: Principal, flt: StatsFilter) -> list[PublisherRow]:
        _require_everything(principal)
        catalog, figures = await self._figures_for(flt)
        return await self._publishers(flt, catalog, figures)

    async def apps(self, principal: Principal, flt: StatsFilter) -> list[AppRow]:
        """Adoption per app, ranked. Outside the ministry: the public counts, now, for the
        whole country (filtering by period or province is the ministry's)."""
        full = sees_everything(principal)
        if not full and flt.narrows_adopters:
            raise PermissionDenied("only Kominfo staff and platform admins filter by period or province")
        catalog, figures = await self._figures_for(flt)
        return await self._apps(flt, catalog, figures, full=full)

    async def _summary(self, flt: StatsFilter, catalog: _Catalog, figures: _Figures,
                       fresh: list[FreshnessRow] | None = None) -> Summary:
        listed = self._catalog_apps(flt, catalog)
        per_app = await figures.per_app()
        if fresh is None:
            fresh = await self._freshness(catalog, figures)
        live = sum(f["live"] for f in per_app.values())
        with_latest = sum(r.live_installations for r in fresh)
        on_latest = sum(r.on_latest for r in fresh)
        return Summary(
            filters=flt.describe(),
            apps_in_catalog=len(listed),
            publishing_regions=len({a["publisher"] for a in listed}),
            adopting_regions=await figures.adopting_regions(),
            live_installations=live,
            adoptions_this_month=await figures.adoptions_this_month(),
            adoptions=sum(f["adoptions"] for f in per_app.values()),
            removals=sum(f["removals"] for f in per_app.values()),
            systems_not_rebuilt=sum(f["not_rebuilt"] for f in per_app.values()),
            cost_avoided_idr=sum(f["not_rebuilt"] * int(catalog.apps[a]["cost_estimate_idr"] or 0)
                                 for a, f in per_app.items() if a in catalog.apps),
            on_latest=on_latest,
            on_latest_share=_share(on_latest, with_latest),
            behind_two_minor=sum(r.behind_two_minor for r in fresh),
        )

    async def _apps(self, flt: StatsFilter, catalog: _Catalog, figures: _Figures, *, full: bool) -> list[AppRow]:
        per_app = await figures.per_app()
        ids = set(per_app) | {a["id"] for a in self._catalog_apps(flt, catalog)}
        rows = []
        for app_id in ids:
            app = catalog.apps.get(app_id)
            if app is None:
                continue
            f = per_app.get(app_id, _EMPTY)
            cost = f["not_rebuilt"] * int(app["cost_estimate_idr"] or 0)
            rows.append(AppRow(
                rank=0, slug=app["slug"], name=app["name"], category=app["category"],
                publisher=catalog.tenant_slug(app["publisher"]), publisher_name=catalog.tenant_name(app["publisher"]),
                live_installations=f["live"], adopting_regions=f["spread"],
                adoptions=f["adoptions"] if full else None, removals=f["removals"] if full else None,
                systems_not_rebuilt=f["not_rebuilt"] if full else None, cost_avoided_idr=cost if full else None,
            ))
        rows.sort(key=lambda r: (-r.live_installations, -(r.adoptions or 0), -r.adopting_regions, r.name, r.slug))
        for rank, row in enumerate(rows, 1):
            row.rank = rank
        return rows

    async def _categories(self, flt: StatsFilter, catalog: _Catalog, figures: _Figures) -> list[CategoryRow]:
        per_app = await figures.per_app()
        listed = defaultdict(int)
        for app in self._catalog_apps(flt, catalog):
            listed[app["category"]] += 1
        totals: dict[str, dict[str, int]] = {key: dict(_EMPTY) for key in CATEGORIES if not flt.category or key == flt.category}
        for app_id, f in per_app.items():
            app = catalog.apps.get(app_id)
            if app is None:
                continue
            t = totals.setdefault(app["category"], dict(_EMPTY))
            for key in ("live", "adoptions", "removals", "not_rebuilt"):
                t[key] += f[key]
            t["cost"] += f["not_rebuilt"] * int(app["cost_estimate_idr"] or 0)
        rows = [
            CategoryRow(category=key, label=category_label(key), apps=listed.get(key, 0), live_installations=t["live"],
                        adoptions=t["adoptions"], removals=t["removals"], systems_not_rebuilt=t["not_rebuilt"],
                        cost_avoided_idr=t["cost"])
            for key, t in totals.items()
        ]
        rows.sort(key=lambda r: (-r.live_installations, -r.adoptions, r.category))
        return rows

    async def _provinces(self, flt: StatsFilter, catalog: _Catalog, figures: _Figures) -> list[ProvinceRow]:
        per_tenant = await figures.per_tenant_with_cost()
        totals: dict[str, dict[str, int]] = {}
        for tenant in catalog.tenants.values():
            province = tenant["province"]
            if not province or (flt.province and province != flt.province):
                continue
            t = totals.setdefault(province, {**_EMPTY, "regions": 0, "adopting": 0})
            t["regions"] += 1
            f = per_tenant.get(tenant["id"])
            if f is None:
                continue
            t["adopting"] += 1 if f["live"] > 0 else 0
            for key in ("live", "adoptions", "removals", "not_rebuilt", "cost"):
                t[key] += f[key]
        rows = [
            ProvinceRow(province=p, regions=t["regions"], adopting_regions=t["adopting"], live_installations=t["live"],
                        adoptions=t["adoptions"], removals=t["removals"], systems_not_rebuilt=t["not_rebuilt"],
                        cost_avoided_idr=t["cost"])
            for p, t in totals.items()
        ]
        rows.sort(key=lambda r: (-r.live_installations, -r.adoptions, r.province))
        return rows

    async def _months(self, flt: StatsFilter, figures: _Figures) -> list[MonthRow]:
        adopted, removed = await figures.monthly()
        first = flt.since or min([*adopted, *removed], default=flt.end)
        return [
            MonthRow(month=month_text(m), adoptions=adopted.get(m, 0), removals=removed.get(m, 0),
                     net=adopted.get(m, 0) - removed.get(m, 0))
            for m in months_between(min(first, flt.end), flt.end)
        ]

    async def _freshness(self, catalog: _Catalog, figures: _Figures) -> list[FreshnessRow]:
        totals: dict[int, list[int]] = {}
        for row in await figures.live_versions():
            app = catalog.apps.get(row["app"])
            if app is None or not app["latest_version"]:
                continue  # nothing to be current with
            t = totals.setdefault(row["app"], [0, 0, 0])
            n = int(row["n"])
            t[0] += n
            if row["version"] == app["latest_version"]:
                t[1] += n
            elif behind_two_minor(row["version"], app["latest_version"]):
                t[2] += n
        rows = [
            FreshnessRow(slug=catalog.apps[a]["slug"], name=catalog.apps[a]["name"],
                         latest_version=catalog.apps[a]["latest_version"], live_installations=t[0], on_latest=t[1],
                         on_latest_share=_share(t[1], t[0]), behind_two_minor=t[2])
            for a, t in totals.items()
        ]
        rows.sort(key=lambda r: (-r.live_installations, r.slug))
        return rows

    async def _publishers(self, flt: StatsFilter, catalog: _Catalog, figures: _Figures) -> list[PublisherRow]:
        reach = await figures.publisher_reach()
        per_app = await figures.per_app()
        totals: dict[int, dict[str, int]] = {}
        for app in catalog.apps.values():
            f = per_app.get(app["id"])
            listed = bool(app["latest_version"]) and (not flt.category or app["category"] == flt.category)
            if f is None and not listed:
                continue
            if flt.publisher and catalog.tenant_slug(app["publisher"]) != flt.publisher:
                continue
            t = totals.setdefault(app["publisher"], {**_EMPTY, "apps": 0})
            t["apps"] += 1 if listed else 0
            if f is not None:
                t["live"] += f["live"]
                t["not_rebuilt"] += f["not_rebuilt"]
                t["cost"] += f["not_rebuilt"] * int(app["cost_estimate_idr"] or 0)
        rows = []
        for tenant_id, t in totals.items():
            tenant = catalog.tenants.get(tenant_id, {})
            regions, provinces = reach.get(tenant_id, (0, 0))
            rows.append(PublisherRow(
                slug=tenant.get("slug", ""), name=tenant.get("name", ""), province=tenant.get("province", ""), apps=t["apps"],
                live_installations=t["live"], regions_reached=regions, provinces_reached=provinces,
                systems_not_rebuilt=t["not_rebuilt"], cost_avoided_idr=t["cost"],
            ))
        rows.sort(key=lambda r: (-r.regions_reached, -r.live_installations, r.slug))
        return rows

    # -- one region, one publisher ------------------------------------------------------

    async def _visible_tenant(self, principal: Principal, catalog: _Catalog, slug: str) -> dict[str, Any]:
        tenant = catalog.by_slug.get(slug)
        if tenant is None or not (sees_everything(principal) or principal.role_in(tenant["id"]) is not None):
            raise NotFound("no such region")
        return tenant

    async def region(self, principal: Principal, slug: str) -> RegionStats:
        """What a region runs now, what it publishes, and how current its installations are."""
        catalog = await self._load(await self.data_version())
        tenant = await self._visible_tenant(principal, catalog, slug)
        rows = await StatsInstallation.raw(
            "SELECT s.app AS app, s.version AS version, s.adopted_at AS adopted_at FROM stats_installation s "
            "WHERE s.tenant = {} AND s.removed_at IS NULL ORDER BY s.adopted_at, s.installation",
            tenant["id"],
        )
        runs = []
        for row in rows:
            app = catalog.apps.get(row["app"])
            if app is None:
                continue
            latest = app["latest_version"]
            adopted = row["adopted_at"]
            runs.append(InstalledRow(
                app=app["slug"], name=app["name"], publisher=catalog.tenant_slug(app["publisher"]), version=row["version"],
                latest_version=latest, on_latest=bool(latest) and row["version"] == latest,
                behind_two_minor=bool(latest) and behind_two_minor(row["version"], latest),
                adopted_at=adopted.astimezone(WIB).date().isoformat() if isinstance(adopted, datetime) else str(adopted)[:10],
            ))
        own = StatsFilter(publisher=slug)
        _, figures = await self._figures_for(own)
        publishes = await self._apps(own, catalog, figures, full=True)
        with_latest = [r for r in runs if r.latest_version]
        on_latest = sum(r.on_latest for r in with_latest)
        return RegionStats(
            slug=tenant["slug"], name=tenant["name"], kind=tenant["kind"], province=tenant["province"],
            live_installations=len(runs), on_latest=on_latest, on_latest_share=_share(on_latest, len(with_latest)),
            behind_two_minor=sum(r.behind_two_minor for r in runs), runs=runs, publishes=publishes,
        )

    async def publisher(self, principal: Principal, slug: str) -> PublisherStats:
        """The reach of one publisher's apps: per app, per province, per version."""
        catalog = await self._load(await self.data_version())
        tenant = await self._visible_tenant(principal, catalog, slug)
        flt = StatsFilter(publisher=slug)
        _, figures = await self._figures_for(flt)
        per_tenant = await figures.per_tenant()
        apps = await self._apps(flt, catalog, figures, full=True)
        reach: dict[str, list[int]] = {}
        for tenant_id, f in per_tenant.items():
            region = catalog.tenants.get(tenant_id)
            if region is None or f["live"] == 0:
                continue
            r = reach.setdefault(region["province"] or "–", [0, 0])
            r[0] += 1
            r[1] += f["live"]
        versions = []
        for row in await figures.live_versions():
            app = catalog.apps.get(row["app"])
            if app is None:
                continue
            versions.append(VersionRow(app=app["slug"], version=row["version"], live_installations=int(row["n"]),
                                       is_latest=row["version"] == app["latest_version"]))
        versions.sort(key=lambda v: (v.app, [-(x or 0) for x in (_version_key(v.version) or (0, 0))], v.version))
        return PublisherStats(
            slug=tenant["slug"], name=tenant["name"], province=tenant["province"], apps=apps,
            provinces=sorted((ReachRow(province=p, regions=r[0], live_installations=r[1]) for p, r in reach.items()),
                             key=lambda r: (-r.regions, r.province)),
            versions=versions,
        )

    async def choices(self) -> dict[str, Any]:
        """What the filters offer: provinces, categories, publishers of listed apps."""
        catalog = await self._load(await self.data_version())
        publishers = {a["publisher"] for a in catalog.apps.values() if a["latest_version"]}
        return {
            "provinces": catalog.provinces(),
            "categories": list(CATEGORIES),
            "publishers": sorted(
                ({"slug": catalog.tenant_slug(p), "name": catalog.tenant_name(p)} for p in publishers if p in catalog.tenants),
                key=lambda p: p["name"],
            ),
        }
