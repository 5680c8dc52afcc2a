"""Small helpers for the set-based SQL of the credit engine, on PostgreSQL and SQLite alike.

The hot paths (record intake, score recomputation) speak SQL directly: one statement per batch
instead of one ORM round trip per row. The two dialects differ in placeholders (``$1`` / ``?``),
in how a list is passed (``= ANY($1::bigint[])`` / ``IN (?, ?)``), in row locks (SQLite has none:
its writers are serialised anyway) and in the Python types raw rows come back as.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from server.dbtypes import DbConn

# PostgreSQL accepts at most 32767 parameters per statement; stay far below.
MAX_ROWS_PER_STATEMENT = 1000


def is_postgres(conn: DbConn) -> bool:
    return conn.capabilities.dialect == "postgres"


class Sql:
    """Collects the parameters of one statement and renders their placeholders."""

    def __init__(self, conn: DbConn):
        self.pg = is_postgres(conn)
        self.params: list[Any] = []

    def p(self, value: Any, cast: str | None = None) -> str:
        """A placeholder; ``cast`` types it on PostgreSQL where the context does not (a SELECT list)."""
        self.params.append(value)
        if not self.pg:
            return "?"
        return f"${len(self.params)}::{cast}" if cast else f"${len(self.params)}"

    def row(self, values: Iterable[Any]) -> str:
        return "(" + ", ".join(self.p(v) for v in values) + ")"

    def rows(self, rows: Iterable[Iterable[Any]]) -> str:
        return ", ".join(self.row(r) for r in rows)

    def source(self, rows: Sequence[Sequence[Any]], pg_types: Sequence[str]) -> str:
        """Rows to insert: ``VALUES (…), (…)``, or on PostgreSQL one array per column through ``unnest``.

        The arrays keep the statement text the same whatever the number of rows, so PostgreSQL
        parses and plans it once per connection instead of once per batch (a 1000-row VALUES
        list has 12,000 parameters to plan).
        """
        if not self.pg:
            return "VALUES " + self.rows(rows)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(pg_types)
        arrays = ", ".join(f"{self.p(list(col))}::{t}[]" for col, t in zip(columns, pg_types, strict=True))
        return f"SELECT * FROM unnest({arrays})"

    def keys(
        self, alias: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], pg_types: Sequence[str]
    ) -> str:
        """A derived table of lookup keys to JOIN on (each key found through the index, whatever the statistics).

        ``column = ANY(array)`` can be planned as a filter that compares every row with every
        key when the table's statistics are stale (a table that grew during a big import).
        """
        if self.pg:
            cols = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
            arrays = ", ".join(f"{self.p(list(c))}::{t}[]" for c, t in zip(cols, pg_types, strict=True))
            return f"unnest({arrays}) AS {alias}({', '.join(columns)})"
        named = ", ".join(f"column{i + 1} AS {c}" for i, c in enumerate(columns))
        return f"(SELECT {named} FROM (VALUES {self.rows(rows)})) AS {alias}"

    def in_(self, column: str, values: Sequence[Any], pg_type: str) -> str:
        """``column`` is one of ``values`` (an empty list matches nothing)."""
        if not values:
            return "1 = 0"
        if self.pg:
            return f"{column} = ANY({self.p(list(values))}::{pg_type}[])"
        return f"{column} IN ({', '.join(self.p(v) for v in values)})"

    def for_update(self) -> str:
        return " FOR UPDATE" if self.pg else ""


async def fetch(conn: DbConn, sql: str, params: list[Any]) -> list[Any]:
    """Rows of a query (also of ``INSERT … RETURNING``), as positional records."""
    if is_postgres(conn):
        async with conn.acquire_connection() as raw:
            return await raw.fetch(sql, *params)
    _count, rows = await conn.execute_query(sql, params)
    return list(rows)


async def execute(conn: DbConn, sql: str, params: list[Any]) -> None:
    await conn.execute_query(sql, params)


def chunks(items: Sequence[Any], size: int = MAX_ROWS_PER_STATEMENT) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def db_uuid(conn: DbConn, value: uuid.UUID) -> Any:
    """A UUID as the driver wants it (asyncpg: UUID, SQLite: its text form)."""
    return value if is_postgres(conn) else str(value)
