"""Several hosts on this one machine: a database host with a streaming replica, a Redis Cluster, two app hosts, nginx.

Run as root from the repository root: ``.venv/bin/python bench/cluster.py`` (about two minutes).

What it builds, with network namespaces and veth pairs on a bridge of its own (``xyc0``,
10.77.0.0/24, addresses that exist only inside this machine; the script itself talks to them
from the root namespace through the bridge's 10.77.0.1):

    xyc-db     10.77.0.10  PostgreSQL primary :5432 and its streaming replica :5433
                           (initdb, pg_basebackup -R, both initialised here)
    xyc-redis  10.77.0.20  Redis Cluster: three masters :7001-7003 (redis-cli --cluster create)
    xyc-app1   10.77.0.31  xinyi serve --workers 1 :8000
    xyc-app2   10.77.0.32  xinyi serve --workers 1 :8000
    xyc-lb     10.77.0.40  nginx :8080 (Debian's package; installed with apt-get when missing)

nginx balances round-robin with passive health checks (``max_fails=1 fail_timeout=5s``); a
request whose upstream failed (refused, reset, timed out, 502) goes to the next upstream when
it is idempotent, and so does a POST that carries an ``Idempotency-Key`` (the server answers a
repeat of it with the first answer). Each answer says which host served it (``X-Upstream``).

The load: ``LANES`` cashier lanes (a resident gets a pass, the cashier scans it and redeems an
offer, every scan and redemption with an ``Idempotency-Key``; a dropped connection or a 5xx is
retried by the client with the same key, and a pass asked for again) and a reader (the owner's ``/merchant/stats``, a
regulator's offer and scan listings, ``/admin/stats`` when it exists: reads the replica may
serve). Phases of ``PHASE_S`` each: both hosts; app2 killed (SIGKILL of its processes: a host
that dies); the replica stopped too. Then the ledger is checked against what clients were told.

Printed: requests per host, 5xx answers (and the requests in flight when app2 died), requests
lost (never answered, or answered wrongly, after the client's retries), the retried requests and
whether they succeeded, reads served while the replica was down, which database served the reads
(``xinyi_replica_reads_total`` of each host), and the ledger check. Exit status 1 if a target is
missed (the hosts' and nginx's logs are then kept, and every 5xx printed). Everything
(namespaces, bridge, processes, folders) is removed on the way out, also on
failure or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench._replication import PgPair, RedisClusterNodes, wait_port  # noqa: E402

NET = "10.77.0"
BRIDGE = "xyc0"
GATEWAY = f"{NET}.1"
HOSTS = {"db": 10, "redis": 20, "app1": 31, "app2": 32, "lb": 40}
APP_PORT, LB_PORT = 8000, 8080
REDIS_PORTS = (7001, 7002, 7003)
LANES = int(os.environ.get("CLUSTER_LANES", "6"))
PHASE_S = float(os.environ.get("CLUSTER_PHASE_S", "10"))
RESIDENTS = 24
PAUSE_S = 0.02
RETRY_PAUSE_S = 0.2
GIVE_UP_S = 20.0
START_S = 180.0  # an app host starting on a busy two-core machine
REDIS_PHASE = "a Redis master killed"
REDIS_PHASE_S = float(os.environ.get("CLUSTER_REDIS_PHASE_S", "6"))
XINYI = ROOT / ".venv" / "bin" / "xinyi"


def ns(name: str) -> str:
    return f"xyc-{name}"


def addr(name: str) -> str:
    return f"{NET}.{HOSTS[name]}"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


# --- the network --------------------------------------------------------------------------------


def tear_down_network() -> None:
    for name in HOSTS:
        sh("ip", "netns", "pids", ns(name), check=False)
        pids = sh("ip", "netns", "pids", ns(name), check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", ns(name), check=False)
        sh("ip", "link", "del", f"xyc-{name}-br", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def build_network() -> None:
    tear_down_network()  # what a run that was killed hard may have left
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for name, host in HOSTS.items():
        space, outer, inner = ns(name), f"xyc-{name}-br", f"xyc-{name}-in"
        sh("ip", "netns", "add", space)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        sh("ip", "link", "set", inner, "netns", space)
        sh("ip", "link", "set", outer, "master", BRIDGE)
        sh("ip", "link", "set", outer, "up")
        sh("ip", "netns", "exec", space, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", space, "ip", "addr", "add", f"{NET}.{host}/24", "dev", inner)
        sh("ip", "netns", "exec", space, "ip", "link", "set", inner, "up")


# --- the hosts ----------------------------------------------------------------------------------


def shared_env(root: Path) -> dict[str, str]:
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "XINYI_ENV": "dev",
        "DATABASE_URL": f"postgres://postgres@{addr('db')}:5432/xinyi",
        "DATABASE_REPLICA_URL": f"postgres://postgres@{addr('db')}:5433/xinyi",
        "REDIS_URL": "redis+cluster://" + ",".join(f"{addr('redis')}:{p}" for p in REDIS_PORTS),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEY": key(),
        "DATA_HASH_KEY": key(),
        "PROXIES_COUNT": "1",
        "ACCESS_LOG": "0",
        "LOGIN_FAILURES_PER_ADDRESS": "1000/minute",
    }


class AppHost:
    def __init__(self, name: str, env: dict[str, str], root: Path):
        self.name, self.address = name, addr(name)
        self.env = {**env, "XINYI_VAR_DIR": str(root / name)}
        self.log = root / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", ns(self.name), str(XINYI), "serve",
                 "--host", self.address, "--port", str(APP_PORT), "--workers", "1"],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{self.address}:{APP_PORT}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} was not ready in {START_S:.0f} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """The host dies: every process of it gets SIGKILL (its connections are reset by the kernel)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for pid in sh("ip", "netns", "pids", ns(self.name), check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


NGINX_CONF = """
worker_processes 1;
user root;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream app {{
        server {app1}:{port} max_fails=1 fail_timeout=5s;
        server {app2}:{port} max_fails=1 fail_timeout=5s;
        keepalive 32;
    }}
    map $http_idempotency_key $has_key {{ "" 0; default 1; }}
    server {{
        listen {lb}:{lb_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout 2s;
        proxy_read_timeout 30s;
        add_header X-Upstream $upstream_addr always;
        proxy_next_upstream_tries 2;
        location / {{
            error_page 418 = @with_key;
            if ($has_key) {{ return 418; }}
            # idempotent methods (and any request not yet sent) go to the next upstream
            proxy_next_upstream error timeout http_502 http_504;
            proxy_pass http://app;
        }}
        location @with_key {{
            # a POST with an Idempotency-Key may be sent again: the server answers a repeat with the first answer
            proxy_next_upstream error timeout http_502 http_504 non_idempotent;
            proxy_pass http://app;
        }}
    }}
}}
"""


def ensure_nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    print("installing nginx (apt-get)…", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    def __init__(self, root: Path):
        self.root = root / "nginx"
        self.root.mkdir()
        self.conf = self.root / "nginx.conf"
        self.conf.write_text(
            NGINX_CONF.format(
                root=self.root,
                app1=addr("app1"),
                app2=addr("app2"),
                port=APP_PORT,
                lb=addr("lb"),
                lb_port=LB_PORT,
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = ensure_nginx()
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", ns("lb"), binary, "-c", str(self.conf), "-p", str(self.root), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=(self.root / "stderr.log").open("wb"), start_new_session=True,
        )  # fmt: skip
        wait_port(addr("lb"), LB_PORT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)


def xinyi_cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([str(XINYI), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"xinyi {' '.join(args)} failed: {(done.stderr or done.stdout)[-1500:]}")


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Call:
    """One logical request: its attempts, the hosts that answered, and its final answer."""

    op: str
    phase: str
    attempts: list[tuple[int, str]] = field(default_factory=list)  # (status, host); 0: no answer
    final: int = 0


@dataclass
class Run:
    base: str
    calls: list[Call] = field(default_factory=list)
    phase: str = "both hosts"
    stop: bool = False
    in_flight: int = 0
    in_flight_at_kill: int = 0
    redeemed: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> redemption id
    wrong: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # every 5xx: phase, operation, status, host, body

    async def call(
        self,
        http: httpx.AsyncClient,
        op: str,
        method: str,
        path: str,
        *,
        auth: str,
        body: Any = None,
        key: str | None = None,
    ) -> httpx.Response | None:
        headers = {"Authorization": auth, **({"Idempotency-Key": key} if key else {})}
        record = Call(op, self.phase)
        self.calls.append(record)
        deadline = time.monotonic() + GIVE_UP_S
        # Safe to send again: a GET, a POST with an Idempotency-Key (one effect), and a pass
        # issuance, which changes nothing (a pass not shown is never used): the mini-program asks again.
        idempotent = method == "GET" or key is not None or op == "pass"
        self.in_flight += 1
        try:
            while True:
                try:
                    r = await http.request(method, path, json=body, headers=headers)
                except httpx.HTTPError:
                    record.attempts.append((0, ""))
                else:
                    record.attempts.append((r.status_code, r.headers.get("X-Upstream", "")))
                    if r.status_code >= 500:
                        upstream = r.headers.get("X-Upstream", "")
                        self.errors.append(
                            f"{self.phase}: {op} {r.status_code} from {upstream or 'nginx'}: {r.text[:160]}"
                        )
                    if r.status_code < 500:
                        record.final = r.status_code
                        return r
                # a 5xx or no answer: the client sends it again (same key) if that is safe
                if not idempotent or time.monotonic() > deadline or self.stop:
                    record.final = record.attempts[-1][0]
                    return None
                await asyncio.sleep(RETRY_PAUSE_S)
        finally:
            self.in_flight -= 1


def host_of(upstream: str) -> str:
    last = upstream.split(",")[-1].strip()  # "a:8000, b:8000" when nginx tried two
    for name in ("app1", "app2"):
        if last.startswith(addr(name) + ":"):
            return name
    return last or "none"


async def lane(run: Run, http: httpx.AsyncClient, world: dict[str, Any], index: int) -> None:
    turn = index
    while not run.stop:
        resident = world["residents"][turn % len(world["residents"])]
        turn += LANES
        r = await run.call(http, "pass", "POST", "/api/v1/mp/pass?image=false", auth=resident)
        if r is None or r.status_code != 200:
            await asyncio.sleep(PAUSE_S)
            continue
        r = await run.call(
            http, "scan", "POST", "/api/v1/merchant/scans", auth=world["cashier"],
            body={"pass_token": r.json()["token"], "store_id": world["store_id"]}, key=uuid.uuid4().hex,
        )  # fmt: skip
        if r is None or r.status_code != 201:
            if r is not None:
                run.wrong.append(f"scan {r.status_code} {r.text[:120]}")
            await asyncio.sleep(PAUSE_S)
            continue
        key = uuid.uuid4().hex
        r = await run.call(
            http, "redeem", "POST", "/api/v1/merchant/redemptions", auth=world["cashier"],
            body={"scan_id": r.json()["scan_id"], "offer_id": world["offer_id"]}, key=key,
        )  # fmt: skip
        if r is not None and r.status_code == 201:
            run.redeemed[key] = r.json()["id"]
        elif r is not None:
            run.wrong.append(f"redeem {r.status_code} {r.text[:120]}")
        await asyncio.sleep(PAUSE_S)


async def reader(run: Run, http: httpx.AsyncClient, world: dict[str, Any]) -> None:
    paths = [
        ("/api/v1/merchant/stats", world["owner"]),
        ("/api/v1/admin/offers?limit=20", world["admin"]),
        ("/api/v1/admin/scans?limit=20", world["admin"]),
    ]
    if world.get("admin_stats"):
        paths.append(("/api/v1/admin/stats", world["admin"]))
    i = 0
    while not run.stop:
        path, auth = paths[i % len(paths)]
        i += 1
        r = await run.call(http, "read", "GET", path, auth=auth)
        if r is not None and r.status_code != 200:
            run.wrong.append(f"read {path} {r.status_code} {r.text[:120]}")
        await asyncio.sleep(0.05)


# --- the run ------------------------------------------------------------------------------------


async def seed(base: str, env: dict[str, str]) -> dict[str, Any]:
    from _harness import seed as seed_over_http

    seeded = await asyncio.to_thread(seed_over_http, base, env, residents=RESIDENTS)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = (
            await http.post(
                "/api/v1/admin/auth/login",
                json={"username": "bench-admin", "password": "bench-admin-password"},
            )
        ).json()["access_token"]
        owner = (
            await http.post(
                "/api/v1/merchant/auth/login", json={"username": "bench-owner", "password": "bench-password"}
            )
        ).json()["access_token"]
        stats = await http.get("/api/v1/admin/stats", headers={"Authorization": f"Bearer {admin}"})
    return {
        "store_id": seeded.store_id,
        "offer_id": seeded.offer_ids[1],  # the priority lane: a stock of 1,000,000, no order amount
        "cashier": seeded.cashier,
        "residents": seeded.residents,
        "admin": f"Bearer {admin}",
        "owner": f"Bearer {owner}",
        "admin_stats": stats.status_code == 200,
    }


async def replica_reads(host: AppHost) -> dict[str, float]:
    found: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"http://{host.address}:{APP_PORT}/metrics")).text
    except httpx.HTTPError:
        return found
    for line in text.splitlines():
        if line.startswith("xinyi_replica_reads_total{"):
            label = line.split('served_by="', 1)[1].split('"', 1)[0]
            found[label] = found.get(label, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


async def ledger(database_url: str, world: dict[str, Any], run: Run) -> tuple[bool, str]:
    import asyncpg

    await asyncio.sleep(1.0)  # an unlimited offer's units are folded into its counter within a moment
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1), timeout=10)
    try:
        rows = await conn.fetch("SELECT id::text AS id, scan_id FROM redemptions WHERE status = 'completed'")
        offer = await conn.fetchrow(
            "SELECT redeemed_count, total_stock FROM offers WHERE id = $1", uuid.UUID(world["offer_id"])
        )
        pending = 0
        if await conn.fetchval("SELECT to_regclass('redemption_pending_units') IS NOT NULL"):
            pending = await conn.fetchval(
                "SELECT count(*) FROM redemption_pending_units WHERE offer_id = $1",
                uuid.UUID(world["offer_id"]),
            )
    finally:
        await conn.close()
    told, in_ledger = set(run.redeemed.values()), {r["id"] for r in rows}
    doubled = len(rows) - len({r["scan_id"] for r in rows})
    counted = offer["redeemed_count"] + pending
    ok = told == in_ledger and not doubled and counted == len(rows)
    remaining = offer["total_stock"] - counted
    text = (
        f"{len(told)} answered 201, {len(rows)} rows, offer counter {counted} "
        f"(stock {offer['total_stock']} - {counted} = {remaining} left), "
        f"{len(told - in_ledger)} told but missing, {len(in_ledger - told)} not told, {doubled} doubled"
    )
    return ok, text


async def drive(
    pg: PgPair, redis: RedisClusterNodes, apps: list[AppHost], world: dict[str, Any], base: str
) -> bool:
    run = Run(base)
    limits = httpx.Limits(max_connections=4 * LANES, max_keepalive_connections=4 * LANES)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, connect=3), limits=limits) as http:
        tasks = [asyncio.create_task(lane(run, http, world, i)) for i in range(LANES)]
        tasks.append(asyncio.create_task(reader(run, http, world)))
        await asyncio.sleep(PHASE_S)
        run.phase = "app2 killed"
        run.in_flight_at_kill = run.in_flight
        apps[1].kill()
        killed_at = time.monotonic()
        await asyncio.sleep(PHASE_S)
        before_down = {h.name: await replica_reads(h) for h in apps[:1]}
        run.phase = "replica stopped"
        await asyncio.to_thread(pg.stop_replica)
        await asyncio.sleep(PHASE_S)
        after_down = {h.name: await replica_reads(h) for h in apps[:1]}
        run.phase = REDIS_PHASE  # outside the targets: what a Redis master without a replica costs
        redis.kill_node(REDIS_PORTS[0])
        await asyncio.sleep(REDIS_PHASE_S)
        run.stop = True
        await asyncio.gather(*tasks)
    ok_ledger, ledger_text = await ledger(pg.url_of("xinyi"), world, run)
    return report(run, world, ok_ledger, ledger_text, before_down, after_down, time.monotonic() - killed_at)


