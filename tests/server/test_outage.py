"""What counts as a backing service being down (503 with Retry-After) and what stays a bug (500), and the backoffs."""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

from server.outage import (
    DATABASE,
    REDIS,
    Backoff,
    DatabaseUnavailable,
    Reconnect,
    connection_suspect,
    unavailable,
)
from tests import factories as f
from tests.server.test_app import assert_error_shape


def wrapped(outer: type[Exception], inner: Exception) -> Exception:
    """``outer`` raised from ``inner``, as Tortoise wraps the driver's errors."""
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer(exc) from exc
    except Exception as exc:  # noqa: BLE001
        return exc


class TestWhatIsAnOutage:
    @pytest.mark.parametrize(
        "exc",
        [
            asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
            asyncpg.CannotConnectNowError("the database system is starting up"),
            asyncpg.AdminShutdownError("terminating connection due to administrator command"),
            asyncpg.CrashShutdownError("terminating connection because of crash of another server process"),
            asyncpg.TooManyConnectionsError("too many connections for role"),
            asyncpg.InterfaceError("cannot perform operation: connection is closed"),
            asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
            asyncpg.InternalClientError("cannot switch to state 12; another operation (11) is in progress"),
            DBConnectionError("Can't establish connection to database xinyi"),
            DatabaseUnavailable(),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_the_database_lost_or_refusing(self, exc):
        assert unavailable(exc) == DATABASE
        assert unavailable(wrapped(OperationalError, exc)) == DATABASE  # through Tortoise's wrapper

    @pytest.mark.parametrize(
        "exc",
        [
            redis_errors.ConnectionError("Connection closed by server."),
            redis_errors.TimeoutError("Timeout reading from socket"),
            redis_errors.BusyLoadingError("Redis is loading the dataset in memory"),
            redis_errors.ReadOnlyError("You can't write against a read only replica."),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_redis_lost_or_refusing(self, exc):
        assert unavailable(exc) == REDIS

    @pytest.mark.parametrize(
        "exc",
        [
            wrapped(OperationalError, asyncpg.PostgresSyntaxError('syntax error at or near ","')),
            wrapped(IntegrityError, asyncpg.UniqueViolationError("duplicate key value")),
            asyncpg.DataError("invalid input for query argument $1: 'x' (expected int)"),
            asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
            asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
            redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ConnectionRefusedError(111, "raised by our own code, not a driver's"),
            ValueError("a bug"),
        ],
        ids=lambda e: f"{type(e).__name__}: {e}"[:60],
    )
    def test_bugs_and_answered_statements_are_not(self, exc):
        assert unavailable(exc) is None

    async def test_a_refused_connection_from_either_driver(self):
        with pytest.raises(OSError) as pg:
            await asyncpg.connect("postgresql://postgres@127.0.0.1:1/none", timeout=2)
        assert unavailable(pg.value) == DATABASE
        client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=2)
        try:
            with pytest.raises(redis_errors.ConnectionError) as rd:
                await client.ping()
        finally:
            await client.aclose()
        assert unavailable(rd.value) == REDIS


class TestWhichConnectionsAreDiscarded:
    def test_a_statement_answered_with_an_error_keeps_its_connection(self):
        assert not connection_suspect(wrapped(IntegrityError, asyncpg.UniqueViolationError("duplicate")))
        assert not connection_suspect(ValueError("a refusal of ours, raised while holding the connection"))

    def test_a_connection_that_failed_at_the_drivers_level_is_discarded(self):
        assert connection_suspect(asyncpg.InternalClientError("cannot switch to state 12"))
        assert connection_suspect(asyncpg.ConnectionDoesNotExistError("closed in the middle of operation"))
        assert connection_suspect(asyncpg.InterfaceError("cannot perform operation: connection is closed"))


class TestAnswers:
    @pytest.mark.parametrize(
        ("exc", "status"),
        [
            (asyncpg.CannotConnectNowError("the database system is shutting down"), 503),
            (redis_errors.ConnectionError("Connection closed by server."), 503),
            (wrapped(OperationalError, asyncpg.UndefinedTableError('relation "x" does not exist')), 500),
        ],
        ids=["database", "redis", "sql bug"],
    )
    async def test_outages_are_503_with_retry_after_and_bugs_stay_500(self, app, exc, status):
        @app.get("/boom")
        async def boom(request):
            raise exc

        async with f.started_client(app) as client:
            r = await client.get("/boom")
        if status == 503:
            assert_error_shape(r, 503, "SERVICE_UNAVAILABLE")
            assert int(r.headers["Retry-After"]) > 0
        else:
            assert_error_shape(r, 500, "INTERNAL_ERROR")
            assert "Retry-After" not in r.headers


class TestBackoff:
    def test_the_pause_doubles_up_to_its_cap_and_a_success_resets_it(self):
        backoff = Backoff(first_s=0.1, cap_s=1.0)
        assert backoff.delay() == 0.0
        pauses = [backoff.failed() for _ in range(6)]
        assert 0.05 <= pauses[0] <= 0.1 and 0.1 <= pauses[1] <= 0.2 and 0.5 <= pauses[-1] <= 1.0
        backoff.succeeded()
        assert backoff.delay() == 0.0

    def test_no_connection_is_tried_before_the_pause_after_a_refusal_is_over(self):
        now = [100.0]
        reconnect = Reconnect(first_s=0.2, cap_s=1.0, clock=lambda: now[0])
        reconnect.check()  # nothing refused yet: try
        reconnect.failed()
        with pytest.raises(DatabaseUnavailable):
            reconnect.check()
        now[0] += 0.2
        reconnect.check()  # the pause is over: try again
        reconnect.succeeded()
        reconnect.check()
