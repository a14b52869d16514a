"""The statistics API: `/api/v1/stats/...`, for tokens with the `stats:read` scope."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from marketplace.params import TenantSlug
from marketplace.problems import problem_responses
from marketplace.settings import Settings
from stats.schemas import (
    AppRow,
    CategoryRow,
    FreshnessRow,
    MonthRow,
    ProvinceRow,
    PublisherRow,
    PublisherStats,
    RegionStats,
    Summary,
)
from stats.services import StatsFilter, StatsService, make_filter

_SERVICES: dict[bool, StatsService] = {}


def provide_stats(settings: NamedDependency[Settings]) -> StatsService:
    """One service per process, so its cache serves every request."""
    if settings.stats_cache not in _SERVICES:
        _SERVICES[settings.stats_cache] = StatsService(cache_size=64 if settings.stats_cache else 0)
    return _SERVICES[settings.stats_cache]


def stats_filter(
    since: Annotated[str | None, QueryParameter(name="from", description="First month, YYYY-MM (WIB)")] = None,
    until: Annotated[str | None, QueryParameter(name="to", description="Last month, YYYY-MM (WIB)")] = None,
    province: Annotated[str, QueryParameter(name="province", max_length=120, description="The adopting region's province")] = "",
    category: Annotated[str, QueryParameter(name="category", max_length=60, description="SPBE category key")] = "",
    publisher: Annotated[str, QueryParameter(name="publisher", max_length=80, description="Publishing tenant's slug")] = "",
) -> StatsFilter:
    """The figures' filter, from the query string (API, pages and CSV share it)."""
    return make_filter(since or None, until or None, province, category, publisher)


STATS_DEPENDENCIES = {
    "stats": Provide(provide_stats, sync_to_thread=False),
    "flt": Provide(stats_filter, sync_to_thread=False),
}
ACCESS = {"access": "stats"}
# Figures: a bad filter is 422; regions and publishers that are missing or not visible are 404.
ANSWERS = problem_responses()
ONE_ANSWERS = problem_responses(404)



class StatsApiController(Controller):
    path = "/api/v1/stats"
    tags = ["statistics"]
    dependencies = STATS_DEPENDENCIES

    @get("/summary", opt=ACCESS, responses=ANSWERS, summary="Totals: catalog, regions, installations, adoptions, systems not rebuilt, cost avoided")
    async def summary(self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter]) -> Summary:
        return await stats.summary(request.user, flt)

    @get("/apps", opt=ACCESS, responses=ANSWERS, summary="Adoption per app, ranked (outside the ministry: the public counts)")
    async def apps(self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter]) -> list[AppRow]:
        return await stats.apps(request.user, flt)

    @get("/categories", opt=ACCESS, responses=ANSWERS, summary="Adoption per SPBE category")
    async def categories(
        self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter]
    ) -> list[CategoryRow]:
        return await stats.categories(request.user, flt)

    @get("/provinces", opt=ACCESS, responses=ANSWERS, summary="Adoption per province of the adopting regions")
    async def provinces(
        self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter]
    ) -> list[ProvinceRow]:
        return await stats.provinces(request.user, flt)

    @get("/months", opt=ACCESS, responses=ANSWERS, summary="New adoptions, removals and net change per month")
    async def months(self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter]) -> list[MonthRow]:
        return await stats.months(request.user, flt)

    @get("/freshness", opt=ACCESS, responses=ANSWERS, summary="Share of installations on each app's latest version; two or more minor versions behind")
    async def freshness(
        self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter]
    ) -> list[FreshnessRow]:
        return await stats.freshness(request.user, flt)

    @get("/publishers", opt=ACCESS, responses=ANSWERS, summary="Reach of each publisher's apps")
    async def publishers(
        self, request: Request, stats: NamedDependency[StatsService], flt: NamedDependency[StatsFilter]
    ) -> list[PublisherRow]:
        return await stats.publishers(request.user, flt)

    @get("/regions/{slug:str}", opt=ACCESS, responses=ONE_ANSWERS, summary="One region: what it runs, what it publishes, how current it is")
    async def region(self, request: Request, stats: NamedDependency[StatsService], slug: TenantSlug) -> RegionStats:
        return await stats.region(request.user, slug)

    @get("/publishers/{slug:str}", opt=ACCESS, responses=ONE_ANSWERS, summary="One publisher: where its apps run, at which versions")
    async def publisher(self, request: Request, stats: NamedDependency[StatsService], slug: TenantSlug) -> PublisherStats:
        return await stats.publisher(request.user, slug)
