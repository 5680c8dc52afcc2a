"""Raw SQL on one driver connection, on PostgreSQL and SQLite alike, and the values of raw rows.

The hot paths (pass issuance, the scan, the redemption ledger, the credit engine's batches)
speak SQL directly instead of through the ORM. The same SQL runs on PostgreSQL and SQLite:
statements are written with ``$1``-style parameters, rewritten to SQLite's ``?1``; UUIDs go to
SQLite as text, as Tortoise stores them, and datetimes through the adapter Tortoise registers.
Rows come back as dicts; ``as_uuid`` and friends read their values whatever the driver gave
(asyncpg gives Python types, SQLite the text Tortoise stored).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date, datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError

_PARAM = re.compile(r"\$(\d+)")


class RawConnection:
    """One driver connection (asyncpg or aiosqlite) behind a small common interface."""

    def __init__(self, raw: Any, dialect: str):
        self._raw = raw
        self.sqlite = dialect == "sqlite"

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows as dicts; a constraint violation is Tortoise's ``IntegrityError`` on both drivers."""
        with _integrity_errors():
            if self.sqlite:
                async with self._raw.execute(_sqlite_sql(sql), _sqlite_args(args)) as cursor:
                    return [dict(row) for row in await cursor.fetchall()]
            return [dict(row) for row in await self._raw.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> None:
        with _integrity_errors():
            if self.sqlite:
                await (await self._raw.execute(_sqlite_sql(sql), _sqlite_args(args))).close()
            else:
                await self._raw.execute(sql, *args)


@contextmanager
def _integrity_errors() -> Iterator[None]:
    """A constraint violation is Tortoise's ``IntegrityError``, whichever driver raised it."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(exc) from exc
    except Exception as exc:
        if _is_asyncpg_integrity_error(exc):
            raise IntegrityError(exc) from exc
        raise


@asynccontextmanager
async def raw_connection() -> AsyncIterator[RawConnection]:
    """One connection of the default pool for a few statements (autocommit, no transaction)."""
    client = connections.get("default")
    async with client.acquire_connection() as raw:
        yield RawConnection(raw, client.capabilities.dialect)


# --- values of raw rows -----------------------------------------------------------------------


def as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def as_date(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    return date.fromisoformat(str(value)[:10])


def _sqlite_sql(sql: str) -> str:
    return _PARAM.sub(r"?\1", sql)


def _sqlite_args(args: Iterable[Any]) -> list[Any]:
    return [str(a) if isinstance(a, uuid.UUID) else a for a in args]


def _is_asyncpg_integrity_error(exc: Exception) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, asyncpg.IntegrityConstraintViolationError)
