"""Webhook delivery: latency from a committed tier change to the receiver, and one worker's events/s.

What it does, from the repository root (``.venv/bin/python bench/bench_webhooks.py``):

1. creates a PostgreSQL database (``BENCH_DATABASE_URL``, default
   ``postgres://postgres@127.0.0.1:5432/postgres`` for the server to create it in) and migrates it;
2. starts a webhook receiver on 127.0.0.1 (asyncio, HTTP/1.1 keep-alive, answers 200 at once and
   notes the arrival time of every event) and ``xinyi serve`` (one worker, so one webhook worker,
   with the default settings: ``WEBHOOK_POLL_S`` 1, ``WEBHOOK_TIMEOUT_S`` 10, LISTEN/NOTIFY);
3. seeds over HTTP: a regulator, a tourism partner whose webhook URL is the receiver, and
   ``RESIDENTS`` residents who granted it ``tier:read`` (codes exchanged over signed requests);
4. **latency**: ``SAMPLES`` times, one at a time, a regulator imports a black-list record of one
   resident (or revokes it), which changes the tier and writes ``tier.changed`` in the import's
   transaction; the figure is the receiver's arrival time minus the event's ``created_at``
   (stamped inside the transaction, just before the commit, so a slight over-estimate), with the
   arrival minus the end of the import's HTTP response (after the commit: an under-estimate) beside it;
5. **throughput**: writes ``EVENTS`` events to the outbox in one transaction (as a bulk recompute
   would) and measures how long the server's single worker takes to have them all acknowledged,
   first with the receiver answering at once, then with a receiver that takes ``SLOW_MS`` per event;
6. checks every event arrived exactly once with a valid signature, stops everything, drops the database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from partners.signing import sign, signed_headers  # noqa: E402
from residents.identity import with_check_digit  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
RESIDENTS = int(os.environ.get("BENCH_RESIDENTS", "10"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "40"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "3000"))
SLOW_EVENTS = int(os.environ.get("BENCH_SLOW_EVENTS", "1000"))
SLOW_MS = float(os.environ.get("BENCH_SLOW_MS", "50"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Receiver:
    """Notes (arrival time, event, signature ok) per request; answers 200 after ``delay_s``."""

    def __init__(self, port: int, path: str):
        self.port, self.path = port, path
        self.secret = ""
        self.delay_s = 0.0
        self.arrivals: dict[str, list[float]] = {}
        self.bodies: dict[str, dict] = {}
        self.bad_signatures = 0
        self._new = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=512)

    async def stop(self) -> None:
        self._server.close()

    async def wait_for(
        self, ids: set[str] | None = None, count: int | None = None, timeout_s: float = 120
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not (
            (ids is not None and ids <= self.arrivals.keys())
            or (count is not None and len(self.arrivals) >= count)
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: the receiver got {len(self.arrivals)} events")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), timeout=1)
            except TimeoutError:
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.time()
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                event_id = headers.get("x-event-id", "")
                expected = sign(
                    self.secret,
                    method,
                    target,
                    headers.get("x-timestamp", ""),
                    headers.get("x-nonce", ""),
                    body,
                )
                if headers.get("x-signature") != expected:
                    self.bad_signatures += 1
                self.arrivals.setdefault(event_id, []).append(arrived)
                self.bodies[event_id] = orjson.loads(body)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                self._new.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def wait_ready(base: str, server: asyncio.subprocess.Process, log_path: Path) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            if server.returncode is not None:
                raise SystemExit(f"the server exited; its output is in {log_path}")
            try:
                if (await http.get(base + "/readyz", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not become ready")


async def seed(http: httpx.AsyncClient, env: dict[str, str], receiver: Receiver) -> dict:
    await asyncio.to_thread(
        subprocess.run,
        [
            str(ROOT / ".venv/bin/xinyi"),
            "create-admin",
            "--username",
            "bench-admin",
            "--password",
            "bench-admin-password",
        ],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )

    def ok(r: httpx.Response, status: int = 200) -> dict:
        assert r.status_code == status, r.text
        return r.json()

    admin = {
        "Authorization": "Bearer "
        + ok(
            await http.post(
                "/api/v1/admin/auth/login",
                json={"username": "bench-admin", "password": "bench-admin-password"},
            )
        )["access_token"]
    }
    partner = ok(
        await http.post(
            "/api/v1/admin/partners",
            json={
                "name": "一部手机游云南",
                "kind": "tourism",
                "scopes": ["tier:read"],
                "webhook_url": f"http://127.0.0.1:{receiver.port}{receiver.path}",
            },
            headers=admin,
        ),
        201,
    )
    receiver.secret = partner["secret"]
    numbers = []
    for i in range(RESIDENTS):
        login = ok(
            await http.post("/api/v1/mp/auth/login", json={"code": f"mock:whbench{i}:{uuid.uuid4().hex[:6]}"})
        )
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        version = ok(await http.get("/api/v1/mp/consent", headers=headers))["version"]
        ok(await http.post("/api/v1/mp/consent", json={"version": version}, headers=headers))
        number = with_check_digit(f"5301021990{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i:03d}")
        ok(
            await http.post(
                "/api/v1/mp/identity", json={"name": "张三", "id_number": number}, headers=headers
            )
        )
        grant = ok(
            await http.post(
                "/api/v1/mp/grants",
                json={"partner_id": partner["id"], "scopes": ["tier:read"]},
                headers=headers,
            ),
            201,
        )
        raw = orjson.dumps({"authorization_code": grant["authorization_code"]})
        signed = signed_headers(
            partner["key"], partner["secret"], "POST", "/api/v1/partner/grants/exchange", raw
        )
        ok(
            await http.post(
                "/api/v1/partner/grants/exchange",
                content=raw,
                headers={**signed, "Content-Type": "application/json"},
            )
        )
        numbers.append(number)
    return {"admin": admin, "partner": partner, "numbers": numbers}


async def latency(http: httpx.AsyncClient, seeded: dict, receiver: Receiver) -> dict[str, list[float]]:
    """One tier change at a time; the receiver's arrival against the event's creation and the import's answer."""
    in_tx, after_answer = [], []
    active: dict[str, bool] = {}
    for n in range(SAMPLES):
        number = seeded["numbers"][n % len(seeded["numbers"])]
        listed = not active.get(number, False)
        item = {
            "source": "bench",
            "source_record_id": f"bl-{number}",
            "subject_type": "natural_person",
            "id_number": number,
            "name": "张三",
            "category": "black_list",
            "severity": "serious",
            "title": "失信被执行人",
            "decided_at": (date.today() - timedelta(days=3)).isoformat(),
            "status": "active" if listed else "revoked",
        }
        before = set(receiver.arrivals)
        r = await http.post("/api/v1/admin/credit-records", json={"items": [item]}, headers=seeded["admin"])
        answered = time.time()
        assert r.status_code == 200 and not r.json()["rejected"], r.text
        active[number] = listed
        await receiver.wait_for(count=len(before) + 1, timeout_s=30)
        [event_id] = set(receiver.arrivals) - before
        arrived = receiver.arrivals[event_id][0]
        created = datetime.fromisoformat(receiver.bodies[event_id]["created_at"]).timestamp()
        in_tx.append((arrived - created) * 1000)
        after_answer.append((arrived - answered) * 1000)
        await asyncio.sleep(0.05)
    return {"created": in_tx, "answered": after_answer}


