"""Tables of the statistics domain.

`StatsInstallation` is a read model of the adoption events: one row per installation with
when it was adopted and removed (also as WIB calendar months) and the version it runs. The
database keeps it in step with `adoption_event` by triggers (see the migration), so it is
written in the same transaction as each event and never lags; the events themselves are
never changed. `stats.projection.rebuild` recomputes it from the events.
"""

from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Integer, Timestamptz, Varchar
from piccolo.table import Table


class StatsInstallation(Table, tablename="stats_installation"):
    installation = BigInt(unique=True)
    tenant = BigInt()
    app = BigInt()
    # Adopted by a region other than the app's publisher: a system that was not rebuilt.
    by_other_region = Boolean(default=False)
    adopted_at = Timestamptz()
    adopted_month = Integer(index=True)  # YYYYMM in WIB (UTC+7)
    removed_at = Timestamptz(null=True, default=None)
    removed_month = Integer(null=True, default=None, index=True)
    version = Varchar(length=100, default="")
    # The id of the last event applied (versions follow the newest event only).
    last_event = BigInt(default=0)
