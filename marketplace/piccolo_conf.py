"""Piccolo configuration: the engine comes from DATABASE_URL (SQLite by default)."""

from __future__ import annotations

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine

from marketplace.settings import get_settings


def make_engine() -> Engine:
    settings = get_settings()
    if settings.is_postgres:
        from piccolo.engine.postgres import PostgresEngine

        return PostgresEngine(config={"dsn": settings.database_url})
    from marketplace.sqlite import PooledSQLiteEngine

    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # A generous busy timeout: writers queue rather than fail with "database is locked".
    return PooledSQLiteEngine(path=str(path), timeout=30)


DB = make_engine()

APP_REGISTRY = AppRegistry(
    apps=[
        "tenants.piccolo_app",
        "catalog.piccolo_app",
        "provisioning.piccolo_app",
        "stats.piccolo_app",
    ]
)
