"""Backing services that fail: a database that is stopped, restarted or refuses connections, a Redis that
restarts. The client is answered 503 SERVICE_UNAVAILABLE with Retry-After (never a 500), and the same
request is served once the service is back, within seconds and without restarting the app.

These tests start a PostgreSQL cluster and a Redis of their own, on spare ports in temporary
folders (``bench/_services.py``, shared with ``bench/chaos.py``), and stop and start them; the
machine's services are never touched. They are skipped when PostgreSQL's ``initdb`` or
``redis-server`` is not installed here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest

from bench._services import OwnPostgres, OwnRedis, why_no_own_postgres, why_no_own_redis
from server.outage import unavailable
from server.sql import DirectPool, HotDatabase
from tests import factories as f
from tests.conftest import USES_POSTGRES, _settings
from tests.server.test_app import assert_error_shape

pytestmark = [pytest.mark.integration]

BACK_WITHIN_S = 10.0  # the issue's target after PostgreSQL; Redis's is 5 s
MP, MERCHANT = f.MP, f.MERCHANT


def assert_unavailable(r: Any) -> None:
    """The contract's 503: the error shape, SERVICE_UNAVAILABLE, and when to come back."""
    assert_error_shape(r, 503, "SERVICE_UNAVAILABLE")
    assert int(r.headers["Retry-After"]) > 0


async def served_again(
    send: Callable[[], Awaitable[Any]], status: int, *, within_s: float
) -> tuple[Any, float]:
    """Send the same request until it answers ``status`` (every other answer must be a proper 503): (answer, seconds)."""
    started = time.monotonic()
    while True:
        r = await send()
        if r.status_code == status:
            return r, time.monotonic() - started
        assert_unavailable(r)
        assert time.monotonic() - started < within_s, f"still {r.status_code} after {within_s} s: {r.text}"
        await asyncio.sleep(0.1)


# --- a PostgreSQL of our own ----------------------------------------------------------------------


APP_ROLE = "xinyi_app"  # the app's own role (not a superuser), so that a connection limit applies to it


@pytest.fixture(scope="module")
def own_postgres(var_dir) -> Iterator[OwnPostgres]:
    """A cluster of our own with a migrated database ``xinyi_faults``, which the app uses as ``APP_ROLE``."""
    if why := why_no_own_postgres():
        pytest.skip(f"no PostgreSQL cluster of our own: {why}")
    from xinyi.database import run_migrations

    pg = OwnPostgres()
    try:
        pg.start()
        asyncio.run(admin_sql(pg.url, 'CREATE DATABASE "xinyi_faults"'))
        asyncio.run(run_migrations(_settings(var_dir, pg.url_of("xinyi_faults"), None)))
        asyncio.run(
            admin_sql(
                pg.url_of("xinyi_faults"),
                f"CREATE ROLE {APP_ROLE} LOGIN",
                f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
                f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {APP_ROLE}",
                f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
            )
        )
        yield pg
    finally:
        pg.close()


