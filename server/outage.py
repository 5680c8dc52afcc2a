"""Backing services that are down: what counts as an outage (503 with ``Retry-After``), and backing off meanwhile.

A lost database connection, a PostgreSQL that restarts or refuses connections, a Redis that
restarts: a client is told ``503 SERVICE_UNAVAILABLE`` with ``Retry-After`` (never a 500), and the
next request after the service is back is served, without restarting anything. ``unavailable``
decides from the exception alone, through Tortoise's wrappers; an SQL error the server answered
(a syntax error, a constraint, a bad value) is not an outage and stays what it was (a bug is a
500). ``Reconnect`` spaces out the attempts to open a connection while the database refuses them,
and ``Backoff`` the rounds of a background loop that keeps failing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from types import TracebackType

from server.errors import ServiceUnavailable

RETRY_AFTER_S = 2
"""What ``Retry-After`` says during an outage: a fast PostgreSQL restart takes about a second, a Redis one less."""

DATABASE = "database"
REDIS = "redis"

# What asyncpg says when the connection itself failed (rather than the statement on it).
_PG_CONNECTION_CLASSES = (
    "PostgresConnectionError",  # class 08: connection does not exist, connection failure, cannot connect
    "CannotConnectNowError",  # 57P03: starting up, shutting down, in recovery
    "AdminShutdownError",  # 57P01: terminated by pg_ctl stop / restart
    "CrashShutdownError",  # 57P02: another backend crashed
    "TooManyConnectionsError",  # 53300
    "ReadOnlySQLTransactionError",  # 25006: the primary was demoted (a failover under way)
    "InvalidAuthorizationSpecificationError",  # 28000, 28P01: the server refuses this login (only when connecting)
    "InvalidCatalogNameError",  # 3D000: no such database (only when connecting)
)
# asyncpg's client-side errors that mean the connection is closed or unusable, by what they say
# (``InterfaceError`` is also the class of misuse, such as a wrong number of arguments: a bug).
_PG_CONNECTION_MESSAGES = (
    "connection is closed",
    "connection was closed",
    "another operation is in progress",
    "another operation is cancelling",
    "cannot switch to state",
    "not connected",
    "pool is closing",
    "pool is closed",
    "released back to the pool",  # a pooled connection lost mid-use: asyncpg detached it already
)
# Redis: the connection failed or timed out, it is loading its data set, or it is a replica now.
_REDIS_CLASSES = ("ConnectionError", "TimeoutError", "ReadOnlyError", "MasterDownError", "TryAgainError")
_DRIVERS = {"/asyncpg/": DATABASE, "/tortoise/backends/": DATABASE, "/aiosqlite/": DATABASE, "/redis/": REDIS}


class DatabaseUnavailable(ServiceUnavailable):
    """The database refused the last attempt to connect a moment ago: not tried again yet (``Reconnect``)."""

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": str(RETRY_AFTER_S)})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its explicit causes, and what Tortoise's exceptions wrap (their first argument)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 16:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if e.__cause__ is not None:
            todo.append(e.__cause__)
        if type(e).__module__.startswith("tortoise") and e.args and isinstance(e.args[0], BaseException):
            todo.append(e.args[0])


def _names(exc: BaseException) -> set[str]:
    return {klass.__name__ for klass in type(exc).__mro__}


def _raised_in(exc: BaseException) -> str | None:
    """Which driver's code the exception went through (innermost frame first), if any."""
    tb: TracebackType | None = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    for filename in reversed(frames):
        for part, service in _DRIVERS.items():
            if part in filename:
                return service
    return None


def unavailable(exc: BaseException) -> str | None:
    """``"database"`` or ``"redis"`` when ``exc`` says that backing service cannot be reached now, else None.

    Counted: asyncpg's connection errors (lost, refused, starting up or shutting down, too many
    connections, a demoted primary), its ``InterfaceError``\\s that say the connection is closed
    or busy, Tortoise's ``DBConnectionError`` and whatever it wraps of these, Redis's connection
    and timeout errors, and an ``OSError`` (refused, reset, timed out, no route) raised by a
    driver while connecting. Not counted: anything PostgreSQL answered about the statement, and
    any other error, which stays a 500 (a bug).
    """
    for e in _chain(exc):
        module, names = type(e).__module__, _names(e)
        if module.startswith("asyncpg"):
            if names & set(_PG_CONNECTION_CLASSES):
                return DATABASE
            if {"InterfaceError", "InternalClientError"} & names and any(
                m in str(e) for m in _PG_CONNECTION_MESSAGES
            ):
                return DATABASE
            if "PostgresError" in names:
                return None  # PostgreSQL answered about the statement: not an outage
        elif module.startswith("redis"):
            if names & set(_REDIS_CLASSES):
                return REDIS
        elif module.startswith("tortoise") and "DBConnectionError" in names:
            return DATABASE
        elif isinstance(e, DatabaseUnavailable):
            return DATABASE
        elif isinstance(e, (ConnectionError, TimeoutError)) or (
            isinstance(e, OSError) and e.errno is None and "connect" in str(e).lower()
        ):
            # Refused, reset, timed out: an outage when a driver raised it (a bug of ours that
            # raises ConnectionError elsewhere is not one).
            if (service := _raised_in(e)) is not None:
                return service
    return None


def connection_suspect(exc: BaseException) -> bool:
    """Whether the driver connection that raised ``exc`` may be unusable now (discard it rather than reuse it).

    Kept: a connection on which PostgreSQL answered the statement with an error (the error was
    about the statement), and one on which our own code raised (a business refusal). Discarded:
    one that failed at the driver's level (closed, lost, timed out, a protocol in a state it
    cannot leave), so that the next user opens a new one instead of failing again.
    """
    for e in _chain(exc):
        module, names = type(e).__module__, _names(e)
        if module.startswith("asyncpg"):
            return not ("PostgresError" in names and not names & set(_PG_CONNECTION_CLASSES))
        if isinstance(e, (OSError, TimeoutError)) and _raised_in(e) is not None:
            return True
    return False


class Backoff:
    """A delay that doubles from ``first_s`` up to ``cap_s`` with each failure in a row (with jitter), reset by a success."""

    def __init__(self, *, first_s: float, cap_s: float, clock: Callable[[], float] = time.monotonic):
        self.first_s, self.cap_s, self._clock = first_s, cap_s, clock
        self.failures = 0

    def delay(self) -> float:
        """The pause after the failures so far: uniform in [half, all] of first_s · 2^(n-1), capped (0 without failures)."""
        if not self.failures:
            return 0.0
        full = min(self.cap_s, self.first_s * 2 ** min(self.failures - 1, 30))
        return random.uniform(full / 2, full)

    def failed(self) -> float:
        self.failures += 1
        return self.delay()

    def succeeded(self) -> None:
        self.failures = 0


class Reconnect(Backoff):
    """Whether to try to open a database connection now.

    After a refused attempt, the next is not made before the backoff delay (50 ms doubling up to
    a second): requests meanwhile answer 503 at once rather than each waiting for a refusal, and
    a database that is starting up is not flooded with connection attempts. The first attempt
    after the delay that succeeds resets it, so recovery costs at most a second.
    """

    def __init__(
        self, *, first_s: float = 0.05, cap_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__(first_s=first_s, cap_s=cap_s, clock=clock)
        self._not_before = 0.0

    def check(self) -> None:
        """Raise ``DatabaseUnavailable`` while the last refusal is too recent to try again."""
        if self.failures and self._clock() < self._not_before:
            raise DatabaseUnavailable()

    def failed(self) -> float:
        delay = super().failed()
        self._not_before = self._clock() + delay
        return delay
