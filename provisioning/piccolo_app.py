from pathlib import Path

from piccolo.conf.apps import AppConfig

from provisioning.tables import AdoptionEvent, Installation, ProvisionJob

APP_CONFIG = AppConfig(
    app_name="provisioning",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Installation, ProvisionJob, AdoptionEvent],
    migration_dependencies=["catalog.piccolo_app"],
    commands=[],
)
