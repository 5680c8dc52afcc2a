"""Faults under load: what clients see, how soon the server recovers, and whether the ledger still matches.

What it does, from the repository root (``.venv/bin/python bench/chaos.py``):

1. starts a PostgreSQL cluster (``initdb`` + ``pg_ctl``, as the ``postgres`` user when run as
   root) and a ``redis-server`` without persistence, each on a spare port in a temporary folder
   (never the machine's own services), creates a database and migrates it;
2. starts ``xinyi serve --workers 2`` on a free port against them and seeds over HTTP a
   regulator, a merchant with a store and a cashier, offers and ``RESIDENTS`` residents;
3. runs a bounded load (``LANES`` cashier lanes, each: a resident gets a pass, the cashier scans
   it and redeems the first offer), every scan and redemption with an ``Idempotency-Key``; an
   answer 503 or a dropped connection is retried with the same key, as a cashier app would
   (after ``Retry-After``, capped at ``RETRY_CAP_S`` so that recovery is measured finely);
4. injects, one after another, with ``SETTLE_S`` of load after each: Redis stopped
   ``REDIS_DOWN_S`` seconds and started empty; PostgreSQL restarted (``pg_ctl restart -m fast``);
   one app worker killed with SIGKILL. After each it replays passes already scanned before the
   fault (each with a new Idempotency-Key): every one must be refused;
5. prints per fault: 5xx answers other than 503, 503 answers, connections dropped, time to
   recover (from the end of the fault to the first success after the last failure), replays
   accepted, workers alive, and whether the ledger matches what clients were told (redemptions
   answered 201 = rows in the ledger, none doubled, the offer's ``redeemed_count`` equal);
6. removes everything, and exits 1 if a target was missed.

Targets (issue "Hardening"): 0 answers 5xx other than 503, 0 replays accepted, recovery ≤ 5 s
after Redis and ≤ 10 s after PostgreSQL (and after a worker is killed), 0 redemptions lost or
doubled.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _harness import ROOT, free_port, seed, wait_ready, xinyi
from _services import OwnPostgres, OwnRedis, why_no_own_postgres, why_no_own_redis

LANES = int(os.environ.get("CHAOS_LANES", "6"))
RESIDENTS = 12
PAUSE_S = 0.05  # between one lane's cycles: a bounded load, not a saturation test
WARMUP_S = 5.0
SETTLE_S = float(os.environ.get("CHAOS_SETTLE_S", "12"))
REDIS_DOWN_S = 10.0
RETRY_CAP_S = 0.25
GIVE_UP_S = 30.0  # a client stops retrying one request after this
RUN_LIMIT_S = 600.0
REPLAYS = 20
TARGET_RECOVERY_S = {"redis": 5.0, "postgres": 10.0, "worker": 10.0}


# --- what clients saw ---------------------------------------------------------------------------


@dataclass
class Answer:
    at: float  # when the answer (or the failure) arrived, time.monotonic()
    op: str  # pass | scan | redeem | replay
    status: int  # 0: the connection failed
    code: str = ""


@dataclass
class Seen:
    answers: list[Answer] = field(default_factory=list)
    redeemed: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> redemption id (201)
    refused_redemptions: dict[str, str] = field(default_factory=dict)  # key -> error code
    scanned: list[tuple[float, str]] = field(default_factory=list)  # (when, pass token) of accepted scans
    passes_lost: int = 0  # a pass refused PASS_ALREADY_USED on the retry of its own scan
    refused_scans: dict[str, int] = field(default_factory=dict)  # final answers other than 201, by code
    gave_up: int = 0

    def note(self, op: str, status: int, code: str = "") -> None:
        self.answers.append(Answer(time.monotonic(), op, status, code))


def _code(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"]["code"])
    except Exception:  # noqa: BLE001
        return ""


class Client:
    """Requests retried as a real client would: on 503 and on a dropped connection, with the same body and key."""

    def __init__(self, base: str, seen: Seen):
        self.http = httpx.AsyncClient(
            base_url=base,
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=4 * LANES, max_keepalive_connections=4 * LANES),
        )
        self.seen = seen

    async def call(
        self, op: str, method: str, path: str, *, auth: str, body: Any = None, key: str | None = None
    ) -> httpx.Response | None:
        headers = {"Authorization": auth}
        if key:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            try:
                r = await self.http.request(method, path, json=body, headers=headers)
            except httpx.HTTPError:
                self.seen.note(op, 0, "CONNECTION")
                await asyncio.sleep(RETRY_CAP_S)
                continue
            self.seen.note(op, r.status_code, _code(r) if r.status_code >= 400 else "")
            if r.status_code != 503:
                return r
            try:
                wait = float(r.headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            await asyncio.sleep(min(wait, RETRY_CAP_S))
        self.seen.gave_up += 1
        return None

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class World:
    client: Client
    seen: Seen
    store_id: str
    offer_id: str
    cashier: str
    residents: list[str]
    running: asyncio.Event = field(default_factory=asyncio.Event)
    all_idle: asyncio.Event = field(default_factory=asyncio.Event)
    stop: bool = False
    idle_lanes: int = 0


async def lane(world: World, index: int) -> None:
    """One cashier with a queue of residents: pass → scan → redeem, again and again."""
    client, seen = world.client, world.seen
    turn = index
    while not world.stop:
        if not world.running.is_set():
            world.idle_lanes += 1
            if world.idle_lanes == LANES:
                world.all_idle.set()
            await world.running.wait()
            world.idle_lanes -= 1
            world.all_idle.clear()
            continue
        resident = world.residents[turn % len(world.residents)]
        turn += LANES
        r = await client.call("pass", "POST", "/api/v1/mp/pass?image=false", auth=resident)
        if r is None or r.status_code != 200:
            await asyncio.sleep(PAUSE_S)
            continue
        token = r.json()["token"]
        r = await client.call(
            "scan",
            "POST",
            "/api/v1/merchant/scans",
            auth=world.cashier,
            body={"pass_token": token, "store_id": world.store_id},
            key=uuid.uuid4().hex,
        )
        if r is None or r.status_code != 201:
            if r is not None and _code(r) == "PASS_ALREADY_USED":
                seen.passes_lost += 1  # spent by a failed attempt of its own scan
            elif r is not None:
                code = _code(r) or str(r.status_code)
                seen.refused_scans[code] = seen.refused_scans.get(code, 0) + 1
            await asyncio.sleep(PAUSE_S)
            continue
        seen.scanned.append((time.monotonic(), token))
        key = uuid.uuid4().hex
        r = await client.call(
            "redeem",
            "POST",
            "/api/v1/merchant/redemptions",
            auth=world.cashier,
            body={"scan_id": r.json()["scan_id"], "offer_id": world.offer_id, "order_amount_fen": 12800},
            key=key,
        )
        if r is not None and r.status_code == 201:
            seen.redeemed[key] = r.json()["id"]
        elif r is not None:
            seen.refused_redemptions[key] = _code(r) or str(r.status_code)
        await asyncio.sleep(PAUSE_S)


async def pause(world: World) -> None:
    """Let every lane finish its cycle (so the ledger can be compared with what clients were told)."""
    world.running.clear()
    await world.all_idle.wait()


async def replay(world: World, before: float, count: int = REPLAYS) -> tuple[int, int]:
    """Passes accepted before ``before`` (and still unexpired) scanned again with new keys: (tried, accepted)."""
    fresh = [t for at, t in world.seen.scanned if before - 75 < at < before][-count:]
    accepted = 0
    for token in fresh:
        r = await world.client.call(
            "replay",
            "POST",
            "/api/v1/merchant/scans",
            auth=world.cashier,
            body={"pass_token": token, "store_id": world.store_id},
            key=uuid.uuid4().hex,
        )
        accepted += r is not None and r.status_code == 201
    return len(fresh), accepted


# --- the faults ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    kind: str
    started: float
    ended: float
    five_xx: int = 0
    unavailable: int = 0
    dropped: int = 0
    recovery_s: float = float("nan")
    replays_tried: int = 0
    replays_accepted: int = 0
    workers: int = 0
    ledger: str = ""
    ledger_ok: bool = False
    notes: list[str] = field(default_factory=list)

    def met(self) -> list[str]:
        missed = []
        if self.five_xx:
            missed.append(f"{self.five_xx} answers 5xx other than 503")
        if self.replays_accepted:
            missed.append(f"{self.replays_accepted} replays accepted")
        if not self.recovery_s <= TARGET_RECOVERY_S[self.kind]:
            missed.append(f"recovery {self.recovery_s:.2f} s > {TARGET_RECOVERY_S[self.kind]:g} s")
        if not self.ledger_ok:
            missed.append("ledger does not match")
        if self.workers != 2:
            missed.append(f"{self.workers} workers alive, not 2")
        return missed


def measure(seen: Seen, outcome: Outcome, until: float) -> None:
    window = [a for a in seen.answers if outcome.started <= a.at <= until and a.op != "replay"]
    outcome.five_xx = sum(1 for a in window if a.status >= 500 and a.status != 503)
    outcome.unavailable = sum(1 for a in window if a.status == 503)
    outcome.dropped = sum(1 for a in window if a.status == 0)
    after = [a for a in window if a.at >= outcome.ended]
    failures = [a.at for a in after if a.status == 0 or a.status >= 500]
    last_failure = max(failures, default=outcome.ended)
    first_ok = min((a.at for a in after if 200 <= a.status < 300 and a.at >= last_failure), default=None)
    outcome.recovery_s = float("nan") if first_ok is None else first_ok - outcome.ended


async def ledger(world: World, database_url: str) -> tuple[bool, str]:
    """Redemptions answered 201 against the ledger's rows and the offer's folded count."""
    import asyncpg

    await asyncio.sleep(1.0)  # the fold adds an unlimited offer's units within a quarter of a second
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1), timeout=10)
    try:
        rows = await conn.fetch("SELECT id::text AS id, scan_id FROM redemptions")
        count = await conn.fetchval(
            "SELECT redeemed_count + (SELECT count(*) FROM redemption_pending_units WHERE offer_id = $1) "
            "FROM offers WHERE id = $1",
            uuid.UUID(world.offer_id),
        )
    finally:
        await conn.close()
    in_ledger = {r["id"] for r in rows}
    told = set(world.seen.redeemed.values())
    doubled = len(rows) - len({r["scan_id"] for r in rows})
    lost = len(told - in_ledger)
    unknown = len(in_ledger - told)
    ok = not lost and not unknown and not doubled and count == len(rows)
    text = (
        f"{len(told)} answered 201, {len(rows)} rows, offer count {count}, "
        f"{lost} lost, {unknown} not told, {doubled} doubled"
    )
    return ok, text


def worker_pids(main_pid: int, log: Path) -> list[int]:
    """The server's live worker processes: those its log says were started, still children of its main process."""
    alive = []
    for pid in {int(p) for p in re.findall(r"Starting worker \[(\d+)\]", log.read_text(errors="replace"))}:
        try:
            with open(f"/proc/{pid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        state, ppid = raw[raw.rindex(")") + 2 :].split()[:2]
        if int(ppid) == main_pid and state != "Z":
            alive.append(pid)
    return sorted(alive)


