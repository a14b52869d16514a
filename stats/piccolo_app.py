from pathlib import Path

from piccolo.conf.apps import AppConfig

from stats.tables import StatsInstallation

APP_CONFIG = AppConfig(
    app_name="stats",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[StatsInstallation],
    migration_dependencies=["provisioning.piccolo_app"],
    commands=[],
)
