"""The installations read model: how the database keeps `stats_installation` in step with
`adoption_event`, and how to recompute it from the events.

The same statements (in the dialect of the engine) are used by the migration that installs
the triggers and by :func:`rebuild`. Months are calendar months in WIB (UTC+7, no daylight
saving), stored as YYYYMM integers so that periods compare and group cheaply.
"""

from __future__ import annotations

from piccolo.engine.base import Engine

from marketplace.db import engine, transaction
from stats.tables import StatsInstallation

_COLUMNS = "installation, tenant, app, by_other_region, adopted_at, adopted_month, removed_at, removed_month, version, last_event"


def month_sql(column: str, dialect: str) -> str:
    """The SQL for the WIB month (YYYYMM) of a timestamp column."""
    if dialect == "sqlite":
        return f"CAST(strftime('%Y%m', {column}, '+7 hours') AS INTEGER)"
    return f"CAST(to_char(({column} AT TIME ZONE 'UTC') + interval '7 hours', 'YYYYMM') AS INTEGER)"


def _other_region(app: str, tenant: str, dialect: str) -> str:
    op = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    return f"((SELECT a.publisher FROM app a WHERE a.id = {app}) {op} {tenant})"


def trigger_ddl(dialect: str) -> list[str]:
    """Statements that make every inserted adoption event update the read model."""
    adopted = (
        f"INSERT INTO stats_installation ({_COLUMNS}) VALUES (NEW.installation, NEW.tenant, NEW.app, "
        f"{_other_region('NEW.app', 'NEW.tenant', dialect)}, NEW.created_at, {month_sql('NEW.created_at', dialect)}, "
        "NULL, NULL, NEW.to_version, NEW.id) ON CONFLICT (installation) DO NOTHING;"
    )
    changed = (
        "UPDATE stats_installation SET version = NEW.to_version, last_event = NEW.id "
        "WHERE installation = NEW.installation AND last_event < NEW.id;"
    )
    removed = (
        f"UPDATE stats_installation SET removed_at = NEW.created_at, removed_month = {month_sql('NEW.created_at', dialect)} "
        "WHERE installation = NEW.installation AND removed_at IS NULL;"
    )
    if dialect == "sqlite":
        head = "CREATE TRIGGER IF NOT EXISTS {name} AFTER INSERT ON adoption_event WHEN NEW.installation IS NOT NULL AND {when} BEGIN {body} END"
        return [
            head.format(name="stats_event_adopted", when="NEW.kind = 'adopted'", body=adopted),
            head.format(name="stats_event_changed", when="NEW.kind IN ('upgraded', 'rolled_back')", body=changed),
            head.format(name="stats_event_removed", when="NEW.kind = 'removed'", body=removed),
        ]
    return [
        "CREATE OR REPLACE FUNCTION stats_apply_adoption_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.installation IS NULL THEN RETURN NULL; END IF; "
        f"IF NEW.kind = 'adopted' THEN {adopted} "
        f"ELSIF NEW.kind IN ('upgraded', 'rolled_back') THEN {changed} "
        f"ELSIF NEW.kind = 'removed' THEN {removed} "
        "END IF; RETURN NULL; END $$",
        "DROP TRIGGER IF EXISTS stats_adoption_event ON adoption_event",
        "CREATE TRIGGER stats_adoption_event AFTER INSERT ON adoption_event "
        "FOR EACH ROW EXECUTE FUNCTION stats_apply_adoption_event()",
    ]


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS stats_event_{k}" for k in ("adopted", "changed", "removed")]
    return [
        "DROP TRIGGER IF EXISTS stats_adoption_event ON adoption_event",
        "DROP FUNCTION IF EXISTS stats_apply_adoption_event()",
    ]


