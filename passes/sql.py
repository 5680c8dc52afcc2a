"""Connections for the hot paths (pass issuance and the scan), on top of ``server.sql``.

Why not the ORM there: each ORM query takes its own pool connection, and asyncpg resets a
connection (one more round trip) every time it goes back to the pool; building and parsing
the query objects costs more CPU than the query itself. The hot paths run one or two fixed
statements on one connection (see ``HotDatabase``) with asyncpg's prepared-statement cache.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from server.sql import RawConnection, raw_connection


class HotDatabase:
    """Connections for the hot paths: on PostgreSQL a few asyncpg connections of their own.

    Why not the ORM's pool (or any asyncpg pool): asyncpg resets every connection going back
    to a pool with a multi-statement query (unlock advisory locks, close cursors, UNLISTEN,
    RESET ALL), one more round trip and about as much server CPU as the scan's statement, and
    its pool bookkeeping (queue, holders, inactivity timers) costs more client CPU than running
    the statement (measured here: 150 µs per acquire + SELECT 1 + release, 55 µs on a bare
    connection). The scan and pass issuance run a few fixed statements that never change
    session state, so a stack of idle connections is all they need. On SQLite they use the
    ORM's connection.

    These connections commit with ``synchronous_commit = off``: the scan log's INSERT does not
    wait for its WAL flush, which on this kind of machine costs more server CPU than the insert
    itself (measured: 80 µs instead of about 300 µs of PostgreSQL CPU, 0.2 ms instead of 3 ms
    of latency). What this risks, and only if PostgreSQL itself crashes: the scans of the last
    few hundred milliseconds. It never breaks consistency (PostgreSQL replays the WAL in order,
    so a redemption committed durably has made its scan durable too), and a lost scan only
    means scanning the pass again. Money-moving writes (redemptions, stock) stay on the ORM's
    connections with durable commits.
    """

    def __init__(self, database_url: str | None = None, *, max_size: int = 10):
        self._url = database_url
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(max_size)

    @classmethod
    async def open(cls, database_url: str, *, max_size: int = 10) -> HotDatabase:
        hot = cls(database_url if database_url.startswith("postgres://") else None, max_size=max_size)
        if hot._url is not None:
            hot._idle.append(await hot._connect())  # fail at start, not on the first scan
        return hot

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self._url, server_settings={"synchronous_commit": "off"})

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[RawConnection]:
        if self._url is None:
            async with raw_connection() as db:
                yield db
            return
        async with self._slots:
            raw = self._idle.pop() if self._idle else await self._connect()
            try:
                yield RawConnection(raw, "postgres")
            except Exception as exc:
                # A statement that failed leaves an autocommit connection as it was; a broken
                # connection, or one whose statement is still running, is never reused.
                if raw.is_closed() or raw.is_in_transaction() or not _statement_error(exc):
                    raw.terminate()
                else:
                    self._idle.append(raw)
                raise
            except BaseException:  # cancelled, possibly mid-statement
                raw.terminate()
                raise
            if raw.is_closed() or raw.is_in_transaction():
                raw.terminate()
            else:
                self._idle.append(raw)

    async def close(self) -> None:
        while self._idle:
            raw = self._idle.pop()
            with contextlib.suppress(Exception):
                await raw.close(timeout=5)


def _statement_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from a statement PostgreSQL answered (or from our own code), not the connection."""
    import asyncpg

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError)):
            return False
        cause = cause.__cause__
    return True