async def admin_sql(url: str, *statements: str) -> None:
    """Statements as the cluster's superuser, on a connection of their own."""
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=10)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def on_own_postgres(own_postgres, var_dir, wechat_sandbox) -> AsyncIterator[tuple[Any, OwnPostgres]]:
    """A started app on the cluster of our own (which is running again at the end, whatever the test did)."""
    url = own_postgres.url_of("xinyi_faults").replace("postgres@", f"{APP_ROLE}@")
    settings = _settings(var_dir, url, None, WECHAT_API_BASE=wechat_sandbox.base_url)
    try:
        async with f.started_client(f.new_app(settings)) as client:
            yield client, own_postgres
    finally:
        if not own_postgres.running():
            own_postgres.start()
        await admin_sql(own_postgres.url, f"ALTER ROLE {APP_ROLE} CONNECTION LIMIT -1")


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not USES_POSTGRES,
    reason="Tortoise binds its models to one SQL dialect per process: beside the suite's SQLite, "
    "an app on PostgreSQL cannot run",
)
class TestDatabaseDown:
    async def test_a_stopped_database_answers_503_with_retry_after_then_the_same_requests_are_served(
        self, on_own_postgres
    ):
        client, pg = on_own_postgres
        resident = await f.make_resident(client, 1)
        shop = await f.make_shop(client)
        offer = await f.make_offer(client, shop, type="amount_off", value=500, label="立减5元")
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        scan = await f.make_scan(client, shop["cashier"], token, f.store(shop))
        assert scan.status_code == 201, scan.text
        key = uuid.uuid4().hex

        def issue() -> Awaitable[Any]:  # the hot paths' own connections
            return client.post(f"{MP}/pass", params={"image": "false"}, headers=resident["headers"])

        def me() -> Awaitable[Any]:  # the ORM's pool
            return client.get(f"{MP}/me", headers=resident["headers"])

        def redeem() -> Awaitable[Any]:  # the ledger's pool, with an Idempotency-Key as a cashier app sends
            return client.post(
                f"{MERCHANT}/redemptions",
                json={"scan_id": scan.json()["scan_id"], "offer_id": offer["id"], "order_amount_fen": 10_000},
                headers={**shop["cashier"], "Idempotency-Key": key},
            )

        await asyncio.to_thread(pg.stop, "fast")
        for send in (issue, me, redeem, issue):  # twice: a refused reconnection is not kept failing
            assert_unavailable(await send())
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"] is False

        await asyncio.to_thread(pg.start)
        _, took = await served_again(issue, 200, within_s=BACK_WITHIN_S)
        assert (await me()).status_code == 200
        first, _ = await served_again(redeem, 201, within_s=BACK_WITHIN_S)
        again = await redeem()  # the retry a client makes when it did not get the answer: the same redemption
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert (await client.get("/readyz")).status_code == 200
        assert took < BACK_WITHIN_S

    async def test_after_a_fast_restart_the_next_requests_are_served_on_new_connections(
        self, on_own_postgres
    ):
        client, pg = on_own_postgres
        resident = await f.make_resident(client, 2)
        for _ in range(3):  # connections of every pool are open and idle
            assert (await f.issue_pass(client, resident["headers"]))["token"]
            assert (await client.get(f"{MP}/me", headers=resident["headers"])).status_code == 200

        await asyncio.to_thread(pg.restart, "fast")  # every one of those connections is closed by the server
        answers = [
            (
                await client.post(f"{MP}/pass", params={"image": "false"}, headers=resident["headers"])
            ).status_code
            for _ in range(5)
        ]
        assert answers == [200] * 5
        assert (await client.get(f"{MP}/me", headers=resident["headers"])).status_code == 200

    @pytest.mark.parametrize("pool", ["hot paths", "ledger"])
    async def test_a_connection_lost_in_use_fails_as_an_outage_and_the_next_use_gets_a_new_one(
        self, own_postgres, pool
    ):
        url = own_postgres.url_of("xinyi_faults")
        db: Any = await (HotDatabase.open(url) if pool == "hot paths" else DirectPool.open(url))
        try:
            with pytest.raises(Exception) as lost:
                async with db.connection() as conn:
                    pid = (await conn.fetchrow("SELECT pg_backend_pid() AS pid"))["pid"]
                    await admin_sql(own_postgres.url, f"SELECT pg_terminate_backend({pid}, 5000)")
                    await conn.fetchrow("SELECT 1 AS one")
            assert unavailable(lost.value) == "database", repr(lost.value)
            for _ in range(3):
                async with db.connection() as conn:
                    assert (await conn.fetchrow("SELECT pg_backend_pid() AS pid"))["pid"] != pid
        finally:
            await db.close()

    async def test_lost_connections_and_refused_new_ones_answer_503_then_the_same_requests_are_served(
        self, on_own_postgres
    ):
        client, pg = on_own_postgres
        resident = await f.make_resident(client, 3)

        def issue() -> Awaitable[Any]:
            return client.post(f"{MP}/pass", params={"image": "false"}, headers=resident["headers"])

        def me() -> Awaitable[Any]:
            return client.get(f"{MP}/me", headers=resident["headers"])

        assert (await issue()).status_code == 200 and (await me()).status_code == 200
        # Every connection of the app is cut, and new ones are refused (TooManyConnectionsError).
        await admin_sql(
            pg.url,
            f"ALTER ROLE {APP_ROLE} CONNECTION LIMIT 0",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{APP_ROLE}'",
        )
        for send in (issue, me, issue, me):
            assert_unavailable(await send())

        await admin_sql(pg.url, f"ALTER ROLE {APP_ROLE} CONNECTION LIMIT -1")
        await served_again(issue, 200, within_s=BACK_WITHIN_S)
        await served_again(me, 200, within_s=BACK_WITHIN_S)