def report(
    run: Run,
    world: dict[str, Any],
    ok_ledger: bool,
    ledger_text: str,
    before: dict[str, dict[str, float]],
    after: dict[str, dict[str, float]],
    since_kill: float,
) -> bool:
    phases = ["both hosts", "app2 killed", "replica stopped"]
    print(f"\n{'phase':<18} {'requests':>8} {'app1':>6} {'app2':>6} {'moved':>5} {'5xx':>4} {'no answer':>9} "
          f"{'retried':>7} {'retried ok':>10} {'lost':>5}")  # fmt: skip
    totals: Counter[str] = Counter()
    for phase in phases:
        calls = [c for c in run.calls if c.phase == phase]
        hosts = Counter(host_of(h) for c in calls for s, h in c.attempts if s)
        five = sum(1 for c in calls for s, _ in c.attempts if s >= 500)
        none = sum(1 for c in calls for s, _ in c.attempts if s == 0)
        retried = [c for c in calls if len(c.attempts) > 1]
        retried_ok = sum(1 for c in retried if 200 <= c.final < 300)
        lost = sum(
            1
            for c in calls
            if not (200 <= c.final < 300) and not (run.stop and c.final == 0 and not c.attempts)
        )
        moved = sum(1 for c in calls for s, h in c.attempts if "," in h)  # nginx tried the next upstream
        print(f"{phase:<18} {len(calls):>8} {hosts['app1']:>6} {hosts['app2']:>6} {moved:>5} {five:>4} {none:>9} "
              f"{len(retried):>7} {retried_ok:>10} {lost:>5}")  # fmt: skip
        totals.update(
            {"5xx": five, "none": none, "retried": len(retried), "retried_ok": retried_ok, "lost": lost}
        )
        totals.update({f"host:{k}": v for k, v in hosts.items()})
    down_reads = [c for c in run.calls if c.phase == "replica stopped" and c.op == "read"]
    down_ok = sum(1 for c in down_reads if c.final == 200)
    served = {
        k: after["app1"].get(k, 0) - before["app1"].get(k, 0)
        for k in ("replica", "primary_fallback", "primary_replica_down", "primary_sticky")
    }
    print(
        "(moved: answered by the next upstream after nginx saw the first fail; retried: sent again by the client)"
    )
    redis_calls = [c for c in run.calls if c.phase == REDIS_PHASE]
    by_op = {
        op: Counter(str(c.final or "none") for c in redis_calls if c.op == op)
        for op in ("pass", "scan", "redeem", "read")
    }
    print(
        f"{REDIS_PHASE} (not a target; masters without replicas): "
        + "; ".join(f"{op} {dict(v)}" for op, v in by_op.items() if v)
    )
    print(f"\nrequests in flight when app2 was killed: {run.in_flight_at_kill}")
    print(f"reads while the replica was down: {down_ok} of {len(down_reads)} answered 200 "
          f"(app1 meanwhile: {served['primary_fallback']:.0f} failed on the replica and ran again on the primary, "
          f"{served['primary_replica_down']:.0f} went to the primary while the replica was marked down, "
          f"{served['replica']:.0f} on the replica before it stopped)")  # fmt: skip
    total = after["app1"]
    print(f"reads of app1 until then: {total.get('replica', 0):.0f} on the replica, "
          f"{total.get('primary_fallback', 0) + total.get('primary_replica_down', 0):.0f} on the primary "
          f"for want of the replica, {total.get('primary_sticky', 0):.0f} on the primary after the reader's "
          "own write")  # fmt: skip
    print(f"ledger: {'matches' if ok_ledger else 'MISMATCH'} ({ledger_text})")
    if run.wrong:
        print(f"answered wrongly ({len(run.wrong)}): " + "; ".join(run.wrong[:5]))
    for error in run.errors[:10]:
        print(f"5xx: {error}")
    both = totals["host:app1"] > 0 and totals["host:app2"] > 0
    targets = {
        "both hosts serve": both,
        f"5xx ({totals['5xx']}) <= requests in flight on the killed host ({run.in_flight_at_kill})": totals[
            "5xx"
        ]
        <= run.in_flight_at_kill,
        f"retried requests succeed ({totals['retried_ok']} of {totals['retried']})": totals["retried_ok"]
        == totals["retried"],
        f"no request lost ({totals['lost']}) or answered wrongly ({len(run.wrong)})": totals["lost"] == 0
        and not run.wrong,
        f"reads served while the replica was down ({down_ok} of {len(down_reads)})": bool(down_reads)
        and down_ok == len(down_reads),
        "ledger matches": ok_ledger,
    }
    print("\ntargets:")
    for name, met in targets.items():
        print(f"  {'met   ' if met else 'MISSED'} {name}")
    return all(targets.values())


