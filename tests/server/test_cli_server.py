"""A new user's path with the real command and a real server: migrate, create-admin, serve, HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "WECHAT_API_BASE"}}
    env.update({"XINYI_ENV": "dev", "XINYI_VAR_DIR": str(tmp_path / "var"), **extra})
    return env


def xinyi(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=tmp_path,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    env_path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path
    return tmp_path


@contextmanager
def serving(workdir: Path, *args: str, **extra: str) -> Iterator[tuple[int, subprocess.Popen]]:
    """``xinyi serve ARGS`` on a free port, once it answers ``/readyz``: its port and process; stopped with its workers."""
    port = _free_port()
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        # Its own process group, so the Sanic worker processes are stopped with it.
        server = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port), *args],
            cwd=workdir,
            env=_env(workdir, **extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120  # a loaded 2-core CI machine starts slowly
            while not _answers(f"http://127.0.0.1:{port}/readyz"):
                if time.monotonic() > deadline:
                    pytest.fail("server did not become ready:\n" + log_path.read_text())
                assert server.poll() is None, log_path.read_text()
                time.sleep(0.2)
            yield port, server
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_refuses_an_unmigrated_database(workdir):
    r = xinyi(workdir, "serve", "--port", str(_free_port()))
    assert r.returncode == 1 and "xinyi migrate" in r.stderr


def test_two_workers_without_redis_are_refused(workdir):
    r = xinyi(workdir, "serve", "--workers", "2", "--port", str(_free_port()))
    assert r.returncode == 2 and "REDIS_URL" in r.stderr


def test_prod_without_settings_names_what_is_missing(workdir):
    r = xinyi(workdir, "migrate", XINYI_ENV="prod")
    assert r.returncode == 2
    for name in ("DATABASE_URL", "REDIS_URL", "WECHAT_APPID", "JWT_SECRET"):
        assert name in r.stderr


def test_migrate_create_admin_serve_and_use_it_over_http(workdir):
    assert xinyi(workdir, "migrate").returncode == 0
    again = xinyi(workdir, "migrate")
    assert again.returncode == 0, again.stderr
    r = xinyi(workdir, "create-admin", "--username", "chief", "--password", "chief-password-1")
    assert r.returncode == 0, r.stderr
    dup = xinyi(workdir, "create-admin", "--username", "chief", "--password", "chief-password-1")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    assert xinyi(workdir, "seed-demo").returncode == 0
    assert xinyi(workdir, "seed-demo").returncode == 0  # idempotent

    with serving(workdir) as (port, _server):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            r = http.post(
                "/api/v1/admin/auth/login", json={"username": "chief", "password": "chief-password-1"}
            )
            assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
            r = http.post(
                "/api/v1/merchant/auth/login",
                json={"username": "demo-owner", "password": "demo-owner-password"},
            )
            assert r.status_code == 200 and r.json()["staff"]["role"] == "owner"
            # Oversized headers are HTTP's 431 in the contract's error shape (Sanic says 413, "body too large").
            r = http.get("/healthz", headers={"X-Big": "a" * 10_000})
            assert r.status_code == 431 and r.json()["error"]["code"] == "HEADERS_TOO_LARGE", r.text
            r = http.post("/api/v1/mp/auth/login", json={"code": "mock:first-user:1"})
            assert r.status_code == 200 and r.json()["resident"]["consented"] is False
            r = http.post(
                "/api/v1/mp/auth/login",
                content=b"x" * 1_048_576,
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
            r = http.get("/docs/openapi.json")
            assert r.status_code == 200 and "/api/v1/mp/auth/login" in r.json()["paths"]


def _socket_inodes_of_children(server_pid: int) -> dict[int, set[int]]:
    """The server's child processes (its workers; Linux /proc) and the socket inodes each holds open."""
    workers: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != server_pid:
                continue
            inodes = set()
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        workers[int(entry.name)] = inodes
    return workers