def backfill_sql(dialect: str) -> list[str]:
    """Statements that compute the read model from every event (into an empty table)."""
    version_events = "e.installation = stats_installation.installation AND e.kind IN ('upgraded', 'rolled_back')"
    removed_events = "e.installation = stats_installation.installation AND e.kind = 'removed'"
    return [
        f"INSERT INTO stats_installation ({_COLUMNS}) "
        f"SELECT e.installation, e.tenant, e.app, {_other_region('e.app', 'e.tenant', dialect)}, e.created_at, "
        f"{month_sql('e.created_at', dialect)}, NULL, NULL, e.to_version, e.id FROM adoption_event e "
        "WHERE e.kind = 'adopted' AND e.installation IS NOT NULL AND NOT EXISTS (SELECT 1 FROM adoption_event d "
        "WHERE d.installation = e.installation AND d.kind = 'adopted' AND d.id < e.id)",
        f"UPDATE stats_installation SET "
        f"version = (SELECT e.to_version FROM adoption_event e WHERE {version_events} ORDER BY e.id DESC LIMIT 1), "
        f"last_event = (SELECT MAX(e.id) FROM adoption_event e WHERE {version_events}) "
        f"WHERE EXISTS (SELECT 1 FROM adoption_event e WHERE {version_events})",
        f"UPDATE stats_installation SET removed_at = (SELECT MIN(e.created_at) FROM adoption_event e WHERE {removed_events}) "
        f"WHERE EXISTS (SELECT 1 FROM adoption_event e WHERE {removed_events})",
        f"UPDATE stats_installation SET removed_month = {month_sql('removed_at', dialect)} WHERE removed_at IS NOT NULL",
    ]


INDEX_DDL = [
    # The rebuild looks events up by installation; provisioning does not index that column.
    "CREATE INDEX IF NOT EXISTS stats_adoption_event_installation ON adoption_event (installation, kind, id)",
    # Covering indexes for the per-app and per-region aggregates (scans without table lookups).
    "CREATE INDEX IF NOT EXISTS stats_installation_by_app ON stats_installation "
    "(app, adopted_month, removed_month, tenant, by_other_region)",
    "CREATE INDEX IF NOT EXISTS stats_installation_by_tenant ON stats_installation "
    "(tenant, adopted_month, removed_month, app, by_other_region)",
]


def pair_index_ddl(dialect: str) -> list[str]:
    """Added later (their own migration): an order that folds installations into
    region-and-app pairs without sorting, and, on SQLite, the live installations per app and
    version. PostgreSQL goes without the latter: an index holding `version` would turn every
    upgrade into a non-HOT update (see :func:`storage_ddl`)."""
    statements = [
        "CREATE INDEX IF NOT EXISTS stats_installation_pairs ON stats_installation "
        "(app, tenant, adopted_month, removed_month, by_other_region)",
    ]
    if dialect == "sqlite":
        statements.append(
            "CREATE INDEX IF NOT EXISTS stats_installation_live_versions ON stats_installation "
            "(removed_month, app, version, tenant)"
        )
    return statements


def storage_ddl(dialect: str) -> list[str]:
    """PostgreSQL: leave room in each page so that the version updates of the triggers are
    HOT updates, pruned in place; at 100% every upgrade left a dead row behind and, without
    a vacuum, the aggregates read a table many times the size of its 30,000 live rows."""
    if dialect == "postgres":
        return ["ALTER TABLE stats_installation SET (fillfactor = 70)"]
    return []


async def install(db: Engine | None = None) -> None:
    """Create the indexes and triggers, and fill the read model from the events so far."""
    db = db or engine()
    for statement in INDEX_DDL + trigger_ddl(db.engine_type):
        await db.run_ddl(statement)
    await rebuild()


async def rebuild() -> None:
    """Recompute the read model from the adoption events; the result does not depend on
    what was there before, so it is safe to run again at any time."""
    db = engine()
    async with transaction():
        if db.engine_type == "postgres":
            # New events wait for the rebuild rather than slip between the two halves.
            await db.run_ddl("LOCK TABLE adoption_event IN SHARE MODE")
            # A fresh table rather than deleted rows: the aggregates then read only live ones.
            await db.run_ddl("TRUNCATE stats_installation")
        else:
            await db.run_ddl("DELETE FROM stats_installation")
        for statement in backfill_sql(db.engine_type):
            await db.run_ddl(statement)
    # Statistics for the planner and, on PostgreSQL, the visibility map for index-only scans
    # (VACUUM cannot run inside a transaction).
    # Not on an empty table: statistics saying "no rows" would have the triggers' lookups by
    # installation planned as scans, and filling a new database would slow down quadratically.
    if not await StatsInstallation.exists():
        return
    outside = db.current_transaction.get() is None  # migrations run in one
    await db.run_ddl("VACUUM (ANALYZE) stats_installation" if db.engine_type == "postgres" and outside
                     else "ANALYZE stats_installation")