def main() -> int:
    if os.geteuid() != 0:
        print("bench/cluster.py needs root (ip netns, veth pairs)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="xinyi-cluster-"))
    os.chmod(root, 0o755)
    pg: PgPair | None = None
    redis: RedisClusterNodes | None = None
    apps: list[AppHost] = []
    lb: Nginx | None = None

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    try:
        ensure_nginx()
        build_network()
        print(
            f"network: bridge {BRIDGE} {GATEWAY}/24; " + ", ".join(f"{ns(n)} {addr(n)}" for n in HOSTS),
            flush=True,
        )
        pg = PgPair(
            host=addr("db"), ports=(5432, 5433), prefix=["ip", "netns", "exec", ns("db")], allow=f"{NET}.0/24"
        )
        pg.start()
        print(f"database host: primary {addr('db')}:5432, streaming replica {addr('db')}:5433", flush=True)
        redis = RedisClusterNodes(
            host=addr("redis"), ports=REDIS_PORTS, prefix=["ip", "netns", "exec", ns("redis")]
        )
        redis.start()
        print(f"redis cluster: {redis.url}", flush=True)
        env = shared_env(root)
        subprocess.run(
            ["ip", "netns", "exec", ns("db"), "runuser", "-u", "postgres", "--", str(pg.bin / "psql"),
             "-h", addr("db"), "-p", "5432", "-U", "postgres", "-c", "CREATE DATABASE xinyi"],
            check=True, capture_output=True,
        )  # fmt: skip
        cli_env = {**env, "XINYI_VAR_DIR": str(root / "cli")}
        xinyi_cli(cli_env, "migrate")
        xinyi_cli(cli_env, "rotate-pass-key")  # the hosts share one key from the start
        apps = [AppHost("app1", env, root), AppHost("app2", env, root)]
        for app in apps:
            app.start()
        lb = Nginx(root)
        lb.start()
        base = f"http://{addr('lb')}:{LB_PORT}"
        print(f"app hosts: {', '.join(f'{a.address}:{APP_PORT}' for a in apps)}; nginx {base}", flush=True)
        world = asyncio.run(seed(base, cli_env))
        print(
            f"seeded over nginx: {RESIDENTS} residents, a cashier, an owner, a regulator "
            f"(/admin/stats {'read too' if world['admin_stats'] else 'absent: not read'})",
            flush=True,
        )
        print(f"load: {LANES} cashier lanes + 1 reader, {PHASE_S:.0f} s per phase", flush=True)
        ok = asyncio.run(drive(pg, redis, apps, world, base))
        print(f"\n{'all targets met' if ok else 'TARGETS MISSED'} in {time.monotonic() - started:.0f} s")
        if not ok:  # the hosts' logs and nginx's error log, for whoever looks into it
            kept = Path(tempfile.mkdtemp(prefix="xinyi-cluster-logs-"))
            for log in root.rglob("*.log"):
                shutil.copy(log, kept / f"{log.parent.name}-{log.name}")
            print(f"logs kept in {kept}")
        return 0 if ok else 1
    finally:
        if lb is not None:
            lb.stop()
        for app in apps:
            app.stop()
        if redis is not None:
            redis.close()
        if pg is not None:
            pg.close()
        tear_down_network()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
