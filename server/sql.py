"""Raw SQL on one driver connection, on PostgreSQL and SQLite alike, and the values of raw rows.

The hot paths (pass issuance, the scan, the redemption ledger, the credit engine's batches)
speak SQL directly instead of through the ORM. The same SQL runs on PostgreSQL and SQLite:
statements are written with ``$1``-style parameters, rewritten to SQLite's ``?1``; UUIDs go to
SQLite as text, as Tortoise stores them, and datetimes through the adapter Tortoise registers.
Rows come back as dicts (or tuples); ``as_uuid`` and friends read their values whatever the
driver gave (asyncpg gives Python types, SQLite the text Tortoise stored).

The one raw-SQL layer of the project: ``RawConnection`` (one driver connection), ``tx_fetch`` /
``fetch`` / ``execute`` (a statement in a Tortoise transaction), ``Sql`` (a statement built from
parts, for the credit engine's batches), and the hot paths' own connections: ``HotDatabase``
(pass issuance and scans, asynchronous commits) and ``DirectPool`` (the redemption ledger,
durable commits), instances held on the app's context.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import date, datetime
from typing import Any, overload

from tortoise import connections
from tortoise.exceptions import IntegrityError

from server.dbtypes import DbConn
from server.outage import Reconnect, connection_suspect, unavailable

_PARAM = re.compile(r"\$(\d+)")
CONNECT_TIMEOUT_S = 5.0  # asyncpg waits 60 s by default for a database host that does not answer


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

    async def fetch_tuples(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows as tuples, for statements whose columns are read by position."""
        with _integrity_errors():
            if self.sqlite:
                async with self._raw.execute(_sqlite_sql(sql), _sqlite_args(args)) as cursor:
                    return [tuple(row) for row in await cursor.fetchall()]
            return [tuple(row) for row in await self._raw.fetch(sql, *args)]

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


@overload
def as_uuid(value: None) -> None: ...
@overload
def as_uuid(value: Any) -> uuid.UUID: ...
def as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


@overload
def as_datetime(value: None) -> None: ...
@overload
def as_datetime(value: Any) -> datetime: ...
def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@overload
def as_date(value: None) -> None: ...
@overload
def as_date(value: Any) -> date: ...
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


