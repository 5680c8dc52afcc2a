"""What an operator watches: one JSON access-log line per request, and GET /metrics (also summed over workers)."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tortoise.transactions import in_transaction

from partners.webhooks import enqueue
from server.metrics import MULTIPROC_ENV, multiprocess_directory
from server.observability import ACCESS_LOGGER, UNMATCHED
from server.settings import load_settings
from tests import factories as f
from tests.server.test_cli_server import serving, workdir, xinyi  # noqa: F401 - workdir is a fixture

MP = "/api/v1/mp"
LINE_KEYS = {"ts", "request_id", "method", "route", "status", "duration_ms", "audience", "worker"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: Any, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [orjson.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]


@pytest.fixture
async def logging_client(settings, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    async with f.started_client(f.new_app(settings.with_overrides(access_log=True))) as client:
        yield client


class TestAccessLog:
    async def test_each_request_writes_one_line_with_the_route_template_and_nothing_personal(
        self, logging_client, caplog
    ):
        resident = await logging_client.login_resident("o-personal-openid-1", name="和晓明")
        token = resident["access_token"]
        grant_id = str(uuid.uuid4())
        caplog.clear()

        answers = [
            await logging_client.delete(f"{MP}/grants/{grant_id}", headers=resident["headers"]),
            await logging_client.get(
                f"{MP}/access-log",
                params={"limit": 3, "cursor": "secret-cursor"},
                headers=resident["headers"],
            ),
            await logging_client.get("/healthz"),
        ]

        lines = access_lines(caplog)
        assert len(lines) == len(answers)
        for line, answer in zip(lines, answers, strict=True):
            assert set(line) == LINE_KEYS
            assert line["request_id"] == answer.headers["x-request-id"]
            assert line["status"] == answer.status_code
            assert line["worker"] == os.getpid() and line["duration_ms"] >= 0
            datetime.fromisoformat(line["ts"])
        assert [(ln["method"], ln["route"], ln["audience"]) for ln in lines] == [
            ("DELETE", "/api/v1/mp/grants/<grant_id>", "mp"),
            ("GET", "/api/v1/mp/access-log", "mp"),
            ("GET", "/healthz", "ops"),
        ]
        everything = "\n".join(r.getMessage() for r in caplog.records)
        for personal in (grant_id, "limit", "secret-cursor", token, "o-personal-openid-1", "127.0.0.1"):
            assert personal not in everything

    async def test_an_unmatched_path_is_logged_as_a_placeholder_with_its_audience(
        self, logging_client, caplog
    ):
        caplog.clear()
        r = await logging_client.get("/api/v1/merchant/no-such-thing/530102199001011234?x=1")
        assert r.status_code == 404
        [line] = access_lines(caplog)
        assert (line["route"], line["audience"], line["status"]) == (UNMATCHED, "merchant", 404)
        assert "530102199001011234" not in caplog.text

    async def test_errors_are_logged_once_with_their_status(self, logging_client, caplog):
        caplog.clear()
        r = await logging_client.post(
            f"{MP}/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 422
        assert [(ln["route"], ln["status"]) for ln in access_lines(caplog)] == [
            ("/api/v1/mp/auth/login", 422)
        ]

    async def test_it_is_off_under_test_and_on_elsewhere_unless_turned_off(self, client, caplog):
        caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
        await client.get("/healthz")
        assert access_lines(caplog) == []
        base = {"XINYI_VAR_DIR": str(client.app.ctx.settings.var_dir)}
        assert load_settings({**base, "XINYI_ENV": "dev"}, dotenv=None).access_log is True
        assert load_settings({**base, "XINYI_ENV": "dev", "ACCESS_LOG": "0"}, dotenv=None).access_log is False
        assert load_settings({**base, "XINYI_ENV": "test"}, dotenv=None).access_log is False


@pytest.fixture
async def shop(client):
    m = await f.make_shop(client)
    m["ticket"] = await f.make_offer(client, m)  # 20 % off, tier A and up
    return m


class TestMetrics:
    async def test_scans_redemptions_and_requests_are_counted(self, client, shop):
        before = await scrape(client)
        scanned = await f.make_scanned_pass(client, shop, 1)
        token = (await f.issue_pass(client, scanned["resident"]["headers"]))["token"]
        assert (await f.make_scan(client, shop["cashier"], token, f.store(shop))).status_code == 201
        replay = await f.make_scan(client, shop["cashier"], token, f.store(shop))
        assert f.status_and_code(replay) == (409, "PASS_ALREADY_USED")
        r = await f.redeem(client, shop["cashier"], scanned["scan_id"], shop["ticket"]["id"])
        assert r.status_code == 422  # percent_off without the order amount: refused, not counted
        r = await f.redeem(
            client, shop["cashier"], scanned["scan_id"], shop["ticket"]["id"], order_amount_fen=10000
        )
        assert r.status_code == 201, r.text
        after = await scrape(client)

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert grew("xinyi_scans_total", outcome="accepted", reason="") == 2
        assert grew("xinyi_scans_total", outcome="refused", reason="PASS_ALREADY_USED") == 1
        assert grew("xinyi_redemptions_total", type="percent_off", channel="store") == 1
        scans = {"route": "/api/v1/merchant/scans", "method": "POST"}
        assert grew("xinyi_http_requests_total", **scans, status="201") == 2
        assert grew("xinyi_http_requests_total", **scans, status="409") == 1
        assert grew("xinyi_http_request_duration_seconds_count", **scans) == 3
        assert grew("xinyi_http_request_duration_seconds_bucket", **scans, le="+Inf") == 3
        redemptions = {"route": "/api/v1/merchant/redemptions", "method": "POST"}
        assert grew("xinyi_http_requests_total", **redemptions, status="422") == 1
        assert value(after, "xinyi_up") == 1 and value(after, "xinyi_webhook_backlog") == 0
        if client.app.ctx.ledger is not None:  # PostgreSQL: the pools' saturation
            for pool in ("orm", "hot", "ledger"):
                assert value(after, "xinyi_db_pool_connections_max", pool=pool) > 0

    async def test_no_label_carries_an_identifier(self, client, shop):
        scanned = await f.make_scanned_pass(client, shop, 2)
        await client.delete(f"{MP}/grants/{uuid.uuid4()}", headers=scanned["resident"]["headers"])
        text = (await client.get("/metrics")).text
        for identifier in (scanned["scan_id"], f.store(shop), shop["ticket"]["id"], shop["id"]):
            assert identifier not in text
        assert 'route="/api/v1/mp/grants/<grant_id>"' in text  # the template, not the path

    async def test_the_webhook_backlog_and_the_age_of_its_oldest_event(self, client):
        partner = await f.make_partner(client, webhook_url="https://partner.example.cn/hook")
        now = datetime.now(UTC)
        async with in_transaction() as conn:
            for age in (300, 20):
                await enqueue(
                    conn, [(uuid.UUID(partner["id"]), "tier.changed", {})], now=now - timedelta(seconds=age)
                )
        after = await scrape(client)
        assert value(after, "xinyi_webhook_backlog") == 2
        assert 300 <= value(after, "xinyi_webhook_oldest_pending_age_seconds") < 400


class TestMetricsToken:
    @pytest.fixture
    async def guarded(self, settings):
        async with f.started_client(
            f.new_app(settings.with_overrides(metrics_token="t0ken-for-scrapers"))
        ) as c:
            yield c

    async def test_without_the_token_the_metrics_are_refused(self, guarded):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken-for-scrapers"}):
            r = await guarded.get("/metrics", headers=headers)
            assert f.status_and_code(r) == (401, "UNAUTHENTICATED")
            assert r.headers["www-authenticate"] == "Bearer"

    async def test_with_the_token_they_are_served(self, guarded):
        after = await scrape(guarded, Authorization="Bearer t0ken-for-scrapers")
        assert value(after, "xinyi_up") == 1

    async def test_without_a_token_set_anyone_may_read_them(self, client):
        assert (await client.get("/metrics")).status_code == 200


class TestMultiprocessDirectory:
    def test_serve_gets_a_fresh_folder_removed_at_the_end_and_a_killed_servers_folder_goes_too(
        self, tmp_path, monkeypatch
    ):
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        monkeypatch.delenv(MULTIPROC_ENV, raising=False)
        dead = _dead_pid()
        killed = tmp_path / f"xinyi-metrics-{dead}-abc"
        alive = tmp_path / f"xinyi-metrics-{os.getpid()}-abc"
        for folder in (killed, alive):
            folder.mkdir()
        with multiprocess_directory() as path:
            assert os.environ[MULTIPROC_ENV] == str(path) and path.is_dir()
            assert not killed.exists() and alive.exists()
        assert not path.exists() and MULTIPROC_ENV not in os.environ

    def test_a_folder_the_operator_gives_is_emptied_of_an_earlier_runs_files(self, tmp_path, monkeypatch):
        monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
        (tmp_path / "counter_123.db").write_bytes(b"old counts")
        (tmp_path / "notes.txt").write_text("not ours")
        with multiprocess_directory() as path:
            assert path == tmp_path and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
        assert tmp_path.exists()


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# --- several workers: `xinyi serve --workers 2` ------------------------------------------------


def _json_lines(log: str) -> list[dict[str, Any]]:
    return [orjson.loads(ln) for ln in log.splitlines() if ln.startswith("{")]


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="two workers need REDIS_URL")
def test_two_workers_report_the_sum_of_their_counts(workdir):  # noqa: F811
    assert xinyi(workdir, "migrate").returncode == 0
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"a stale file of an earlier run")  # must be cleared

    with serving(
        workdir,
        "--workers",
        "2",
        REDIS_URL=os.environ["REDIS_URL"],
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        ACCESS_LOG="1",
    ) as (port, _server):
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30  # the second worker may come up a little later
        while time.monotonic() < deadline:
            if value(samples(httpx.get(f"{base}/metrics").text), "xinyi_workers") == 2:
                break
            time.sleep(0.2)
        for _ in range(40):  # a new connection each: the kernel spreads them over both workers
            assert httpx.get(f"{base}/healthz").status_code == 200
        scrapes = {}
        for _ in range(20):
            r = httpx.get(f"{base}/metrics")
            scrapes[r.headers["x-request-id"]] = samples(r.text)
        time.sleep(0.5)  # the last lines reach the log
        lines = _json_lines((workdir / "serve.log").read_text())

    health = [ln for ln in lines if ln["route"] == "/healthz"]
    assert {ln["worker"] for ln in health} == {ln["worker"] for ln in lines} and len(
        {ln["worker"] for ln in health}
    ) == 2
    answered_by = {ln["request_id"]: ln["worker"] for ln in lines if ln["route"] == "/metrics"}
    assert len({answered_by[rid] for rid in scrapes}) == 2, "both workers answered some scrapes"
    for scrape_ in scrapes.values():  # whichever worker answers, the sum over both
        assert value(scrape_, "xinyi_workers") == 2
        assert value(
            scrape_, "xinyi_http_requests_total", route="/healthz", method="GET", status="200"
        ) == len(health)
    log = (workdir / "serve.log").read_text()
    assert "GET http" not in log, "Sanic's own access log stays off"
    assert not list(metrics_dir.glob("gauge_live*")), "stopped workers leave the live gauges"