def _server_side_inodes(port: int) -> dict[int, int]:
    """Established connections to ``port`` on 127.0.0.1: client port -> the server side's socket inode."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if state == "01" and int(local.split(":")[1], 16) == port:
            found[int(remote.split(":")[1], 16)] = inode
    return found


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux only"
)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="two workers need REDIS_URL")
def test_two_workers_each_take_their_share_of_connections_opened_together(workdir):
    # Sanic's shared listening socket gave every one of 16 connections opened together to one
    # worker (the one that woke first accepts all that wait); each worker now has its own queue.
    assert xinyi(workdir, "migrate").returncode == 0
    with serving(workdir, "--workers", "2", REDIS_URL=os.environ["REDIS_URL"]) as (port, server):
        both_up = time.monotonic() + 30  # the second worker may come up a little later
        while _listeners(port) < 2 and time.monotonic() < both_up:
            time.sleep(0.2)
        assert _listeners(port) == 2, "each worker listens on a socket of its own"

        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(64)]
        try:  # opened together, then used: as a proxy's keep-alive pool does
            for c in clients:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in clients:
                assert c.recv(65536).startswith(b"HTTP/1.1 200"), "every connection is answered"
            server_side = _server_side_inodes(port)
            per_worker = [
                sum(1 for c in clients if server_side.get(c.getsockname()[1]) in inodes)
                for inodes in _socket_inodes_of_children(server.pid).values()
            ]
        finally:
            for c in clients:
                c.close()
    assert sum(per_worker) == 64, per_worker
    # By a hash of the client ports, so about half each: 49 or more of 64 on one worker is
    # a 1-in-30,000 chance.
    assert max(per_worker) <= 48, per_worker


def _listeners(port: int) -> int:
    """Sockets listening on ``port`` (one per worker with SO_REUSEPORT, one in all with a shared socket)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for f in map(str.split, lines) if f[3] == "0A" and int(f[1].split(":")[1], 16) == port)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_names_an_address_already_taken(workdir, workers):
    assert xinyi(workdir, "migrate").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The address is taken before anything connects to Redis: any Redis URL will do.
        r = xinyi(
            workdir, "serve", "--workers", workers, "--port", str(port), REDIS_URL="redis://127.0.0.1:6379/9"
        )
    assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{port}: Address already in use" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_first_ten_minutes_seed_demo_serve_and_walk_the_product(workdir):
    """What a newcomer does: migrate, seed-demo (twice: the same logins), serve (it says where), the walkthrough."""
    from xinyi.walkthrough import walk

    assert xinyi(workdir, "migrate").returncode == 0
    first, second = xinyi(workdir, "seed-demo"), xinyi(workdir, "seed-demo")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr

    def table(out: str) -> list[str]:  # the partner's secret is shown only when it is created
        return [ln for ln in out.splitlines() if "volunteer partner" not in ln]

    assert table(first.stdout) == table(second.stdout)
    for expected in (
        "demo-admin / demo-admin-password",
        "demo-owner / demo-owner-password",
        "demo-cashier /",
    ):
        assert expected in first.stdout
    assert "secret " in first.stdout and "secret " not in next(
        ln for ln in second.stdout.splitlines() if "volunteer partner" in ln
    ).replace("its secret", "")
    tiers = [
        ln.split("tier ")[1].split(":")[0] for ln in first.stdout.splitlines() if "login code mock:" in ln
    ]
    assert len(set(tiers)) == 3 and "restricted" in tiers, first.stdout  # residents in several tiers
    assert "history                   9 scans and 6 redemptions" in first.stdout, first.stdout  # made once

    with serving(workdir) as (port, _server):
        banner_deadline = time.monotonic() + 30
        while (
            "xinyi is ready" not in (workdir / "serve.log").read_text() and time.monotonic() < banner_deadline
        ):
            time.sleep(0.2)
        log = (workdir / "serve.log").read_text()
        for address in (
            f"http://127.0.0.1:{port}/api/v1",
            f"http://127.0.0.1:{port}/docs",
            "WeChat sandbox http",
        ):
            assert address in log, log
        assert "database       sqlite://" in log and "in-process store" in log, log

        lines: list[str] = []
        walk(f"http://127.0.0.1:{port}", workdir / "demo", echo=lines.append)
        assert len(lines) == 13 and all(ln.lstrip().startswith("ok") for ln in lines), lines
        assert "the score moves" in lines[10] and list((workdir / "demo").glob("pass-*.png"))
        assert "discount 2560 fen" in lines[7], lines  # 门票八折 of a 128 yuan order
        # a second walk: a new resident, the same result
        walk(f"http://127.0.0.1:{port}", workdir / "demo", echo=lines.append)
        assert len(lines) == 26


def test_the_walkthrough_stops_at_the_first_failed_step(workdir):
    """Without the demo data the cashier cannot log in: the walk names that step and goes no further."""
    from xinyi.walkthrough import StepFailed, walk

    assert xinyi(workdir, "migrate").returncode == 0
    with serving(workdir) as (port, _server):
        lines: list[str] = []
        with pytest.raises(StepFailed, match="merchant/auth/login: expected 200, got 401"):
            walk(f"http://127.0.0.1:{port}", workdir / "demo", echo=lines.append)
        assert len(lines) == 6 and "shows a credit pass" in lines[-1]
