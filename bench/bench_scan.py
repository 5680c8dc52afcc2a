"""Throughput of the pass endpoints against a real server, as ratios to its trivial endpoint.

What it does, from the repository root (``.venv/bin/python bench/bench_scan.py``):

1. creates a PostgreSQL database (``BENCH_DATABASE_URL``, default
   ``postgres://postgres@127.0.0.1:5432/postgres`` for the server to create it in), migrates it,
   and empties Redis database 13 (``BENCH_REDIS_URL``);
2. starts ``xinyi serve --workers 2`` on a free port (its own WeChat sandbox included);
3. seeds over HTTP: a regulator, a merchant with a store, a cashier, three approved offers and
   ``RESIDENTS`` residents who consented and bound an identity;
4. measures with ``wrk`` (Debian package ``wrk``, else an asyncio client that says so; one thread, ``CONNECTIONS`` connections,
   ``DURATION_S`` seconds after a warm-up) the requests per second of ``GET /healthz``,
   ``POST /api/v1/mp/pass?image=false`` (collecting the passes it issues) and
   ``POST /api/v1/merchant/scans`` (each request with one of those fresh passes: every scan is
   a real one, a replayed pass would be a cheap 409 and is counted as a failure), in
   ``ROUNDS`` interleaved rounds, each ratio against the trivial endpoint of its own round,
   and prints the median (a shared machine's load changes from one second to the next);
5. measures the CPU time of one pass PNG (``render_qr_png``) on a real pass;
6. prints every figure beside the trivial endpoint's, stops the server and drops the database.

Beside every ratio it prints the CPU milliseconds one request cost the server, PostgreSQL (the
backends of its database and the shared background processes) and Redis together, read from
``/proc`` around each wrk run (wrk's own CPU is not counted), and that cost as a multiple of
the trivial request's in the same round: unlike a rate, it does not depend on who else shares
the host.

Targets (issue 20, restated for a machine where everything shares two vCPUs): scans ≥ 13 % of
``/healthz``, pass issuance without image ≥ 25 %, a scan's CPU ≤ 0.9 ms (set where the trivial
request cost 0.18 ms; on a slower CPU every cost rises alike, so ≤ 5.0× the trivial request's is
judged too), one PNG ≤ 10 ms of CPU.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import CpuMeter, Seeded, seed, served

from passes.qr import qr_modules, render_qr_png

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKERS = 2
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "5"))
WARMUP_S = 2
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
RESIDENTS = 40
PNG_RENDERS = 200
TARGETS = {"pass": 0.25, "scan": 0.13}
SCAN_CPU_TARGET_MS = 0.9
SCAN_CPU_TARGET_TIMES_TRIVIAL = 5.0  # 0.9 ms where the trivial request cost 0.18 ms
SERVED_BY = ("server", "PostgreSQL", "Redis")

ISSUE_LUA = r"""
local auths = {}
for line in io.lines(os.getenv("BENCH_AUTHS")) do auths[#auths + 1] = line end
local out = io.open(os.getenv("BENCH_TOKENS_OUT"), "a")
local i = 0
request = function()
  i = i + 1
  local headers = {["Authorization"] = auths[(i % #auths) + 1]}
  return wrk.format("POST", "/api/v1/mp/pass?image=false", headers, "")
end
response = function(status, headers, body)
  if status == 200 then
    out:write(string.match(body, '"token":"([^"]+)"'), "\n")
  end
end
done = function() out:flush() end
"""

SCAN_LUA = r"""
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local first = tonumber(os.getenv("BENCH_FIRST"))
local store = os.getenv("BENCH_STORE")
local headers = {["Authorization"] = os.getenv("BENCH_AUTH"), ["Content-Type"] = "application/json"}
local i = first - 1
request = function()
  i = i + 1
  local token = tokens[i] or "exhausted"
  return wrk.format("POST", "/api/v1/merchant/scans", headers,
                    '{"pass_token":"' .. token .. '","store_id":"' .. store .. '"}')
end
"""


def wrk(url: str, *, script: str | None, env: dict[str, str], duration_s: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration_s}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(
        [*cmd, url], env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = {p: re.search(rf"{p}%\s+([\d.]+\w+)", out) for p in ("50", "99")}
    return {
        "rps": rps,
        "requests": total,
        "failed": int(failed.group(1)) if failed else 0,
        "p50": latency["50"].group(1) if latency["50"] else "?",  # type: ignore[dict-item]
        "p99": latency["99"].group(1) if latency["99"] else "?",  # type: ignore[dict-item]
    }


async def _asyncio_load(
    port: int, request: Callable[[int], bytes], on_response: Callable[[int, bytes], None], duration_s: int
) -> dict[str, float]:
    """The fallback without wrk: CONNECTIONS keep-alive connections, one request at a time each."""
    counter = itertools.count()
    latencies: list[float] = []
    failed = 0
    deadline = time.perf_counter() + duration_s

    async def connection() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request(next(counter)))
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            failed += status >= 300
            on_response(status, body)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def ms(q: float) -> str:
        return (
            f"{latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000:.2f}ms"
            if latencies
            else "?"
        )

    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "failed": failed,
        "p50": ms(0.5),
        "p99": ms(0.99),
    }


def _http(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if body or method != "GET":  # a GET says nothing of a body (Sanic logs an error per GET that does)
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Load:
    """The three measured loads, driven by wrk when it is installed, else by an asyncio client."""

    def __init__(self, base: str, port: int, work: Path, seeded: Seeded):
        self.base, self.port, self.work = base, port, work
        self.auths = seeded.residents
        self.store, self.cashier = seeded.store_id, seeded.cashier
        self.tokens: list[str] = []
        self.wrk = shutil.which("wrk") is not None
        (work / "issue.lua").write_text(ISSUE_LUA)
        (work / "scan.lua").write_text(SCAN_LUA)
        (work / "auths.txt").write_text("\n".join(self.auths) + "\n")
        self.tokens_file = work / "tokens.txt"

    @property
    def generator(self) -> str:
        return (
            f"wrk -t1 -c{CONNECTIONS}"
            if self.wrk
            else f"an asyncio client, {CONNECTIONS} connections (no wrk)"
        )

    def trivial(self, duration_s: int) -> dict[str, float]:
        if self.wrk:
            return wrk(self.base + "/healthz", script=None, env={}, duration_s=duration_s)
        request = _http("GET", "/healthz", {})
        return asyncio.run(_asyncio_load(self.port, lambda i: request, lambda s, b: None, duration_s))

    def issue(self, duration_s: int) -> dict[str, float]:
        """Passes without image, for ``duration_s``; the passes issued are kept for the scans."""
        if self.wrk:
            self.tokens_file.write_text("")
            env = {"BENCH_AUTHS": str(self.work / "auths.txt"), "BENCH_TOKENS_OUT": str(self.tokens_file)}
            figures = wrk(self.base, script=str(self.work / "issue.lua"), env=env, duration_s=duration_s)
            self.tokens = self.tokens_file.read_text().split()
            return figures
        self.tokens = []
        requests = [_http("POST", "/api/v1/mp/pass?image=false", {"Authorization": a}) for a in self.auths]

        def keep(status: int, body: bytes) -> None:
            if status == 200:
                self.tokens.append(json.loads(body)["token"])

        return asyncio.run(_asyncio_load(self.port, lambda i: requests[i % len(requests)], keep, duration_s))

    def scan(self, duration_s: int) -> dict[str, float]:
        """Scans for ``duration_s``, each with the next pass ``issue`` collected (every pass once)."""
        if self.wrk:
            env = {
                "BENCH_TOKENS": str(self.tokens_file),
                "BENCH_STORE": self.store,
                "BENCH_AUTH": self.cashier,
                "BENCH_FIRST": "1",
            }
            figures = wrk(self.base, script=str(self.work / "scan.lua"), env=env, duration_s=duration_s)
        else:
            headers = {"Authorization": self.cashier, "Content-Type": "application/json"}

            def request(i: int) -> bytes:
                token = self.tokens[i] if i < len(self.tokens) else "exhausted"
                body = json.dumps({"pass_token": token, "store_id": self.store}).encode()
                return _http("POST", "/api/v1/merchant/scans", headers, body)

            figures = asyncio.run(_asyncio_load(self.port, request, lambda s, b: None, duration_s))
        if figures["requests"] + CONNECTIONS > len(self.tokens):
            print(
                f"warning: {len(self.tokens)} passes for {figures['requests']} scans: some scans lacked a fresh pass"
            )
        return figures


def png_cpu_ms(token: str) -> tuple[float, int, int]:
    render_qr_png(token)
    start = time.process_time()
    for _ in range(PNG_RENDERS):
        png = render_qr_png(token)
    per_png = (time.process_time() - start) / PNG_RENDERS * 1000
    return per_png, (len(qr_modules(token)) - 17) // 4, len(png)


def main() -> int:
    if shutil.which("wrk") is None:
        print(
            "wrk not found (Debian: apt-get install wrk): falling back to an asyncio client, which takes CPU "
            "from the server on the same machine and flatters every ratio",
            file=sys.stderr,
        )
    with served("xinyi_bench", redis_url=REDIS_URL, workers=WORKERS) as server:
        load = Load(server.base, server.port, server.work, seed(server.base, server.env, residents=RESIDENTS))
        print(
            f"server: xinyi serve --workers {WORKERS} (PostgreSQL, Redis db 13); load: {load.generator}; "
            f"{ROUNDS} rounds of {DURATION_S} s per figure after a {WARMUP_S} s warm-up; "
            f"{os.cpu_count()} CPUs shared by everything"
        )
        load.trivial(WARMUP_S)
        load.issue(WARMUP_S)
        load.scan(WARMUP_S)

        def metered(run: Callable[[int], dict[str, float]]) -> dict[str, Any]:
            """One measured run, with the CPU ms per request of the server, PostgreSQL and Redis."""
            meter = CpuMeter(server.pid, database=server.database)
            figures: dict[str, Any] = dict(run(DURATION_S))
            spent = meter.seconds_by_group()
            done = max(int(figures["requests"]), 1)
            figures["cpu_ms"] = {g: spent.get(g, 0.0) / done * 1000 for g in SERVED_BY}
            figures["cpu"] = meter.summary(operations=done, workers=WORKERS, groups=spent)
            return figures

        rounds = []
        for _ in range(ROUNDS):
            rounds.append(
                {
                    "trivial": metered(load.trivial),
                    "issue": metered(load.issue),
                    "scan": metered(load.scan),
                }
            )
        last_token = load.tokens[-1]
        png_ms, version, png_bytes = png_cpu_ms(last_token)

        def show(label: str, key: str, target: float | None) -> None:
            ratios = sorted(r[key]["rps"] / r["trivial"]["rps"] for r in rounds)
            median = ratios[len(ratios) // 2]
            middle = sorted(rounds, key=lambda r: r[key]["rps"] / r["trivial"]["rps"])[len(rounds) // 2][key]
            verdict = (
                "" if target is None else ("  OK" if median >= target else f"  MISSED (target {target:.0%})")
            )
            each = " ".join(f"{x:.1%}" for x in ratios)
            failed = sum(r[key]["failed"] for r in rounds)
            print(
                f"  {label:<40} {middle['rps']:>7.0f} req/s  median {median:>6.1%} of trivial (rounds: {each})  "
                f"p50 {middle['p50']} p99 {middle['p99']}  failures {failed}{verdict}"
            )
            if target is not None:
                verdicts.append(f"{label} {median:.1%} ≥ {target:.0%}: {verdict.strip()}")
            costs = sorted(sum(r[key]["cpu_ms"].values()) for r in rounds)
            times = sorted(
                sum(r[key]["cpu_ms"].values()) / sum(r["trivial"]["cpu_ms"].values()) for r in rounds
            )
            cost, multiple = costs[len(costs) // 2], times[len(times) // 2]
            parts = ", ".join(f"{g} {middle['cpu_ms'][g]:.2f}" for g in SERVED_BY)
            line = (
                f"  {'':<40} CPU {cost:.2f} ms per request (median of {' '.join(f'{c:.2f}' for c in costs)}; "
                f"middle round: {parts}) = {multiple:.1f}× the trivial request's"
            )
            if key == "scan":
                absolute = "OK" if cost <= SCAN_CPU_TARGET_MS else "MISSED"
                relative = "OK" if multiple <= SCAN_CPU_TARGET_TIMES_TRIVIAL else "MISSED"
                line += (
                    f"  [≤ {SCAN_CPU_TARGET_MS:g} ms: {absolute}; ≤ {SCAN_CPU_TARGET_TIMES_TRIVIAL:g}× trivial: "
                    f"{relative}]"
                )
                verdicts.append(f"scan CPU {cost:.2f} ms ≤ {SCAN_CPU_TARGET_MS:g}: {absolute}")
                verdicts.append(f"{multiple:.1f}× trivial ≤ {SCAN_CPU_TARGET_TIMES_TRIVIAL:g}×: {relative}")
            print(line)
            print(f"  {'':<40} {middle['cpu']}")

        verdicts: list[str] = []

        print("results (ratios are to /healthz measured in the same round):")
        show("GET /healthz (trivial)", "trivial", None)
        show("POST /mp/pass?image=false", "issue", TARGETS["pass"])
        show("POST /merchant/scans (a fresh pass each)", "scan", TARGETS["scan"])
        verdict = "OK" if png_ms <= 10 else "MISSED (target 10 ms)"
        print(
            f"  one pass PNG: {png_ms:.2f} ms CPU (QR version {version}, {png_bytes} bytes, token "
            f"{len(last_token)} chars)  {verdict}"
        )
        verdicts.append(f"PNG {png_ms:.2f} ms ≤ 10: {verdict}")
        print("targets: " + "; ".join(verdicts))
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