def caused_by(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` or one of its causes is one of these asyncpg errors (Tortoise wraps some of them)."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover
        return False
    kinds = tuple(getattr(asyncpg, name) for name in names)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False


async def tx_fetchrow(tx: DbConn, sql: str, *args: Any) -> dict[str, Any] | None:
    """One raw statement in a Tortoise transaction (its connection is held only for that statement)."""
    async with tx.acquire_connection() as connection:
        return await RawConnection(connection, tx.capabilities.dialect).fetchrow(sql, *args)


async def tx_fetch(tx: DbConn, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with tx.acquire_connection() as connection:
        return await RawConnection(connection, tx.capabilities.dialect).fetch(sql, *args)


# --- the hot paths' own connections -------------------------------------------------------


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
        self._max_size = max_size
        self._reconnect = Reconnect()

    @classmethod
    async def open(cls, database_url: str, *, max_size: int = 10) -> HotDatabase:
        hot = cls(database_url if database_url.startswith("postgres://") else None, max_size=max_size)
        if hot._url is not None:
            hot._idle.append(await hot._connect())  # fail at start, not on the first scan
        return hot

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(
            self._url, timeout=CONNECT_TIMEOUT_S, server_settings={"synchronous_commit": "off"}
        )

    async def _take(self) -> Any:
        """An idle connection that is still open, else a new one (not while the database refused one a moment ago).

        Connections the server closed meanwhile (a restart) are dropped here, before anyone uses
        them: asyncpg notices a closed socket as soon as the event loop runs.
        """
        while self._idle:
            raw = self._idle.pop()
            if not raw.is_closed():
                return raw
            raw.terminate()
        self._reconnect.check()
        try:
            raw = await self._connect()
        except Exception:
            self._reconnect.failed()
            raise
        self._reconnect.succeeded()
        return raw

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[RawConnection]:
        """A connection of this task's own until the block ends (never shared: a statement at a time)."""
        if self._url is None:
            async with raw_connection() as db:
                yield db
            return
        async with self._slots:
            raw = await self._take()
            try:
                yield RawConnection(raw, "postgres")
            except Exception as exc:
                # A statement that failed leaves an autocommit connection as it was; a broken
                # connection, or one whose statement is still running, is never reused.
                if raw.is_closed() or raw.is_in_transaction() or connection_suspect(exc):
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

    def usage(self) -> tuple[int, int] | None:
        """(connections in use, the most it opens), for the pool gauges (``server.metrics``); None on SQLite."""
        if self._url is None:
            return None
        return self._max_size - self._slots._value, self._max_size

    async def close(self) -> None:
        while self._idle:
            raw = self._idle.pop()
            with contextlib.suppress(Exception):
                await raw.close(timeout=5)


async def _rollback_if_open(connection: Any) -> None:
    """Release without asyncpg's reset query (one more round trip each time); only undo a transaction left open."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class DirectPool:
    """A small asyncpg pool for the redemption ledger, with durable commits; ``None`` of it on SQLite.

    Like ``HotDatabase`` it skips asyncpg's reset round trip on release (these connections never
    change session state: a transaction left open by a cancelled request is rolled back
    instead), but unlike it, commits are durable (``synchronous_commit`` as the server has it):
    a redemption moves money. One instance per app, opened by the app's start-up and held on
    its context; where there is none (SQLite, or a caller without one) the ledger runs its steps
    on Tortoise's connections.
    """

    def __init__(self, pool: Any):
        self._pool = pool
        self._reconnect = Reconnect()

    @classmethod
    async def open(cls, database_url: str, *, max_size: int = 10) -> DirectPool | None:
        if not database_url.startswith(("postgres://", "postgresql://")):
            return None
        import asyncpg

        pool = await asyncpg.create_pool(
            database_url,
            min_size=1,
            max_size=max_size,
            reset=_rollback_if_open,
            max_inactive_connection_lifetime=0,  # no idle timer re-armed at every release
            timeout=CONNECT_TIMEOUT_S,  # to connect: a database that does not answer is an outage, not a wait
            # The ledger's statements are prepared once per connection; with 12 and 33
            # parameters PostgreSQL would otherwise keep planning them afresh for each call (a
            # custom plan costs more than the execution). Every lookup in them is by key, so
            # the generic plan is the right one whatever the values.
            server_settings={"plan_cache_mode": "force_generic_plan"},
        )
        return cls(pool)

    def usage(self) -> tuple[int, int]:
        """(connections in use, the most it opens), for the pool gauges (``server.metrics``)."""
        return self._pool.get_size() - self._pool.get_idle_size(), self._pool.get_max_size()

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection of the pool for this task alone until the block ends.

        The pool replaces a connection the server closed when it is next acquired; one that
        failed at the driver's level (lost mid-statement, a protocol left in a state it cannot
        leave) is terminated here, since the pool's release, which skips the reset query, would
        otherwise hand it out again. While the database refuses connections, attempts are spaced
        out (``Reconnect``) and requests meanwhile answer 503 at once.
        """
        if not self._pool.get_idle_size():  # acquiring will open a connection
            self._reconnect.check()
        try:
            raw = await self._pool.acquire()
        except Exception as exc:
            if unavailable(exc):
                self._reconnect.failed()
            raise
        self._reconnect.succeeded()
        try:
            yield raw
        except Exception as exc:
            if connection_suspect(exc):
                # (A connection asyncpg saw closing is already back in its pool, detached from ``raw``.)
                with contextlib.suppress(Exception):
                    raw.terminate()
            raise
        finally:  # also when cancelled: the pool waits for asyncpg's cancellation, then resets
            await self._pool.release(raw)


# --- statements built from parts (the credit engine's batches) ------------------------------------

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
            return f"${len(self.params)}"  # rewritten to SQLite's ?N when it runs
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


async def fetch(conn: DbConn, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows of a statement built with ``Sql`` (also of ``INSERT … RETURNING``), as tuples, in ``conn``'s transaction."""
    async with conn.acquire_connection() as raw:
        return await RawConnection(raw, conn.capabilities.dialect).fetch_tuples(sql, *params)


async def execute(conn: DbConn, sql: str, params: list[Any]) -> None:
    async with conn.acquire_connection() as raw:
        await RawConnection(raw, conn.capabilities.dialect).execute(sql, *params)


def chunks(items: Sequence[Any], size: int = MAX_ROWS_PER_STATEMENT) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def db_uuid(conn: DbConn, value: uuid.UUID) -> Any:
    """A UUID as the driver wants it (asyncpg: UUID, SQLite: its text form)."""
    return value if is_postgres(conn) else str(value)