@pytest.mark.postgres_only
@pytest.mark.skipif(not USES_POSTGRES, reason="the scan's one statement is PostgreSQL's")
class TestAScanWhoseConnectionIsLost:
    async def test_its_retry_with_the_same_key_is_served_and_the_pass_stays_single_use(
        self, client, monkeypatch
    ):
        from passes import service as passes
        from server.sql import RawConnection

        shop = await f.make_shop(client)
        resident = await f.make_resident(client, 6)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        real, lost = RawConnection.fetchrow, []

        async def fetchrow(self: RawConnection, sql: str, *args: Any) -> Any:
            if sql == passes._SPEND_AND_SCAN_SQL and not lost:  # lost with the statement that spends the pass
                lost.append(sql)
                raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
            return await real(self, sql, *args)

        monkeypatch.setattr(RawConnection, "fetchrow", fetchrow)
        key = uuid.uuid4().hex

        def scan(key: str) -> Awaitable[Any]:
            return client.post(
                f"{MERCHANT}/scans",
                json={"pass_token": token, "store_id": f.store(shop)},
                headers={**shop["cashier"], "Idempotency-Key": key},
            )

        assert_unavailable(await scan(key))
        first = await scan(key)  # the cashier app's retry: the pass was not spent by the failed attempt
        assert first.status_code == 201, first.text
        again = await scan(key)
        assert again.status_code == 201 and again.json()["scan_id"] == first.json()["scan_id"]
        assert_error_shape(await scan(uuid.uuid4().hex), 409, "PASS_ALREADY_USED")


# --- a Redis of our own ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_redis() -> Iterator[OwnRedis]:
    if why := why_no_own_redis():
        pytest.skip(f"no Redis of our own: {why}")
    redis = OwnRedis()
    try:
        redis.start()
        yield redis
    finally:
        redis.close()


@pytest.fixture
async def on_own_redis(own_redis, settings) -> AsyncIterator[tuple[Any, OwnRedis]]:
    try:
        async with f.started_client(f.new_app(settings.with_overrides(redis_url=own_redis.url(0)))) as client:
            yield client, own_redis
    finally:
        own_redis.start()


class TestRedisRestart:
    async def test_a_stopped_redis_answers_503_where_it_is_needed_scans_go_on_and_restarted_empty_all_is_served(
        self, on_own_redis
    ):
        client, redis = on_own_redis
        shop = await f.make_shop(client)
        resident = await f.make_resident(client, 4)
        scanned = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await f.make_scan(client, shop["cashier"], scanned, f.store(shop))).status_code == 201
        owner = shop["owner"]

        def login() -> Awaitable[Any]:  # the login throttle: redis-py's pool
            return client.post(
                f"{MERCHANT}/auth/login", json={"username": owner["username"], "password": owner["password"]}
            )

        token = (await f.issue_pass(client, resident["headers"]))["token"]
        key = uuid.uuid4().hex

        def scan() -> Awaitable[Any]:  # single use is PostgreSQL's: a scan needs no Redis
            return client.post(
                f"{MERCHANT}/scans",
                json={"pass_token": token, "store_id": f.store(shop)},
                headers={**shop["cashier"], "Idempotency-Key": key},
            )

        await asyncio.to_thread(redis.stop)
        assert_unavailable(await login())
        during = await scan()
        assert during.status_code == 201, during.text
        replay = await f.make_scan(client, shop["cashier"], scanned, f.store(shop))
        assert_error_shape(replay, 409, "PASS_ALREADY_USED")  # refused with Redis down, too
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["redis"] is False

        await asyncio.to_thread(redis.start)  # empty: it kept nothing
        started = time.monotonic()
        assert (
            await login()
        ).status_code == 200  # the first try: dead connections are replaced, not reported
        assert time.monotonic() - started < 5.0
        again = await scan()  # the cashier app's retry of the scan made while Redis was down
        assert again.status_code == 201 and again.json()["scan_id"] == during.json()["scan_id"]
        assert_error_shape(
            await f.make_scan(client, shop["cashier"], token, f.store(shop)), 409, "PASS_ALREADY_USED"
        )

    async def test_connections_idle_across_a_restart_are_replaced_on_first_use(self, on_own_redis):
        client, redis = on_own_redis
        shop = await f.make_shop(client)
        owner = shop["owner"]

        async def logins() -> list[Any]:  # at once, so that the pool holds several connections
            return await asyncio.gather(
                *(
                    client.post(
                        f"{MERCHANT}/auth/login",
                        json={"username": owner["username"], "password": owner["password"]},
                    )
                    for _ in range(3)
                )
            )

        assert [r.status_code for r in await logins()] == [200] * 3
        await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(redis.start)
        answers = await logins()  # each would have found a dead connection
        assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]

    async def test_a_request_that_arrives_while_redis_comes_back_waits_for_it(self, on_own_redis):
        client, redis = on_own_redis
        shop = await f.make_shop(client)
        owner = shop["owner"]
        await asyncio.to_thread(redis.stop)

        async def start_soon() -> None:
            await asyncio.sleep(0.1)
            await asyncio.to_thread(redis.start)

        starting = asyncio.create_task(start_soon())
        # Connections are refused for the first tenth of a second: the command is retried with backoff.
        r = await client.post(
            f"{MERCHANT}/auth/login", json={"username": owner["username"], "password": owner["password"]}
        )
        await starting
        assert r.status_code == 200, r.text
