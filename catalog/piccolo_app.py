from pathlib import Path

from piccolo.conf.apps import AppConfig

from catalog.tables import App, AppVersion

APP_CONFIG = AppConfig(
    app_name="catalog",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[App, AppVersion],
    migration_dependencies=["tenants.piccolo_app"],
    commands=[],
)