async def run_fault(
    world: World,
    *,
    name: str,
    kind: str,
    inject: Callable[[], Any],
    database_url: str,
    main_pid: int,
    log: Path,
) -> Outcome:
    world.running.set()
    await asyncio.sleep(2.0)  # load before the fault
    started = time.monotonic()
    notes = await inject()
    ended = time.monotonic()
    outcome = Outcome(name=name, kind=kind, started=started, ended=ended, notes=list(notes or []))
    await asyncio.sleep(SETTLE_S)
    outcome.replays_tried, outcome.replays_accepted = await replay(world, started)
    await pause(world)
    measure(world.seen, outcome, time.monotonic())
    outcome.workers = len(worker_pids(main_pid, log))
    outcome.ledger_ok, outcome.ledger = await ledger(world, database_url)
    return outcome


# --- the whole run ------------------------------------------------------------------------------


def report(outcomes: list[Outcome], seen: Seen) -> bool:
    print(
        f"{'fault':<40} {'5xx':>4} {'503':>5} {'dropped':>7} {'recovery':>9} {'replays':>8} {'workers':>7}  ledger"
    )
    all_met = True
    for o in outcomes:
        missed = o.met()
        all_met &= not missed
        print(
            f"{o.name:<40} {o.five_xx:>4} {o.unavailable:>5} {o.dropped:>7} {o.recovery_s:>8.2f}s "
            f"{o.replays_accepted:>3}/{o.replays_tried:<4} {o.workers:>7}  "
            f"{'matches' if o.ledger_ok else 'MISMATCH'} ({o.ledger})"
        )
        for note in o.notes:
            print(f"{'':<4}{note}")
        print(f"{'':<4}{'targets met' if not missed else 'MISSED: ' + '; '.join(missed)}")
    ops = {
        op: sum(1 for a in seen.answers if a.op == op and 200 <= a.status < 300)
        for op in ("pass", "scan", "redeem")
    }
    print(
        f"load: {ops['pass']} passes, {ops['scan']} scans, {ops['redeem']} redemptions answered 2xx; "
        f"{len(seen.refused_redemptions)} redemptions refused {sorted(set(seen.refused_redemptions.values()))}; "
        f"{seen.passes_lost} passes spent by a failed scan; other scans refused: {seen.refused_scans or 'none'}; "
        f"{seen.gave_up} requests given up after {GIVE_UP_S:g} s"
    )
    print("TARGETS MET" if all_met else "TARGETS MISSED")
    return all_met


