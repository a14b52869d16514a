"""Database helpers shared by the domains: transactions and migrations."""

from __future__ import annotations

from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder


def engine() -> Engine:
    found = engine_finder()
    if found is None:
        raise RuntimeError("no database engine configured (PICCOLO_CONF)")
    return found


def transaction():
    """A write transaction; on SQLite it takes the write lock up front, so it cannot deadlock."""
    db = engine()
    if db.engine_type == "sqlite":
        from piccolo.engine.sqlite import TransactionType

        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


def is_unique_violation(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "unique" in text or "duplicate key" in text


async def migrate() -> None:
    """Run every pending migration of every app, in dependency order."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards("all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")
