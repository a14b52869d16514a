from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T02:04:07:003167"
VERSION = "1.38.0"
DESCRIPTION = "one account per single sign-on identity"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenants", description=DESCRIPTION)

    async def create_index():
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS lumbung_user_sso_identity "
            "ON lumbung_user (sso_issuer, sso_subject) WHERE sso_subject <> ''"
        )

    async def drop_index():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS lumbung_user_sso_identity")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
