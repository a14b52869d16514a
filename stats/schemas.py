"""What the statistics API answers (and the pages and CSV exports show)."""

from __future__ import annotations

import msgspec


class Period(msgspec.Struct):
    """Calendar months in WIB, both ends included; `from_month` None means since the start."""

    from_month: str | None
    to_month: str


class Filters(msgspec.Struct):
    period: Period
    province: str
    category: str
    publisher: str


class Summary(msgspec.Struct):
    filters: Filters
    apps_in_catalog: int
    publishing_regions: int
    adopting_regions: int
    live_installations: int
    adoptions_this_month: int
    adoptions: int
    removals: int
    # Distinct (region, app) pairs adopted in the period by a region other than the publisher.
    systems_not_rebuilt: int
    cost_avoided_idr: int
    on_latest: int
    on_latest_share: float
    behind_two_minor: int


class AppRow(msgspec.Struct, omit_defaults=True):
    """One app's adoption. A tenant's view carries only the public counts (the others are None)."""

    rank: int
    slug: str
    name: str
    category: str
    publisher: str
    publisher_name: str
    live_installations: int
    adopting_regions: int
    adoptions: int | None = None
    removals: int | None = None
    systems_not_rebuilt: int | None = None
    cost_avoided_idr: int | None = None


class CategoryRow(msgspec.Struct):
    category: str
    label: str
    apps: int
    live_installations: int
    adoptions: int
    removals: int
    systems_not_rebuilt: int
    cost_avoided_idr: int


class ProvinceRow(msgspec.Struct):
    province: str
    regions: int
    adopting_regions: int
    live_installations: int
    adoptions: int
    removals: int
    systems_not_rebuilt: int
    cost_avoided_idr: int


class MonthRow(msgspec.Struct):
    month: str
    adoptions: int
    removals: int
    net: int


class FreshnessRow(msgspec.Struct):
    slug: str
    name: str
    latest_version: str
    live_installations: int
    on_latest: int
    on_latest_share: float
    behind_two_minor: int


class PublisherRow(msgspec.Struct):
    slug: str
    name: str
    province: str
    apps: int
    live_installations: int
    regions_reached: int
    provinces_reached: int
    systems_not_rebuilt: int
    cost_avoided_idr: int


class Dashboard(msgspec.Struct):
    summary: Summary
    apps: list[AppRow]
    categories: list[CategoryRow]
    provinces: list[ProvinceRow]
    months: list[MonthRow]
    freshness: list[FreshnessRow]
    publishers: list[PublisherRow]


class InstalledRow(msgspec.Struct):
    app: str
    name: str
    publisher: str
    version: str
    latest_version: str
    on_latest: bool
    behind_two_minor: bool
    adopted_at: str


class RegionStats(msgspec.Struct):
    """What one region runs, what it publishes, and how current it is."""

    slug: str
    name: str
    kind: str
    province: str
    live_installations: int
    on_latest: int
    on_latest_share: float
    behind_two_minor: int
    runs: list[InstalledRow]
    publishes: list[AppRow]


class ReachRow(msgspec.Struct):
    province: str
    regions: int
    live_installations: int


class VersionRow(msgspec.Struct):
    app: str
    version: str
    live_installations: int
    is_latest: bool


class PublisherStats(msgspec.Struct):
    """The reach of one publisher's apps: where they run, at which versions."""

    slug: str
    name: str
    province: str
    apps: list[AppRow]
    provinces: list[ReachRow]
    versions: list[VersionRow]
