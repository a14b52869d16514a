from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T04:06:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "triggers that keep the installations read model in step with adoption events; indexes; backfill"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stats", description=DESCRIPTION)

    async def install():
        from stats.projection import install as install_read_model

        await install_read_model(engine_finder())

    async def uninstall():
        from stats.projection import INDEX_DDL, drop_trigger_ddl

        db = engine_finder()
        for statement in drop_trigger_ddl(db.engine_type):
            await db.run_ddl(statement)
        for statement in INDEX_DDL:
            name = statement.split(" EXISTS ", 1)[1].split(" ", 1)[0]
            await db.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(install)
    manager.add_raw_backwards(uninstall)
    return manager
