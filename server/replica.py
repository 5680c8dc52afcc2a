"""Reads that a streaming replica may serve (``DATABASE_REPLICA_URL``), and when they may not.

Without ``DATABASE_REPLICA_URL`` (and always on SQLite) nothing here does anything: every query
uses the primary, as before. With it, a second Tortoise client reads the replica
(``server.database.replica_connection``, outside Tortoise's registry, so that the ORM's defaults stay
on the primary), and a route
that only reads (statistics, public pages, listings, exports) opts in, in one of two ways:

* ``@on_replica`` directly above the handler (under ``@authenticated``/``@resident_only``): the
  handler runs with Tortoise's ``default`` connection set to the replica for its task, so every
  ORM query in it, however deep in the domains, reads the replica, with nothing to thread through;
* ``await read_on_replica(request, work)`` around a part of a handler: ``work(conn)`` gets the
  connection to pass to queries (``Model.filter(...).using_db(conn)``, ``tx_fetch(conn, ...)``).

Both rerun the work on the primary when the replica cannot be reached (stopped, restarting, lost
mid-query), so a read never answers 5xx because of the replica: the replica is then left alone
for ``REPLICA_RETRY_S`` (reads meanwhile: ``served_by="primary_replica_down"``), the fall-back is
counted (``xinyi_replica_reads_total{served_by="primary_fallback"}``) and logged once per outage. A route that writes inside an ``@on_replica``
handler (the replica refuses it: read-only transaction) is rerun on the primary and logged, so a
mistake costs time, never a wrong or failed answer.

What stays on the primary, always: whatever decides money, single use or a tier (scans,
redemptions, stock, issuing a pass, the live tier) — they never opt in, and the hot paths use
their own primary connections (``server.sql``).

**Read-your-writes.** A replica lags the primary by a little (milliseconds when streaming, more
under load). After an authenticated subject (a resident, a member of staff, a regulator) makes a
request that writes (any method but GET/HEAD/OPTIONS, answered below 400), its reads go to the
primary for ``REPLICA_STICKY_S`` (default 5 s): the mark is kept in Redis under
``xinyi:replica:sticky:<audience>:<subject>`` (so the next request may land on any app host) and
in this worker's memory. A read that cannot learn whether its subject wrote lately (Redis down)
reads the primary. A time window rather than WAL positions (``pg_current_wal_lsn`` against
``pg_last_wal_replay_lsn``): it costs one Redis command per write and per read instead of a
query to each database per read, and a lag longer than the window is an incident that
``pg_stat_replication`` shows (and that the replica's own health check should report).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter
from sanic import Request, Sanic
from sanic.response import HTTPResponse
from tortoise import connections

from server.database import replica_connection
from server.dbtypes import DbConn
from server.outage import DATABASE, unavailable
from server.settings import Settings

log = logging.getLogger("xinyi")

REPLICA_RETRY_S = 2.0  # after the replica failed, reads go to the primary this long before trying it again
STICKY_PREFIX = "xinyi:replica:sticky:"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

READS = Counter(
    "xinyi_replica_reads",
    "Reads that could use the replica, by who served them: replica, primary_sticky (the subject wrote lately), "
    "primary_fallback (the replica failed under the read), primary_replica_down (it failed a moment ago).",
    ["served_by"],
)

T = TypeVar("T")
Handler = Callable[..., Awaitable[HTTPResponse]]


class ReadRouting:
    """Where a read may go: the replica's health as this worker saw it, and the subjects who wrote lately."""

    def __init__(self, settings: Settings, redis: Any):
        self.enabled = settings.effective_replica_url is not None
        self.sticky_s = settings.replica_sticky_s
        self._redis = redis
        self._down_until = 0.0
        self._wrote: dict[str, float] = {}  # subject -> monotonic time until which it reads the primary

    # -- the replica's health -------------------------------------------------------------------

    def replica_up(self) -> bool:
        return time.monotonic() >= self._down_until

    def replica_failed(self, exc: BaseException) -> None:
        if self.replica_up():
            log.warning("replica unavailable (%s): reads go to the primary", type(exc).__name__)
        self._down_until = time.monotonic() + REPLICA_RETRY_S

    # -- read-your-writes -----------------------------------------------------------------------

    async def wrote(self, subject: str) -> None:
        self._forget_old()
        self._wrote[subject] = time.monotonic() + self.sticky_s
        try:
            await self._redis.set(STICKY_PREFIX + subject, b"1", px=int(self.sticky_s * 1000))
        except Exception as exc:  # noqa: BLE001 - reads check Redis too, and read the primary when it fails
            log.warning("replica: could not mark a write in Redis (%s)", type(exc).__name__)

    async def sticky(self, subject: str | None) -> bool:
        """Whether ``subject`` wrote within the window (or that cannot be known): its reads use the primary."""
        if subject is None:
            return False
        if self._wrote.get(subject, 0.0) > time.monotonic():
            return True
        try:
            return bool(await self._redis.exists(STICKY_PREFIX + subject))
        except Exception:  # noqa: BLE001 - unknown: the primary is always right
            return True

    def _forget_old(self) -> None:
        if len(self._wrote) > 10_000:
            now = time.monotonic()
            self._wrote = {k: v for k, v in self._wrote.items() if v > now}

    async def use_replica(self, request: Request) -> bool:
        if not self.enabled:
            return False
        if not self.replica_up():
            READS.labels("primary_replica_down").inc()
            return False
        if await self.sticky(subject_of(request)):
            READS.labels("primary_sticky").inc()
            return False
        return True


