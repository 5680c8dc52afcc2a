"""What the HTTP benchmarks share: a real ``xinyi serve`` on a fresh PostgreSQL database, and its seed data.

``served(...)`` creates the database, migrates it, empties the Redis database, starts
``xinyi serve --workers N`` on a free port (its own WeChat sandbox included), waits until it is
ready, and on the way out stops it, drops the database and empties Redis again. ``seed(...)``
makes, over HTTP, a regulator, a merchant with a store, its owner and a cashier, three approved
offers and residents who consented and bound an identity.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from residents.identity import with_check_digit  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


class CpuMeter:
    """Where this machine's CPU time went between two readings of ``/proc`` (Linux only).

    ``steal`` is time the hypervisor gave this virtual machine's CPUs to someone else: under a
    latency target it is the one figure that no code here can change, so it is printed beside
    the figures it skews. ``busy`` is time spent running anything (user, system, interrupts).
    With ``server_sid`` (the session of ``xinyi serve``: its main process and workers), the CPU
    time of the server, PostgreSQL, Redis and this load generator is kept apart as well, so a
    figure can say what one operation cost each of them. With ``database`` too, PostgreSQL's
    backends serving other databases (someone's test run on the same PostgreSQL) are left out;
    its shared background processes (WAL writer, checkpointer, …) are counted.
    """

    FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    TICK_S = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01

    def __init__(self, server_sid: int | None = None, *, database: str | None = None) -> None:
        self._server_sid = server_sid
        self._database = database
        self._start = self._machine()
        self._start_groups = self._groups()

    @classmethod
    def _machine(cls) -> list[int] | None:
        try:
            with open("/proc/stat") as f:
                first = f.readline().split()
        except OSError:
            return None
        return [int(v) for v in first[1 : 1 + len(cls.FIELDS)]] if first and first[0] == "cpu" else None

    def _groups(self) -> dict[int, tuple[str, int]]:
        """pid -> (group, CPU ticks so far) for the processes a figure is split over."""
        if self._server_sid is None:
            return {}
        me, found = os.getpid(), {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    raw = f.read()
            except OSError:  # gone meanwhile
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            rest = raw[raw.rindex(")") + 2 :].split()
            sid, ticks = int(rest[3]), int(rest[11]) + int(rest[12])  # session, utime + stime
            pid = int(entry.name)
            group = (
                "server"
                if sid == self._server_sid
                else "PostgreSQL"
                if comm.startswith("postgres") and self._serves_database(pid)
                else "Redis"
                if comm.startswith("redis")
                else "load generator"
                if pid == me
                else None
            )
            if group:
                found[pid] = (group, ticks)
        return found

    def _serves_database(self, pid: int) -> bool:
        """Whether a PostgreSQL process works for this meter's database (or for all: the background ones)."""
        if self._database is None:
            return True
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        match = _BACKEND_TITLE.match(title) or _AUTOVACUUM_TITLE.match(title)
        return match is None or match.group(1) == self._database

    def shares(self) -> dict[str, float] | None:
        """Share of all CPU time since the meter was made, per field (None off Linux)."""
        end = self._machine()
        if self._start is None or end is None:
            return None
        delta = dict(zip(self.FIELDS, (b - a for a, b in zip(self._start, end, strict=True)), strict=True))
        total = sum(delta.values()) or 1
        return {k: v / total for k, v in delta.items()}

    def _spent(self) -> list[tuple[str, float]]:
        """(group, CPU seconds) per process since the meter was made (processes that exited meanwhile are not counted)."""
        return [
            (group, (ticks - self._start_groups.get(pid, (group, 0))[1]) * self.TICK_S)
            for pid, (group, ticks) in self._groups().items()
        ]

    def seconds_by_group(self) -> dict[str, float]:
        """CPU seconds per group since the meter was made."""
        spent: dict[str, float] = {}
        for group, seconds in self._spent():
            spent[group] = spent.get(group, 0.0) + seconds
        return spent

    def busiest(self, group: str, count: int) -> list[float]:
        """CPU seconds of the ``count`` busiest processes of ``group`` since the meter was made, busiest first."""
        return sorted((seconds for g, seconds in self._spent() if g == group), reverse=True)[:count]

    def summary(
        self,
        *,
        operations: int = 0,
        unit: str = "op",
        workers: int = 0,
        groups: dict[str, float] | None = None,
    ) -> str:
        """One line: the machine's busy/idle/steal shares; with ``operations``, CPU ms per operation by group;
        with ``workers``, how the server's CPU time split over its busiest processes (its workers)."""
        s = self.shares()
        if s is None:
            return "CPU shares unknown (no /proc/stat)"
        busy = s["user"] + s["nice"] + s["system"] + s["irq"] + s["softirq"]
        line = f"CPU busy {busy:.0%}, idle {s['idle'] + s['iowait']:.0%}, stolen by the host {s['steal']:.0%}"
        if groups is None:
            groups = self.seconds_by_group()
        if operations and groups:
            per = ", ".join(f"{g} {t / operations * 1000:.2f}" for g, t in sorted(groups.items()))
            line += f"; CPU ms per {unit}: {per}"
        if workers > 1 and (spent := self.busiest("server", workers)) and sum(spent):
            split = " / ".join(f"{t / sum(spent):.0%}" for t in spent)
            line += f"; the server's {workers} workers' shares of its CPU: {split}"
        return line


# ``postgres: 15/main: user database 127.0.0.1(5432) idle`` and ``postgres: autovacuum worker database``
_BACKEND_TITLE = re.compile(r"^postgres: (?:[^:]*: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])")
_AUTOVACUUM_TITLE = re.compile(r"^postgres: (?:[^:]*: )?autovacuum worker (\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def pg(sql: str, *, url: str = DATABASE_URL, fetch: bool = False) -> Any:
    """One statement on its own connection (``url`` defaults to the server's maintenance database)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        return await conn.fetch(sql) if fetch else await conn.execute(sql)
    finally:
        await conn.close()


async def flush_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def xinyi(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(ROOT / ".venv/bin/xinyi"), *args], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )


def wait_ready(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not become ready:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Served:
    """A running server: its base URL and port, the environment it runs with, and its database."""

    base: str
    port: int
    env: dict[str, str]
    database_url: str
    database: str
    work: Path
    pid: int  # the main process; its workers share its session id


@contextmanager
def served(prefix: str, *, redis_url: str, workers: int) -> Iterator[Served]:
    """``xinyi serve --workers N`` on a new database ``{prefix}_{pid}``; everything removed afterwards."""
    import asyncio

    name = f"{prefix}_{os.getpid()}"
    database_url = with_database(DATABASE_URL, name)
    work = Path(tempfile.mkdtemp(prefix="xinyi-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "XINYI_ENV": "dev",
        "XINYI_VAR_DIR": str(work / "var"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    asyncio.run(pg(f'CREATE DATABASE "{name}"'))
    asyncio.run(flush_redis(redis_url))
    server = None
    log = work / "server.log"
    try:
        xinyi(env, "migrate")
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(ROOT / ".venv/bin/xinyi"), "serve", "--workers", str(workers), "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_ready(base, server, log)
        yield Served(
            base=base, port=port, env=env, database_url=database_url, database=name, work=work, pid=server.pid
        )
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        asyncio.run(pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(flush_redis(redis_url))
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class Seeded:
    """The seed data: the store, the offers (20 % off tickets first), the cashier's and residents' Authorization headers."""

    store_id: str
    offer_ids: list[str]
    cashier: str
    residents: list[str]


def seed(base: str, env: dict[str, str], *, residents: int) -> Seeded:
    """A regulator, a merchant with a store, its owner and a cashier, three approved offers, residents with identity.

    The first offer (20 % off tickets from tier A) has neither a stock nor a per-resident limit.
    """
    xinyi(env, "create-admin", "--username", "bench-admin", "--password", "bench-admin-password")
    with httpx.Client(base_url=base, timeout=30) as http:

        def ok(r: httpx.Response, status: int = 200) -> dict:
            assert r.status_code == status, r.text
            return r.json()

        admin = {
            "Authorization": "Bearer "
            + ok(
                http.post(
                    "/api/v1/admin/auth/login",
                    json={"username": "bench-admin", "password": "bench-admin-password"},
                )
            )["access_token"]
        }
        merchant = ok(
            http.post(
                "/api/v1/admin/merchants",
                json={"name": "玉龙雪山景区", "category": "scenic_spot", "region": "530700"},
                headers=admin,
            ),
            201,
        )
        store = ok(
            http.post(
                f"/api/v1/admin/merchants/{merchant['id']}/stores",
                json={"name": "甘海子游客中心", "region": "530700"},
                headers=admin,
            ),
            201,
        )
        for username, role, stores in (
            ("bench-owner", "owner", []),
            ("bench-cashier", "cashier", [store["id"]]),
        ):
            ok(
                http.post(
                    f"/api/v1/admin/merchants/{merchant['id']}/staff",
                    json={
                        "username": username,
                        "password": "bench-password",
                        "role": role,
                        "store_ids": stores,
                    },
                    headers=admin,
                ),
                201,
            )

        def staff(username: str) -> str:
            return (
                "Bearer "
                + ok(
                    http.post(
                        "/api/v1/merchant/auth/login",
                        json={"username": username, "password": "bench-password"},
                    )
                )["access_token"]
            )

        owner = {"Authorization": staff("bench-owner")}
        window = {"valid_from": "2020-01-01T00:00:00+08:00", "valid_until": "2099-01-01T00:00:00+08:00"}
        offers = []
        for terms in (
            {"type": "percent_off", "value": 20, "label": "门票八折", "min_tier": "A"},
            {"type": "priority_lane", "label": "索道优先通道", "min_tier": "A", "total_stock": 1_000_000},
            {"type": "amount_off", "value": 5000, "label": "观光车立减50元", "min_tier": "AA"},
        ):
            offer = ok(
                http.post(
                    "/api/v1/merchant/offers", json={"scenario": "travel", **window, **terms}, headers=owner
                ),
                201,
            )
            ok(http.post(f"/api/v1/admin/offers/{offer['id']}/approve", headers=admin))
            offers.append(offer["id"])

        auths = []
        for i in range(residents):
            login = ok(
                http.post("/api/v1/mp/auth/login", json={"code": f"mock:bench{i}:{uuid.uuid4().hex[:6]}"})
            )
            headers = {"Authorization": f"Bearer {login['access_token']}"}
            version = ok(http.get("/api/v1/mp/consent", headers=headers))["version"]
            ok(http.post("/api/v1/mp/consent", json={"version": version}, headers=headers))
            number = with_check_digit(f"5301021990{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i:03d}")
            ok(http.post("/api/v1/mp/identity", json={"name": "张三", "id_number": number}, headers=headers))
            auths.append(headers["Authorization"])
        return Seeded(store_id=store["id"], offer_ids=offers, cashier=staff("bench-cashier"), residents=auths)
