from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T01:08:48:735840"
VERSION = "1.38.0"
DESCRIPTION = "unique index (SQLite cannot add table constraints)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="catalog", description=DESCRIPTION)

    async def create_index():
        await engine_finder().run_ddl(
            'CREATE UNIQUE INDEX IF NOT EXISTS app_version_app_version_unique ON app_version (app, version)'
        )

    async def drop_index():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS app_version_app_version_unique")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