async def throughput(settings, partner_id: str, receiver: Receiver, count: int) -> float:
    """Events per second the server's worker delivers: ``count`` events written at once, until all are acknowledged."""
    from tortoise.transactions import in_transaction

    from partners.webhooks import enqueue

    before = len(receiver.arrivals)
    async with in_transaction() as conn:
        ids = await enqueue(
            conn,
            [(uuid.UUID(partner_id), "bench.event", {"n": n}) for n in range(count)],
            now=datetime.now(UTC),
        )
    committed = time.time()
    wanted = {str(i) for i in ids}
    await receiver.wait_for(ids=wanted, timeout_s=300)
    last = max(receiver.arrivals[i][0] for i in wanted)
    assert len(receiver.arrivals) == before + count
    return count / (last - committed)


async def main() -> None:
    from server.settings import load_settings
    from xinyi.database import close_db, init_db, run_migrations

    name = f"xinyi_bench_webhooks_{uuid.uuid4().hex[:6]}"
    db_url = with_database(DATABASE_URL, name)
    work = Path(tempfile.mkdtemp(prefix="xinyi-bench-webhooks-"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "REDIS_URL", "WECHAT_API_BASE"))
    }
    env.update({"DATABASE_URL": db_url, "XINYI_ENV": "dev", "XINYI_VAR_DIR": str(work / "var")})
    settings = load_settings(env, dotenv=None)
    await pg_admin(f'CREATE DATABASE "{name}"')
    server = None
    receiver = Receiver(free_port(), "/hooks/xinyi?tenant=bench")
    try:
        await run_migrations(settings)
        await receiver.start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = work / "server.log"
        with log_path.open("w") as server_log:
            server = await asyncio.create_subprocess_exec(
                str(ROOT / ".venv/bin/xinyi"),
                "serve",
                "--port",
                str(port),
                env=env,
                cwd=ROOT,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
        await wait_ready(base, server, log_path)
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            seeded = await seed(http, env, receiver)
            lat = await latency(http, seeded, receiver)
        await init_db(settings)
        try:
            fast = await throughput(settings, seeded["partner"]["id"], receiver, EVENTS)
            receiver.delay_s = SLOW_MS / 1000
            slow = await throughput(settings, seeded["partner"]["id"], receiver, SLOW_EVENTS)
        finally:
            await close_db()
        duplicates = sum(len(v) - 1 for v in receiver.arrivals.values())

        print(
            "webhook delivery, one `xinyi serve` worker with the default settings (PostgreSQL LISTEN/NOTIFY, "
            f"poll {settings.webhook_poll_s:g} s), receiver on 127.0.0.1"
        )
        created, answered = lat["created"], lat["answered"]
        print(f"latency, tier change committed → receiver got it ({SAMPLES} changes, one at a time):")
        print(
            f"  from the event's creation in the transaction: median {statistics.median(created):.1f} ms, "
            f"p95 {pct(created, 0.95):.1f} ms, max {max(created):.1f} ms"
        )
        print(
            f"  from the import's HTTP answer (after the commit): median {statistics.median(answered):.1f} ms, "
            f"p95 {pct(answered, 0.95):.1f} ms (negative: the event arrived before the answer did)"
        )
        print(f"throughput, one worker: {fast:.0f} events/s ({EVENTS} events, receiver answering at once)")
        print(
            f"            {slow:.0f} events/s ({SLOW_EVENTS} events, receiver taking {SLOW_MS:g} ms per event)"
        )
        print(
            f"events received: {len(receiver.arrivals)}, duplicates: {duplicates}, bad signatures: "
            f"{receiver.bad_signatures}, CPUs: {os.cpu_count()}"
        )
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if server is not None and server.returncode is None:
            server.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(server.wait(), timeout=30)
            except TimeoutError:
                server.kill()
        await receiver.stop()
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
