from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "statistics read model: indexes for region-and-app pairs and live versions; room for HOT updates"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stats", description=DESCRIPTION)

    async def tune():
        from stats.projection import pair_index_ddl, rebuild, storage_ddl

        db = engine_finder()
        for statement in storage_ddl(db.engine_type) + pair_index_ddl(db.engine_type):
            await db.run_ddl(statement)
        await rebuild()  # rewrites the table, so existing rows get the new page layout

    async def untune():
        from stats.projection import pair_index_ddl

        db = engine_finder()
        for statement in pair_index_ddl(db.engine_type):
            name = statement.split(" EXISTS ", 1)[1].split(" ", 1)[0]
            await db.run_ddl(f"DROP INDEX IF EXISTS {name}")
        if db.engine_type == "postgres":
            await db.run_ddl("ALTER TABLE stats_installation RESET (fillfactor)")

    manager.add_raw(tune)
    manager.add_raw_backwards(untune)
    return manager
