"""A new user's path with the real command and a real server: migrate, create-admin, serve, HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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
        [sys.executable, "-m", "server", *args], cwd=tmp_path, env=_env(tmp_path, **extra),
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    env_path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path
    return tmp_path


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

    port = _free_port()
    log_path = workdir / "serve.log"
    log = log_path.open("w")
    # Its own process group, so the Sanic worker processes are stopped with it.
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)], cwd=workdir, env=_env(workdir),
        stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core CI machine starts slowly
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not become ready:\n" + log_path.read_text())
            assert server.poll() is None, log_path.read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as http:
            r = http.post("/api/v1/admin/auth/login", json={"username": "chief", "password": "chief-password-1"})
            assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
            r = http.post("/api/v1/merchant/auth/login", json={"username": "demo-owner", "password": "demo-owner-password"})
            assert r.status_code == 200 and r.json()["staff"]["role"] == "owner"
            r = http.post("/api/v1/mp/auth/login", json={"code": "mock:first-user:1"})
            assert r.status_code == 200 and r.json()["resident"]["consented"] is False
            r = http.post("/api/v1/mp/auth/login", content=b"x" * 1_048_576, headers={"content-type": "application/json"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
            r = http.get("/docs/openapi.json")
            assert r.status_code == 200 and "/api/v1/mp/auth/login" in r.json()["paths"]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
