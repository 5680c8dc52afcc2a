"""Test fixtures: a real database (PostgreSQL when DATABASE_URL says so, else SQLite) with the
migrations applied, real Redis when REDIS_URL is set (else the in-process store), the WeChat
sandbox over HTTP, and a fresh app per test driven through ASGI with httpx.

Each test run gets its own PostgreSQL database, created here and dropped at the end; each test
starts from empty tables and an empty Redis database. With CI=true a missing PostgreSQL or Redis
is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from sanic import Sanic
from tests_support import AppClient

from server.settings import Settings, load_settings
from server.wechat_sandbox import WeChatSandbox

# Redis databases that others on this machine use, which no pytest-xdist worker may take (it flushes its
# database before every test): 0 the database of any client that names none, 8 interactive use,
# 11 tests/contract/run_schemathesis.py, 12 .ci/walkthrough.sh, 13 and 14 the benchmarks (bench/),
# 15 tests/server/test_wechat.py (keys of its own there, never flushed).
RESERVED_REDIS_DBS = frozenset({0, 8, 11, 12, 13, 14, 15})
REDIS_DATABASES = 16  # Redis's default `databases 16`: indexes 0-15


def worker_redis_url(url: str, worker: str | None) -> str:
    """The Redis URL of one pytest-xdist worker (``PYTEST_XDIST_WORKER``: gw0, gw1, …).

    Every test flushes its Redis database first (``_reset_redis``), so two workers on one database
    would wipe each other's keys: each worker gets a database of its own. gw0, and a run without
    xdist, keep the database that ``url`` names; gwN takes the Nth free index counting up from it,
    wrapping round within 0-15 and skipping the reserved ones above (for db 9: gw1 → 10, gw2 → 1,
    gw3 → 2 …; nine workers at most). A URL without Redis, or a Redis Cluster (database 0 only),
    is returned as it is for gw0 and is a usage error for any other worker.
    """
    n = int(worker.removeprefix("gw")) if worker and worker.startswith("gw") else 0
    if not url or n == 0:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    db_in_query = next((v for k, v in query if k == "db"), None)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise pytest.UsageError(
            f"REDIS_URL {parts.scheme}://… has one database only: run the tests in one process (PYTEST_WORKERS=0)"
        )
    base = int(db_in_query or (parts.path.strip("/") if parts.scheme != "unix" else "") or 0)
    free = [
        db % REDIS_DATABASES
        for db in range(base + 1, base + REDIS_DATABASES)
        if db % REDIS_DATABASES not in RESERVED_REDIS_DBS
    ]
    if n > len(free):
        raise pytest.UsageError(
            f"{n + 1} pytest-xdist workers, but only {len(free) + 1} Redis databases for them"
        )
    db = str(free[n - 1])
    if db_in_query is not None or parts.scheme == "unix":
        query = [(k, v) for k, v in query if k != "db"] + [("db", db)]
        return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"  # keeps unix:///path
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, parts.fragment))


IN_CI = os.environ.get("CI", "").lower() == "true"
DATABASE_URL = os.environ.get("DATABASE_URL") or ""
# Every reader of REDIS_URL in the tests goes through here: the settings below, and, through the
# environment set here, the tests that read os.environ or hand it to processes they start.
REDIS_URL = worker_redis_url(os.environ.get("REDIS_URL") or "", os.environ.get("PYTEST_XDIST_WORKER"))
if REDIS_URL:
    os.environ["REDIS_URL"] = REDIS_URL
USES_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))

if IN_CI and not (USES_POSTGRES and REDIS_URL):
    raise pytest.UsageError(
        "CI=true needs DATABASE_URL (PostgreSQL) and REDIS_URL: tests must run on the real services"
    )

Sanic.test_mode = True


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def var_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="xinyi-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def wechat_sandbox() -> Iterator[WeChatSandbox]:
    sandbox = WeChatSandbox(appid="wxtest0000000000", secret="test-secret")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def migrated_database(var_dir: Path) -> Iterator[dict[str, Any]]:
    """A database with every migration applied, once per test run."""
    from xinyi.database import run_migrations

    if USES_POSTGRES:
        name = f"xinyi_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        except OSError as exc:
            pytest.exit(f"PostgreSQL at DATABASE_URL is unreachable: {exc}", returncode=3)
        url = _with_database(DATABASE_URL, name)
        template = None
    else:
        name, url = "", ""
        template = var_dir / "template.sqlite3"
    settings = _settings(var_dir, url or None, template)
    asyncio.run(run_migrations(settings))
    yield {"url": url, "template": template, "name": name}
    if USES_POSTGRES:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _settings(var_dir: Path, database_url: str | None, sqlite_file: Path | None, **extra: str) -> Settings:
    environ = {
        "XINYI_ENV": "test",
        "XINYI_VAR_DIR": str(var_dir),
        "WECHAT_APPID": "wxtest0000000000",
        "WECHAT_SECRET": "test-secret",
        **extra,
    }
    if database_url:
        environ["DATABASE_URL"] = database_url
    elif sqlite_file is not None:
        environ["DATABASE_URL"] = f"sqlite://{sqlite_file}"
    if REDIS_URL:
        environ["REDIS_URL"] = REDIS_URL
    return load_settings(environ, dotenv=None)


async def _reset_postgres(url: str) -> None:
    import asyncpg

    # DELETE, not TRUNCATE: a test leaves a few rows in a few of ~40 tables, and TRUNCATE gives every
    # table a new file (measured here: 170-210 ms a reset against 13 ms, 3 of the suite's 8 minutes).
    # Foreign keys are not checked while everything goes (session_replication_role), and the
    # sequences start again as TRUNCATE's RESTART IDENTITY did.
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'tortoise_migrations%'"
        )
        sequences = await conn.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        statements = [f'DELETE FROM "{r["tablename"]}"' for r in tables]
        statements += [f'ALTER SEQUENCE "{r["sequencename"]}" RESTART' for r in sequences]
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica; " + "; ".join(statements))
    finally:
        await conn.close()


async def _reset_redis() -> None:
    if REDIS_URL:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        try:
            await client.flushdb()
        finally:
            await client.aclose()
    else:
        import fakeredis

        from server.redis import _shared_fake_server

        await fakeredis.FakeAsyncRedis(server=_shared_fake_server()).flushall()


@pytest.fixture
async def settings(
    migrated_database: dict[str, Any], var_dir: Path, wechat_sandbox: WeChatSandbox, tmp_path: Path
) -> Settings:
    """Settings of a fresh, empty, migrated database and an empty Redis."""
    if USES_POSTGRES:
        await _reset_postgres(migrated_database["url"])
        db_url, sqlite_file = migrated_database["url"], None
    else:
        sqlite_file = tmp_path / "xinyi.sqlite3"
        shutil.copyfile(migrated_database["template"], sqlite_file)
        db_url = None
    await _reset_redis()
    return _settings(var_dir, db_url, sqlite_file, WECHAT_API_BASE=wechat_sandbox.base_url)


@pytest.fixture
async def app(settings: Settings) -> Sanic:
    from xinyi.app import create_app

    return create_app(settings, name=f"xinyi_{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def client(app: Sanic) -> AsyncIterator[AppClient]:
    c = AppClient(app)
    await c.start()
    try:
        yield c
    finally:
        await c.aclose()
        await c.stop()


def valid_id_number(seed: int = 1) -> str:
    """A GB 11643-valid ID number (Kunming, born 1990), distinct for each seed."""
    from residents.identity import with_check_digit

    return with_check_digit(f"530102199001{(seed % 28) + 1:02d}{seed % 1000:03d}")


@pytest.fixture
def id_number() -> Any:
    return valid_id_number


# Tests that start processes of their own (``xinyi serve``, Chromium, a PostgreSQL replica, a
# Redis Cluster, a database stopped under the app): ``make test-processes`` runs them, and CI
# runs it after ``make test``, which leaves them out to stay within its ten minutes.
PROCESS_TESTS = (
    "tests/browser/",
    "tests/server/test_cli_server.py",
    "tests/server/test_faults.py",
    "tests/server/test_replica.py",
    "tests/server/test_redis_cluster.py",
    "tests/server/test_observability.py::test_two_workers_report_the_sum_of_their_counts",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(PROCESS_TESTS):
            item.add_marker(pytest.mark.processes)
