"""Web pages of the statistics: Kominfo's dashboard, a region's page, a publisher's page,
and CSV exports of every table."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from marketplace.errors import NotFound, ValidationFailed
from marketplace import i18n
from marketplace.i18n import gettext_ as _
from marketplace.params import TenantSlug
from stats import charts
from stats.controllers import ACCESS, STATS_DEPENDENCIES
from stats.export import COLUMNS, to_csv
from stats.schemas import Dashboard, PublisherStats
from stats.services import StatsFilter, StatsService, sees_everything

_TABLE_NAMES = ", ".join(sorted(COLUMNS))
# Drawn charts per filter, data version and language (drawing is the page's slowest part).
_CHARTS: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()


def _csv(body: str, name: str) -> Response:
    return Response(
        body, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="lumbung-{name}.csv"'},
    )


def dashboard_charts(board: Dashboard) -> dict[str, Any]:
    """The dashboard's charts, in the interface language."""
    fresh = board.summary
    in_freshness = sum(r.live_installations for r in board.freshness)
    between = in_freshness - fresh.on_latest - fresh.behind_two_minor
    return {
        "apps": charts.ranked_bars(_("Live installations per app"), [r.name for r in board.apps],
                                   [r.live_installations for r in board.apps], _("Live installations")),
        "categories": charts.ranked_bars(_("Live installations per category"), [r.label for r in board.categories],
                                         [r.live_installations for r in board.categories], _("Live installations"),
                                         limit=25),
        "provinces": charts.ranked_bars(_("Live installations per province"), [r.province for r in board.provinces],
                                        [r.live_installations for r in board.provinces], _("Live installations"),
                                        limit=40),
        "months": charts.monthly(_("Adoptions per month"), [r.month for r in board.months],
                                 [r.adoptions for r in board.months], [r.removals for r in board.months],
                                 [r.net for r in board.months], (_("New adoptions"), _("Removals"), _("Net"))),
        "freshness": charts.shares(_("Installations by version freshness"), [
            (_("On the latest version"), fresh.on_latest),
            (_("Less than two minor versions behind"), max(0, between)),
            (_("Two or more minor versions behind"), fresh.behind_two_minor),
        ]),
        "publishers": charts.ranked_bars(_("Regions reached per publisher"), [r.name for r in board.publishers],
                                         [r.regions_reached for r in board.publishers], _("Regions reached")),
    }


class StatsPagesController(Controller):
    path = "/stats"
    include_in_schema = False
    dependencies = STATS_DEPENDENCIES

    @get("/", opt=ACCESS)
    async def dashboard(
        self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter],
        show: Annotated[str, QueryParameter(name="show", max_length=10)] = "",
    ) -> Template:
        """Kominfo's dashboard; anyone else sees the public per-app counts."""
        principal = request.user
        everything = sees_everything(principal)
        if everything:
            choices, version, board = await asyncio.gather(stats.choices(), stats.data_version(),
                                                           stats.dashboard(principal, flt))
        else:
            choices = await stats.choices()
        context: dict[str, Any] = {
            "filter": flt, "query": str(request.url.query or ""), "choices": choices, "show_all": show == "all",
            "everything": everything,
            "own": [m for m in principal.memberships
                    if principal.token_tenant_id is None or m.tenant_id == principal.token_tenant_id],
        }
        if everything:
            key = (flt, flt.end, version, i18n.current_locale.get())
            drawn = _CHARTS.get(key) if stats.cache_size else None
            if drawn is None:
                drawn = dashboard_charts(board)
                if stats.cache_size:
                    _CHARTS[key] = drawn
                    while len(_CHARTS) > 32:
                        _CHARTS.popitem(last=False)
            context.update(board=board, charts=drawn)
        else:
            plain = StatsFilter(category=flt.category, publisher=flt.publisher)
            apps = await stats.apps(principal, plain)
            context.update(apps=apps, chart=charts.ranked_bars(
                _("Live installations per app"), [r.name for r in apps], [r.live_installations for r in apps],
                _("Live installations"),
            ))
        return Template("stats/dashboard.html", context=context)

    @get("/regions/{slug:str}", opt=ACCESS)
    async def region(self, request: Request, stats: NamedDependency[StatsService], slug: TenantSlug) -> Template:
        region = await stats.region(request.user, slug)
        return Template("stats/region.html", context={"region": region})

    @get("/publishers/{slug:str}", opt=ACCESS)
    async def publisher(self, request: Request, stats: NamedDependency[StatsService], slug: TenantSlug) -> Template:
        reach: PublisherStats = await stats.publisher(request.user, slug)
        chart = charts.ranked_bars(_("Regions per province"), [r.province for r in reach.provinces],
                                   [r.regions for r in reach.provinces], _("Regions"), limit=40)
        return Template("stats/publisher.html", context={"reach": reach, "chart": chart})

    @get("/export/{table:str}", opt=ACCESS)
    async def export(
        self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter],
        table: FromPath[str],
        region: Annotated[str, QueryParameter(name="region", max_length=80)] = "",
    ) -> Response:
        """One table as CSV, with the filters of the page it came from."""
        principal = request.user
        if table not in COLUMNS:
            raise NotFound(f"no such table; there are: {_TABLE_NAMES}")
        if table.startswith("region-"):
            if not region:
                raise ValidationFailed("which region?", errors=[{"field": "region", "message": "a region's slug"}])
            data = await stats.region(principal, region)
            rows = data.runs if table == "region-installations" else data.publishes
            return _csv(to_csv(table, rows), f"{table}-{data.slug}")
        if table.startswith("publisher-"):
            if not flt.publisher:
                raise ValidationFailed("which publisher?", errors=[{"field": "publisher", "message": "a publisher's slug"}])
            reach = await stats.publisher(principal, flt.publisher)
            rows = {"publisher-apps": reach.apps, "publisher-provinces": reach.provinces,
                    "publisher-versions": reach.versions}[table]
            return _csv(to_csv(table, rows), f"{table}-{reach.slug}")
        if table in ("apps", "apps-public"):
            rows = await stats.apps(principal, flt)
            return _csv(to_csv("apps" if sees_everything(principal) else "apps-public", rows), "apps")
        method = {"categories": stats.categories, "provinces": stats.provinces, "months": stats.months,
                  "freshness": stats.freshness, "publishers": stats.publishers}[table]
        return _csv(to_csv(table, await method(principal, flt)), table)
