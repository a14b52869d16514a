from pathlib import Path

from piccolo.conf.apps import AppConfig

from tenants.tables import ApiToken, AuditEntry, Membership, Session, Tenant, User

APP_CONFIG = AppConfig(
    app_name="tenants",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Tenant, User, Membership, Session, ApiToken, AuditEntry],
    migration_dependencies=[],
    commands=[],
)