def subject_of(request: Request) -> str | None:
    """``<audience>:<subject id>`` of the request's authenticated principal, if any."""
    principal = getattr(request.ctx, "principal", None)
    if principal is None:
        return None
    return f"{principal.audience}:{principal.subject_id}"


def routing(request: Request) -> ReadRouting:
    return request.app.ctx.reads


def primary() -> DbConn:
    return connections.get("default")


def _replica_failure(exc: BaseException) -> bool:
    """The replica cannot serve this read: unreachable, or it refused a write (read-only)."""
    from server.sql import caused_by

    return unavailable(exc) == DATABASE or caused_by(exc, "ReadOnlySQLTransactionError")


async def read_on_replica(request: Request, work: Callable[[DbConn], Awaitable[T]]) -> T:
    """``work(conn)`` on the replica when allowed, else (or when the replica fails under it) on the primary.

    ``work`` must only read: it may run twice (on the replica, then on the primary).
    """
    reads = routing(request)
    if not await reads.use_replica(request):
        return await work(primary())
    try:
        result = await work(replica_connection())
    except Exception as exc:
        if not _replica_failure(exc):
            raise
        _fell_back(reads, exc)
        return await work(primary())
    READS.labels("replica").inc()
    return result


def on_replica(handler: Handler) -> Handler:
    """Route decorator for a handler that only reads: its ORM queries read the replica when allowed (see above)."""

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        reads = routing(request)
        if not await reads.use_replica(request):
            return await handler(request, *args, **kwargs)
        token: Any = connections.set("default", replica_connection())
        try:
            response = await handler(request, *args, **kwargs)
        except Exception as exc:
            if not _replica_failure(exc):
                raise
            connections.reset(token)
            token = None
            _fell_back(reads, exc)
            return await handler(request, *args, **kwargs)
        finally:
            if token is not None:
                connections.reset(token)
        READS.labels("replica").inc()
        return response

    return wrapper


def _fell_back(reads: ReadRouting, exc: BaseException) -> None:
    from server.sql import caused_by

    if caused_by(exc, "ReadOnlySQLTransactionError"):
        log.warning("a read on the replica tried to write; it ran again on the primary")
    else:
        reads.replica_failed(exc)
    READS.labels("primary_fallback").inc()


def install(app: Sanic) -> None:
    """Remember the subjects who write (read-your-writes); nothing at all without a replica."""
    if app.ctx.settings.effective_replica_url is None:
        return

    @app.on_response(priority=50)
    async def _mark_writes(request: Request, response: HTTPResponse) -> None:
        if request.method in _SAFE_METHODS or response.status >= 400:
            return
        subject = subject_of(request)
        if subject is not None:
            await routing(request).wrote(subject)


async def replica_ready() -> bool | None:
    """Whether the replica answers as a replica (None: there is none). For readiness and the bench."""
    conn = replica_connection()
    if conn is None:
        return None
    try:
        rows = await conn.execute_query_dict("SELECT pg_is_in_recovery() AS standby")
    except Exception:  # noqa: BLE001
        return False
    return bool(rows and rows[0]["standby"])
