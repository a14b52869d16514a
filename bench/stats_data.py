"""Generated adoption history for the statistics benchmark.

All 552 regions (and the ministry) from `tenants/data/regions.csv`; `apps` apps from 60
publishing regions, each with twelve approved versions (1.0.0 ... 1.5.1) and a declared cost;
then `events` adoption events over six years, written the way provisioning writes them:
one `adopted` event per installation, then upgrades and roll-backs between its versions,
and for about a quarter of the installations one `removed` event. About 3% of the events
are adoptions (30,000 installations in a million, about 40 running per region). The
events go in with bulk inserts in time order; the database's triggers keep the statistics
read model up to date as they arrive.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from catalog.tables import App, AppVersion
from marketplace.db import engine
from tenants.services import seed_regions
from tenants.tables import Tenant

CATEGORIES = ["perizinan", "pengaduan-publik", "kepegawaian", "penganggaran", "kesehatan", "pendidikan", "kearsipan",
              "keuangan", "pajak-retribusi", "sosial", "kependudukan", "transportasi"]
VERSIONS = [f"1.{minor}.{patch}" for minor in range(6) for patch in range(2)]
BATCH = 20_000


async def generate(*, apps: int = 500, events: int = 1_000_000, seed: int = 2026) -> dict[str, Any]:
    """Fill an empty, migrated database; returns what the benchmark needs to know."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    await seed_regions()
    tenants = await Tenant.select(Tenant.id, Tenant.slug, Tenant.province, Tenant.kind).where(Tenant.kind != "kementerian")
    regions = [t["id"] for t in tenants]
    publishers = rng.sample(regions, 60)
    await Tenant.update({Tenant.publishes: True}).where(Tenant.id.is_in(publishers))
    rows = [
        App(slug=f"aplikasi-{i:04d}", name=f"Aplikasi Daerah {i}", category=CATEGORIES[i % len(CATEGORIES)],
            publisher=publishers[i % len(publishers)], cost_estimate_idr=rng.choice([250, 500, 750, 1500]) * 1_000_000,
            latest_version=VERSIONS[-1] if i % 50 else VERSIONS[-3], created_at=now, updated_at=now)
        for i in range(apps)
    ]
    await App.insert(*rows)
    app_rows = await App.select(App.id, App.publisher)
    versions = []
    for app in app_rows:
        for v in VERSIONS:
            major, minor, patch = (int(x) for x in v.split("."))
            versions.append(AppVersion(app=app["id"], version=v, major=major, minor=minor, patch=patch,
                                       bundle_sha256="0" * 64, status="approved", created_at=now))
    for start in range(0, len(versions), 1000):
        await AppVersion.insert(*versions[start:start + 1000])

    adoptions = max(1, events * 3 // 100)
    span = timedelta(days=6 * 365).total_seconds()
    begin = now - timedelta(days=6 * 365)
    installations: list[tuple[int, int, int, datetime, datetime | None]] = []
    for _ in range(adoptions):
        tenant = rng.choice(regions)
        app = rng.choice(app_rows)["id"]
        adopted = begin + timedelta(seconds=rng.random() * span * 0.98)
        removed = adopted + timedelta(days=rng.uniform(30, 900)) if rng.random() < 0.25 else None
        if removed is not None and removed >= now:
            removed = None
        installations.append((tenant, app, rng.randrange(len(VERSIONS) // 2), adopted, removed))
    changes_left = events - adoptions - sum(1 for i in installations if i[4] is not None)
    db = engine()
    first_id = await _insert_installations(db, installations, now)

    timeline: list[tuple[datetime, int, str, int, int, str, str]] = []
    for n, (tenant, app, version, adopted, removed) in enumerate(installations):
        inst = first_id + n
        timeline.append((adopted, inst, "adopted", tenant, app, "", VERSIONS[version]))
        end = removed or now
        changes = changes_left // (adoptions - n) if n < adoptions - 1 else changes_left
        changes = max(0, min(changes_left, int(rng.uniform(0.5, 1.5) * changes))) if n < adoptions - 1 else changes_left
        changes_left -= changes
        moments = sorted(adopted + (end - adopted) * rng.random() for _ in range(changes))
        for moment in moments:
            target = rng.randrange(len(VERSIONS))
            if target == version:
                target = (version + 1) % len(VERSIONS)
            kind = "upgraded" if target > version else "rolled_back"
            timeline.append((moment, inst, kind, tenant, app, VERSIONS[version], VERSIONS[target]))
            version = target
        if removed is not None:
            timeline.append((removed, inst, "removed", tenant, app, VERSIONS[version], ""))
    timeline.sort(key=lambda e: e[0])
    await _insert_events(db, timeline)
    return {"events": len(timeline), "installations": adoptions, "apps": apps, "regions": len(regions)}


async def _insert_installations(db: Any, installations: list[tuple], now: datetime) -> int:
    """Bulk insert; returns the id of the first (ids are consecutive in an empty table)."""
    columns = ("tenant", "app", "desired_state", "observed_state", "created_at", "removed_at")
    records = [(t, a, "removed" if r else "running", "removed" if r else "running", adopted, r)
               for t, a, _, adopted, r in installations]
    await _copy(db, "installation", columns, records)
    first = await db.run_ddl("SELECT MIN(id) AS id FROM installation")
    return int(first[0]["id"])


async def _insert_events(db: Any, timeline: list[tuple]) -> None:
    columns = ("created_at", "installation", "kind", "tenant", "app", "from_version", "to_version")
    records = [(at, inst, kind, tenant, app, old, new) for at, inst, kind, tenant, app, old, new in timeline]
    await _copy(db, "adoption_event", columns, records)


async def _copy(db: Any, table: str, columns: tuple[str, ...], records: list[tuple]) -> None:
    if db.engine_type == "postgres":
        import asyncpg

        from marketplace.settings import get_settings

        connection = await asyncpg.connect(get_settings().database_url)
        try:
            await connection.copy_records_to_table(table, records=records, columns=list(columns))
        finally:
            await connection.close()
        return
    import sqlite3

    from marketplace.settings import get_settings

    def text(value: Any) -> Any:
        # The same form piccolo stores a timestamptz in on SQLite.
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value

    connection = sqlite3.connect(get_settings().sqlite_path, timeout=60)
    try:
        placeholders = ", ".join("?" for _ in columns)
        with connection:
            for start in range(0, len(records), BATCH):
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                    [tuple(text(v) for v in r) for r in records[start:start + BATCH]],
                )
    finally:
        connection.close()
