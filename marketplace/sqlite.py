"""SQLite for one machine: WAL mode and reused connections.

Piccolo's SQLite engine opens a new connection (and a new thread) for every query outside a
transaction, which costs more than most queries themselves. This engine keeps a few open
connections and reuses them; each statement still commits on its own, exactly as before.
Transactions keep their own dedicated connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, dict_factory


class PooledSQLiteEngine(SQLiteEngine):
    def __init__(self, path: str, *, pool_size: int = 4, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self.pool_size = pool_size
        self._idle: list[aiosqlite.Connection] = []
        self._opened = 0
        self._available: asyncio.Semaphore | None = None
        self._wal_checked = False

    async def _open(self) -> aiosqlite.Connection:
        pending = aiosqlite.connect(**self.connection_kwargs)
        # An idle pooled connection must not keep the process alive at exit; every
        # statement has committed by the time it is idle.
        pending._thread.daemon = True
        connection = await pending
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute("PRAGMA foreign_keys = 1")
        if not self._wal_checked:
            # Readers no longer block the writer, and a commit costs one sync of the log.
            await connection.execute("PRAGMA journal_mode = WAL")
            self._wal_checked = True
        return connection


    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        if query_type == "insert" and self.get_version_sync() < 3.35:
            return await super()._run_in_new_connection(query, args, query_type, table)
        if self._available is None:
            self._available = asyncio.Semaphore(self.pool_size)
        async with self._available:
            connection = self._idle.pop() if self._idle else await self._open()
            try:
                async with connection.execute(query, args or []) as cursor:
                    await connection.commit()
                    rows = await cursor.fetchall()
            except BaseException:
                await self._discard(connection)
                raise
            self._idle.append(connection)
            return rows

    async def _discard(self, connection: aiosqlite.Connection) -> None:
        try:
            await connection.rollback()
            await connection.close()
        except Exception:  # noqa: BLE001  (already broken: nothing more to do)
            pass

    async def close_idle_connections(self) -> None:
        while self._idle:
            await self._idle.pop().close()
