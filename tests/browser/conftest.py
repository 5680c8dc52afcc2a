"""Browser tests: Debian's Chromium driven by Playwright for Python against a real ``xinyi serve``.

The server runs as a user would start it (``python -m server serve`` on a free port, SQLite and the
in-process store under a temporary folder), with the demo data (``seed-demo``) and a little more
made over the HTTP API: a red-list record from the provincial platform, an offer waiting for
approval; the demo objection is moved 40 days back in the database, so that it is overdue.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``CHROMIUM`` overrides).
Without Chromium or Playwright the tests are skipped with the reason, except in CI (``CI=true``),
where ``.ci/run`` installs Chromium first and a missing one is an error.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN = ("demo-admin", "demo-admin-password")
OWNER = ("demo-owner", "demo-owner-password")
RED_NAME = "王晓明"
RED_ID_NUMBER_BODY = "53010219850612003"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None or IN_CI:  # in CI they run, and fail if the browser is missing
        return
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(var: Path) -> dict[str, str]:
    drop = {"DATABASE_URL", "REDIS_URL", "WECHAT_API_BASE", "XINYI_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        {
            "XINYI_ENV": "dev",
            "XINYI_VAR_DIR": str(var),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "STATS_MIN_CELL": "1",  # the demo has a handful of residents: show their cells
            "STATS_ROLLUP_EVERY_S": "2",
            "PUBLIC_REQUESTS_PER_ADDRESS": "10000/minute",
        }
    )
    return env


def _xinyi(workdir: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"xinyi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _overdue_objections(database: Path, days: int) -> int:
    """The open objections as if opened ``days`` ago (their answer deadline passed)."""
    shift = timedelta(days=days)
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT id, created_at, due_at FROM objections WHERE status = 'open'").fetchall()
        for row_id, created, due in rows:
            moved = [str(datetime.fromisoformat(v) - shift) for v in (created, due)]
            db.execute("UPDATE objections SET created_at = ?, due_at = ? WHERE id = ?", (*moved, row_id))
    return len(rows)


@dataclass
class Served:
    base: str
    red_id_number: str
    pending_offer: dict[str, Any]

    def admin_token(self) -> str:
        r = httpx.post(
            f"{self.base}/api/v1/admin/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
        )
        r.raise_for_status()
        return r.json()["access_token"]


def _seed_over_http(base: str) -> tuple[str, dict[str, Any]]:
    from residents.identity import with_check_digit

    admin = httpx.post(f"{base}/api/v1/admin/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    admin.raise_for_status()
    headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    id_number = with_check_digit(RED_ID_NUMBER_BODY)
    record = {
        "source": "yunnan-credit",
        "source_record_id": "red-browser-1",
        "subject_type": "natural_person",
        "id_number": id_number,
        "name": RED_NAME,
        "category": "red_list",
        "title": "连续五年无偿献血",
        "decided_at": (date.today() - timedelta(days=30)).isoformat(),
        "publicity_until": (date.today() + timedelta(days=300)).isoformat(),
    }
    r = httpx.post(f"{base}/api/v1/admin/credit-records", json={"items": [record]}, headers=headers)
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    r = httpx.post(f"{base}/api/v1/admin/list-entries/advance", headers=headers)
    assert r.status_code == 200, r.text

    owner = httpx.post(
        f"{base}/api/v1/merchant/auth/login", json={"username": OWNER[0], "password": OWNER[1]}
    )
    owner.raise_for_status()
    now = datetime.now(UTC)
    offer = {
        "scenario": "travel",
        "type": "percent_off",
        "label": "浏览器测试：门票九折",
        "value": 10,
        "min_tier": "A",
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
    }
    r = httpx.post(
        f"{base}/api/v1/merchant/offers",
        json=offer,
        headers={"Authorization": f"Bearer {owner.json()['access_token']}"},
    )
    assert r.status_code == 201, r.text
    return id_number, r.json()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real server with the demo data, an overdue objection, a red-list entry and a pending offer."""
    workdir = tmp_path_factory.mktemp("browser-server")
    env = _env(workdir / "var")
    _xinyi(workdir, env, "migrate")
    _xinyi(workdir, env, "seed-demo")
    _xinyi(workdir, env, "rollup-stats")
    database = next((workdir / "var").glob("*.sqlite3"))
    assert _overdue_objections(database, 40) >= 1
    port = _free_port()
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while not _answers(f"{base}/readyz"):
                assert server.poll() is None, log_path.read_text()
                if time.monotonic() > deadline:
                    pytest.fail("the server did not become ready:\n" + log_path.read_text())
                time.sleep(0.2)
            red_id, offer = _seed_over_http(base)
            yield Served(base=base, red_id_number=red_id, pending_offer=offer)
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (its own storage), its console's errors kept; a screenshot of it saved at the end."""
    context = browser.new_context(
        accept_downloads=True,
        viewport={"width": 1366, "height": 900},
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,  # type: ignore[attr-defined]
    )
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))  # type: ignore[attr-defined]
    page.set_default_timeout(45_000)  # a loaded 2-core CI machine
    try:
        yield page
    finally:
        shot = tmp_path / f"{request.node.name}.png"
        tall = (
            page.evaluate("document.documentElement.scrollHeight") > 4000
        )  # /docs: the first screen is enough
        page.screenshot(path=str(shot), full_page=not tall)
        print(f"screenshot: {shot}")
        context.close()


def login(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("#username", ADMIN[0])
    page.fill("#password", ADMIN[1])
    page.click("#login-button")
    page.wait_for_selector("body[data-loaded='true']")
