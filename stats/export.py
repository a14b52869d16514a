"""CSV exports of the statistics tables: the same rows the pages show, every one of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import msgspec

# table -> its columns, in order (the API's field names)
COLUMNS: dict[str, tuple[str, ...]] = {
    "apps": ("rank", "slug", "name", "category", "publisher", "live_installations", "adopting_regions", "adoptions",
             "removals", "systems_not_rebuilt", "cost_avoided_idr"),
    "apps-public": ("rank", "slug", "name", "category", "publisher", "live_installations", "adopting_regions"),
    "categories": ("category", "label", "apps", "live_installations", "adoptions", "removals", "systems_not_rebuilt",
                   "cost_avoided_idr"),
    "provinces": ("province", "regions", "adopting_regions", "live_installations", "adoptions", "removals",
                  "systems_not_rebuilt", "cost_avoided_idr"),
    "months": ("month", "adoptions", "removals", "net"),
    "freshness": ("slug", "name", "latest_version", "live_installations", "on_latest", "on_latest_share",
                  "behind_two_minor"),
    "publishers": ("slug", "name", "province", "apps", "live_installations", "regions_reached", "provinces_reached",
                   "systems_not_rebuilt", "cost_avoided_idr"),
    "region-installations": ("app", "name", "publisher", "version", "latest_version", "on_latest", "behind_two_minor",
                             "adopted_at"),
    "publisher-provinces": ("province", "regions", "live_installations"),
    "publisher-versions": ("app", "version", "live_installations", "is_latest"),
}
COLUMNS["region-apps"] = COLUMNS["apps"]
COLUMNS["publisher-apps"] = COLUMNS["apps"]


def safe_cell(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas; quote them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(table: str, rows: Sequence[msgspec.Struct]) -> str:
    columns = COLUMNS[table]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(getattr(row, column)) for column in columns])
    return out.getvalue()
