"""Scan throughput with the fraud-signal detection running beside it, and without, in the same run.

What it does, from the repository root (``.venv/bin/python bench/bench_signals.py``):

1. starts a PostgreSQL and a Redis of its own on spare ports (``bench/_services.py``), then
   ``xinyi serve --workers 2`` on a fresh database there, with its own detection job
   off (``SIGNALS_WORKER=0``), seeds it (``bench/_harness.py``: a store, a cashier, offers,
   ``RESIDENTS`` residents);
2. in ``ROUNDS`` rounds, measures ``GET /healthz``, then ``POST /api/v1/merchant/scans`` (each scan
   with a fresh pass issued just before, as ``bench/bench_scan.py`` does) without detection, then
   the same with detection running beside the server: a process (started once, switched on
   for those loads only) doing what the job inside ``serve`` does (``signals.detect.detect`` from the watermark to now), every
   ``DETECT_EVERY_S`` seconds (default 1 s, sixty times the default ``SIGNALS_INTERVAL_S``, so
   that each round holds several runs), on the same database and the same CPUs;
3. prints each figure beside the trivial endpoint of its round, the median of the rounds, and
   what detection did (runs, time per run, signals found: every scan goes to one store, so the
   scan bursts are real ones).

The server and the detector share the machine's CPUs, as the job inside ``serve`` would share
the workers' CPUs; the detector reads the scan log through its (merchant, time) and
(resident, time) indexes, never on the scan request path.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _services import OwnPostgres, OwnRedis, why_no_own_postgres, why_no_own_redis  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
WORKERS = 2
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DETECT_EVERY_S = float(os.environ.get("BENCH_DETECT_EVERY_S", "1"))
RESIDENTS = 40


def detector_main(report: Path) -> int:
    """The detector process: paused until SIGUSR1, then ``detect`` every ``DETECT_EVERY_S`` until SIGUSR2
    (paused again) or SIGTERM (its figures written as JSON)."""
    from datetime import UTC, datetime

    from server.settings import load_settings
    from signals.detect import detect
    from xinyi.database import close_db, init_db

    settings = load_settings()
    stop, active = asyncio.Event(), asyncio.Event()
    runs: list[float] = []
    found: dict[str, int] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def finish() -> None:
            stop.set()
            active.set()

        loop.add_signal_handler(signal.SIGTERM, finish)
        loop.add_signal_handler(signal.SIGUSR1, active.set)
        loop.add_signal_handler(signal.SIGUSR2, active.clear)
        await init_db(settings)
        report.with_suffix(".ready").write_text("ready")
        try:
            while not stop.is_set():
                await active.wait()
                if stop.is_set():
                    break
                started = time.perf_counter()
                done = await detect(settings, now=datetime.now(UTC))
                runs.append(time.perf_counter() - started)
                for kind, n in (done.found if done else {}).items():
                    found[kind] = found.get(kind, 0) + n
                try:
                    await asyncio.wait_for(stop.wait(), DETECT_EVERY_S)
                except TimeoutError:
                    pass
        finally:
            await close_db()

    asyncio.run(main())
    report.write_text(json.dumps({"runs": runs, "found": found}))
    return 0


class Detector:
    """The detection process beside the server: started once (paused), switched on around a measured load."""

    def __init__(self, env: dict[str, str], work: Path):
        self.report = work / "detector.json"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--detector", str(self.report)], env=env, cwd=ROOT
        )
        ready = self.report.with_suffix(".ready")
        deadline = time.monotonic() + 120
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the detector process did not start")
            time.sleep(0.2)
        self.runs: list[float] = []
        self.found: dict[str, int] = {}

    def __enter__(self) -> Detector:
        self.process.send_signal(signal.SIGUSR1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGUSR2)

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        figures = json.loads(self.report.read_text())
        self.runs, self.found = figures["runs"], figures["found"]


def main() -> int:
    for why in (why_no_own_postgres(), why_no_own_redis()):
        if why:
            print(f"cannot run: {why}", file=sys.stderr)
            return 2
    own_pg, own_redis = OwnPostgres(), OwnRedis()
    try:
        own_pg.start()
        own_redis.start()
        os.environ["BENCH_DATABASE_URL"] = own_pg.url  # read by _harness at import
        os.environ["SIGNALS_WORKER"] = "0"  # the server's own job off: the detector beside it goes on and off
        return measure(own_redis.url(0))
    finally:
        own_redis.close()
        own_pg.close()


def measure(redis_url: str) -> int:
    from _harness import seed, served
    from bench_scan import WARMUP_S, Load

    with served("xinyi_bench_signals", redis_url=redis_url, workers=WORKERS) as server:
        load = Load(server.base, server.port, server.work, seed(server.base, server.env, residents=RESIDENTS))
        detector = Detector(server.env, server.work)
        print(
            f"server: xinyi serve --workers {WORKERS} (its own PostgreSQL and Redis); load: {load.generator}; "
            f"{ROUNDS} rounds of {DURATION_S} s per figure after a {WARMUP_S} s warm-up; detection every "
            f"{DETECT_EVERY_S:g} s beside it; {os.cpu_count()} CPUs shared by everything"
        )
        load.trivial(WARMUP_S)
        load.issue(WARMUP_S)
        load.scan(WARMUP_S)
        rounds = []
        for _ in range(ROUNDS):
            trivial = load.trivial(DURATION_S)
            load.issue(DURATION_S)
            without = load.scan(DURATION_S)
            load.issue(DURATION_S)
            with detector:
                beside = load.scan(DURATION_S)
            rounds.append({"trivial": trivial, "without": without, "with": beside})
        detector.close()

        def show(label: str, key: str) -> None:
            ratios = sorted(r[key]["rps"] / r["trivial"]["rps"] for r in rounds)
            median = ratios[len(ratios) // 2]
            middle = sorted(rounds, key=lambda r: r[key]["rps"] / r["trivial"]["rps"])[len(rounds) // 2][key]
            each = " ".join(f"{x:.1%}" for x in ratios)
            failed = sum(r[key]["failed"] for r in rounds)
            print(
                f"  {label:<44} {middle['rps']:>7.0f} req/s  median {median:>6.1%} of trivial (rounds: {each})  "
                f"p50 {middle['p50']} p99 {middle['p99']}  failures {failed}"
            )

        print("results (ratios are to /healthz measured in the same round):")
        show("GET /healthz (trivial)", "trivial")
        show("POST /merchant/scans, no detection", "without")
        show(f"POST /merchant/scans, detection every {DETECT_EVERY_S:g} s", "with")
        per_round = sorted(r["with"]["rps"] / r["without"]["rps"] for r in rounds)
        print(f"  scans with detection / without, per round: {' '.join(f'{x:.1%}' for x in per_round)}")
        runs = sorted(detector.runs)
        if runs:
            print(
                f"  detection: {len(runs)} runs, median {runs[len(runs) // 2] * 1000:.0f} ms, "
                f"max {runs[-1] * 1000:.0f} ms; new signals: {detector.found or 'none'}"
            )
        return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--detector":
        raise SystemExit(detector_main(Path(sys.argv[2])))
    raise SystemExit(main())