async def chaos(
    base: str, seeded: Any, *, pg: OwnPostgres, redis: OwnRedis, database_url: str, main_pid: int, log: Path
) -> bool:
    seen = Seen()
    client = Client(base, seen)
    world = World(
        client=client,
        seen=seen,
        store_id=seeded.store_id,
        offer_id=seeded.offer_ids[0],
        cashier=seeded.cashier,
        residents=seeded.residents,
    )
    lanes = [asyncio.create_task(lane(world, i)) for i in range(LANES)]
    outcomes: list[Outcome] = []
    try:
        world.running.set()
        await asyncio.sleep(WARMUP_S)
        baseline = Outcome(name="none (warm-up)", kind="redis", started=0.0, ended=0.0)
        await pause(world)
        measure(seen, baseline, time.monotonic())
        baseline.recovery_s = 0.0
        baseline.workers = len(worker_pids(main_pid, log))
        baseline.ledger_ok, baseline.ledger = await ledger(world, database_url)
        outcomes.append(baseline)

        async def redis_down() -> list[str]:
            await asyncio.to_thread(redis.stop)
            await asyncio.sleep(REDIS_DOWN_S)
            await asyncio.to_thread(redis.start)
            return []

        async def postgres_restart() -> list[str]:
            t0 = time.monotonic()
            await asyncio.to_thread(pg.restart, "fast")
            return [f"pg_ctl restart -m fast took {time.monotonic() - t0:.2f} s"]

        async def kill_worker() -> list[str]:
            before = worker_pids(main_pid, log)
            victim = before[0]
            os.kill(victim, signal.SIGKILL)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                now = worker_pids(main_pid, log)
                if len(now) == len(before) and victim not in now:
                    return [
                        f"worker {victim} killed; another was started after {time.monotonic() - t0:.2f} s"
                    ]
                await asyncio.sleep(0.05)
            return [
                f"worker {victim} killed; workers now {worker_pids(main_pid, log)} (none started within 30 s)"
            ]

        for name, kind, inject in (
            (f"Redis stopped {REDIS_DOWN_S:g} s, started empty", "redis", redis_down),
            ("PostgreSQL restarted (-m fast)", "postgres", postgres_restart),
            ("one app worker killed (SIGKILL)", "worker", kill_worker),
        ):
            outcomes.append(
                await run_fault(
                    world,
                    name=name,
                    kind=kind,
                    inject=inject,
                    database_url=database_url,
                    main_pid=main_pid,
                    log=log,
                )
            )
    finally:
        world.stop = True
        world.running.set()
        await asyncio.gather(*lanes, return_exceptions=True)
        await client.aclose()
    return report(outcomes, seen)


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    for why in (why_no_own_postgres(), why_no_own_redis()):
        if why:
            print(f"chaos: cannot run here: {why}", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, _interrupt)  # killed (a timeout): still remove the clusters
    pg = OwnPostgres()
    redis = OwnRedis()
    work = Path(tempfile.mkdtemp(prefix="xinyi-chaos-"))
    server: subprocess.Popen[bytes] | None = None
    log = work / "server.log"
    try:
        pg.start()
        redis.start()
        subprocess.run(
            [
                str(pg.bin / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(pg.port),
                "-U",
                "postgres",
                "xinyi_chaos",
            ],
            check=True,
        )
        database_url = pg.url_of("xinyi_chaos")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "XINYI_ENV": "dev",
            "XINYI_VAR_DIR": str(work / "var"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url(0),
        }
        xinyi(env, "migrate")
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(ROOT / ".venv/bin/xinyi"), "serve", "--workers", "2", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_ready(base, server, log)
        seeded = seed(base, env, residents=RESIDENTS)
        print(
            f"chaos: xinyi serve --workers 2 on {base}, its own PostgreSQL on port {pg.port} and Redis on port "
            f"{redis.port}; {LANES} lanes of pass → scan → redeem; load average {os.getloadavg()[0]:.2f}"
        )
        met = asyncio.run(
            asyncio.wait_for(
                chaos(
                    base, seeded, pg=pg, redis=redis, database_url=database_url, main_pid=server.pid, log=log
                ),
                timeout=RUN_LIMIT_S,
            )
        )
        if os.environ.get("CHAOS_SHOW_LOG"):
            print(log.read_text()[-20000:])
        return 0 if met else 1
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if os.environ.get("CHAOS_KEEP_LOG"):
            shutil.copy(log, os.environ["CHAOS_KEEP_LOG"])
        redis.close()
        pg.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
