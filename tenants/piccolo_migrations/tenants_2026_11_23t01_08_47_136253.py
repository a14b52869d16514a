from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T01:08:47:136253"
VERSION = "1.38.0"
DESCRIPTION = "unique index (SQLite cannot add table constraints)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenants", description=DESCRIPTION)

    async def create_index():
        await engine_finder().run_ddl(
            'CREATE UNIQUE INDEX IF NOT EXISTS membership_user_tenant_unique ON membership ("user", tenant)'
        )

    async def drop_index():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS membership_user_tenant_unique")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
