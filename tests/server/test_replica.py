"""Reads on a streaming replica (``DATABASE_REPLICA_URL``), over HTTP, on a primary and replica of our own.

A PostgreSQL primary and a hot standby fed by streaming replication (``bench/_replication.py``:
``initdb``, ``pg_basebackup -R``, ``pg_ctl`` on spare ports) are started once for this module.
To tell who served a read, the replica's replay is paused (``pg_wal_replay_pause``): whatever
is written afterwards exists on the primary only, so a listing that does not show it was read on
the replica, and one that shows it was read on the primary. Skipped where PostgreSQL's server
binaries are missing (never under ``CI=true``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bench._replication import PgPair, why_no_own_postgres
from server.replica import READS
from tests import factories as f
from tests.conftest import valid_id_number

if why_no_own_postgres() and os.environ.get("CI", "").lower() != "true":
    pytest.skip(f"no PostgreSQL of our own here: {why_no_own_postgres()}", allow_module_level=True)

STICKY_S = 1.0


@pytest.fixture(scope="module")
def pair(var_dir: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    from tests.conftest import USES_POSTGRES, _settings
    from xinyi.database import run_migrations

    pg = PgPair()
    try:
        pg.start()
        name = f"xinyi_replica_{uuid.uuid4().hex[:6]}"
        asyncio.run(_execute(pg.url, f'CREATE DATABASE "{name}"'))
        if USES_POSTGRES:  # the run's migrated database, copied (migrating again takes 20-30 s)
            source = request.getfixturevalue("migrated_database")["url"]
            _copy_schema(pg, source.replace("postgres://", "postgresql://", 1), name)
        else:
            asyncio.run(run_migrations(_settings(var_dir, pg.url_of(name), None)))
        yield {"pg": pg, "primary": pg.url_of(name), "replica": pg.url_of(name, replica=True)}
    finally:
        pg.close()


@pytest.fixture
async def settings(pair, var_dir, wechat_sandbox):  # the conftest's app and client run on these
    from tests.conftest import _reset_postgres, _reset_redis, _settings

    await _replay(pair, resume=True)
    await _reset_postgres(pair["primary"])
    await _reset_redis()
    await _caught_up(pair)
    return _settings(
        var_dir,
        pair["primary"],
        None,
        WECHAT_API_BASE=wechat_sandbox.base_url,
        DATABASE_REPLICA_URL=pair["replica"],
        REPLICA_STICKY_S=str(STICKY_S),
    )


@pytest.fixture
def paused(pair) -> Callable[[], Awaitable[None]]:
    """Call it to stop the replica's replay: what is written from then on is on the primary only."""
    return lambda: _replay(pair, resume=False)


async def test_the_replica_connection_is_a_standby_and_the_primary_is_not(client):
    from tortoise import connections

    from server.database import replica_connection

    replica = await replica_connection().execute_query_dict("SELECT pg_is_in_recovery() AS r")
    primary = await connections.get("default").execute_query_dict("SELECT pg_is_in_recovery() AS r")
    assert replica[0]["r"] is True and primary[0]["r"] is False


async def test_a_listing_is_read_on_the_replica(client, pair, paused):
    reader = await client.admin_headers("auditor", "auditor-password")  # writes nothing from now on
    shop = await f.make_shop(client)
    await _caught_up(pair)
    await paused()
    offer = await f.make_offer(client, shop, label="新品八折")  # on the primary only
    before = _count("replica")
    r = await client.get("/api/v1/admin/offers", headers=reader)
    assert r.status_code == 200
    assert offer["id"] not in [o["id"] for o in r.json()["items"]]  # the replica has not seen it yet
    assert _count("replica") == before + 1


async def test_after_their_own_action_a_resident_reads_the_primary_then_the_replica_again(
    client, pair, paused
):
    resident = await client.login_resident(consent=True)
    await _caught_up(pair)
    await asyncio.sleep(STICKY_S)  # the consent's window has closed
    await paused()
    # bind the identity: a write that gives the resident a tier
    r = await client.post(
        "/api/v1/mp/identity",
        json={"name": "张三", "id_number": valid_id_number(5)},
        headers=resident["headers"],
    )
    assert r.status_code == 200, r.text
    sticky = _count("primary_sticky")
    mine = await client.get("/api/v1/mp/export", headers=resident["headers"])
    assert mine.status_code == 200
    assert mine.json()["resident"]["identity_bound"] is True  # not the replica's stale "unbound"
    assert mine.json()["resident"].get("tier") not in (None, "")
    assert _count("primary_sticky") == sticky + 1
    await asyncio.sleep(STICKY_S + 0.2)  # the window closes: the replica (still paused) serves it again
    later = await client.get("/api/v1/mp/export", headers=resident["headers"])
    assert later.status_code == 200 and later.json()["resident"]["identity_bound"] is False


async def test_reads_fall_back_to_the_primary_while_the_replica_is_stopped(client, pair):
    reader = await client.admin_headers("auditor", "auditor-password")
    pair["pg"].stop_replica()
    try:
        fallback = _count("primary_fallback")
        for _ in range(3):
            r = await client.get("/api/v1/admin/offers", headers=reader)
            assert r.status_code == 200, r.text
        assert _count("primary_fallback") == fallback + 1  # then the replica is left alone a while
    finally:
        pair["pg"].start_replica()


def _copy_schema(pg: PgPair, source: str, name: str) -> None:
    dump = subprocess.run(
        [str(pg.bin / "pg_dump"), "--no-owner", "--no-privileges", source], check=True, capture_output=True
    ).stdout
    subprocess.run(
        [
            str(pg.bin / "psql"),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            pg.host,
            "-p",
            str(pg.port),
            "-U",
            "postgres",
            name,
        ],
        input=dump,
        check=True,
        capture_output=True,
    )


def _count(served_by: str) -> float:
    return READS.labels(served_by)._value.get()


async def _execute(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _replay(pair, *, resume: bool) -> None:
    call = "pg_wal_replay_resume()" if resume else "pg_wal_replay_pause()"
    await _execute(pair["replica"], f"SELECT {call}")


async def _caught_up(pair, timeout_s: float = 10.0) -> None:
    """Wait until the replica has replayed everything the primary wrote so far."""
    target = await _execute(pair["primary"], "SELECT pg_current_wal_lsn()::text")
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        done = await _execute(pair["replica"], f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
        if done:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the replica did not catch up")
