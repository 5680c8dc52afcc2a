"""Offline scanning (issue 18): the bundle at a million residents, and the upload rate beside the online scan.

What it does, from the repository root (``.venv/bin/python bench/bench_offline.py``):

1. starts its own PostgreSQL (``initdb`` + ``pg_ctl`` on a spare port) and Redis, and on them
   ``xinyi serve --workers 2`` (``bench/_harness.py``), seeded over HTTP (a merchant, a store,
   a cashier, three offers, ``RESIDENTS_HTTP`` residents);
2. fills ``BENCH_RESIDENTS`` residents (default 1,000,000) with SQL: residents, their credit
   subjects and scores (2 % restricted for long: they need no entry, their passes say so),
   resident numbers; then, for each count in ``BENCH_DOWNGRADED`` (default 1,000 and 10,000),
   that many residents whose tier fell within the last offline life (tier moves: half A→B,
   half A→restricted), and measures ``GET /merchant/offline-bundle`` (``BUNDLE_GETS`` times:
   the median time, the bundle's size, its revocation entries), beside what a bitstring status
   list of the same residents (1 bit per resident number, zlib) would weigh;
3. measures, in ``ROUNDS`` interleaved rounds with ``CONCURRENCY`` connections (an asyncio httpx
   client: the same generator for every figure), ``GET /healthz``, ``POST /merchant/scans`` (each
   with a fresh pass) and ``POST /merchant/offline-scans`` (``BATCH`` items an upload, each a fresh
   pass; without and with one redemption of the 20 %-off offer through the ledger): requests or
   items per second, the median round printed beside the trivial endpoint of its round;
4. stops everything and removes its data.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import zlib
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _services import OwnPostgres, OwnRedis, why_no_own_postgres, why_no_own_redis  # noqa: E402

RESIDENTS = int(os.environ.get("BENCH_RESIDENTS", "1000000"))
DOWNGRADED = [int(x) for x in os.environ.get("BENCH_DOWNGRADED", "1000,10000").split(",") if x]
RESIDENTS_HTTP = 40
BUNDLE_GETS = 5
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SCANS = int(os.environ.get("BENCH_SCANS", "1500"))
ITEMS = int(os.environ.get("BENCH_ITEMS", "1500"))
BATCH = int(os.environ.get("BENCH_BATCH", "50"))
TRIVIAL = 3000
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


async def fill(url: str, residents: int) -> float:
    """Residents, subjects, scores and numbers for ``residents`` people, with SQL; seconds taken."""
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        base = 10_000_000  # far above the seeded rows' ids
        await conn.execute(
            f"""
            INSERT INTO residents (id, created_at)
            SELECT md5('bench-r' || g)::uuid, now() FROM generate_series(1, {residents}) g;
            INSERT INTO credit_subjects (id, subject_type, id_hash, resident_id, created_at)
            SELECT {base} + g, 'natural_person', md5('bench-s' || g), md5('bench-r' || g)::uuid, now()
            FROM generate_series(1, {residents}) g;
            INSERT INTO credit_scores (id, subject_id, score, tier, ruleset_version, as_of, factors, computed_at)
            SELECT {base} + g, {base} + g, CASE WHEN g % 50 = 0 THEN 300 ELSE 700 END,
                   CASE WHEN g % 50 = 0 THEN 'restricted' ELSE 'A' END, 'v1', current_date, '[]', now()
            FROM generate_series(1, {residents}) g;
            INSERT INTO resident_numbers (number, resident_id)
            SELECT {base} + g, md5('bench-r' || g)::uuid FROM generate_series(1, {residents}) g;
            ANALYZE residents; ANALYZE credit_subjects; ANALYZE credit_scores; ANALYZE resident_numbers;
            """
        )
    finally:
        await conn.close()
    return time.perf_counter() - started


async def downgrade(url: str, count: int) -> list[int]:
    """``count`` residents (not the restricted ones) whose tier fell in the last hours: their numbers."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    picked = [g for g in range(1, RESIDENTS + 1, max(RESIDENTS // (count * 2), 1)) if g % 50][:count]
    try:
        await conn.execute("DELETE FROM offline_tier_moves")
        await conn.execute("UPDATE credit_scores SET tier = 'A' WHERE id > 10000000 AND tier <> 'restricted'")
        now = datetime.now(UTC)
        rows = [
            (f"bench-r{g}", "A", "B" if i % 2 else "restricted", now - timedelta(seconds=(i * 7) % 20000))
            for i, g in enumerate(picked)
        ]
        await conn.executemany(
            "INSERT INTO offline_tier_moves (resident_id, from_tier, to_tier, at) VALUES (md5($1)::uuid, $2, $3, $4)",
            rows,
        )
        await conn.executemany(
            "UPDATE credit_scores SET tier = $2 WHERE id = $1",
            [(10_000_000 + g, "B" if i % 2 else "restricted") for i, g in enumerate(picked)],
        )
    finally:
        await conn.close()
    return picked


def bitstring_size(marked: int, population: int, *, seed: int = 18) -> int:
    """What an IETF-style status list (1 bit per resident number, zlib, base64url) marking ``marked`` residents
    at random among ``population`` weighs (resident numbers are given in order of first need: no pattern)."""
    bits = bytearray((population + 7) // 8)
    for n in random.Random(seed).sample(range(population), marked):
        bits[n // 8] |= 1 << (n % 8)
    return (len(zlib.compress(bytes(bits), 9)) * 4 + 2) // 3


async def timed_rate(total: int, concurrency: int, one: Any) -> tuple[float, int]:
    """Run ``one(i)`` for i in 0..total-1 on ``concurrency`` workers: (units per second, failures)."""
    counter = iter(range(total))
    failures = 0
    units = 0

    async def worker() -> None:
        nonlocal failures, units
        for i in counter:
            done, failed = await one(i)
            units += done
            failures += failed

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return units / (time.perf_counter() - started), failures


async def issue(http: Any, auths: list[str], count: int) -> list[str]:
    tokens: list[str] = []

    async def one(i: int) -> tuple[int, int]:
        r = await http.post("/api/v1/mp/pass?image=false", headers={"Authorization": auths[i % len(auths)]})
        if r.status_code == 200:
            tokens.append(r.json()["token"])
            return 1, 0
        return 0, 1

    await timed_rate(count, CONCURRENCY, one)
    return tokens


async def rounds(base: str, seeded: Any) -> list[dict[str, tuple[float, int]]]:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    store, cashier, offer = seeded.store_id, {"Authorization": seeded.cashier}, seeded.offer_ids[0]
    out = []
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:

        async def trivial(i: int) -> tuple[int, int]:
            r = await http.get("/healthz")
            return 1, int(r.status_code != 200)

        for n in range(ROUNDS + 1):  # the first round warms up
            figures: dict[str, tuple[float, int]] = {
                "trivial": await timed_rate(TRIVIAL, CONCURRENCY, trivial)
            }
            tokens = await issue(http, seeded.residents, SCANS)

            async def scan(i: int, tokens: list[str] = tokens) -> tuple[int, int]:
                r = await http.post(
                    "/api/v1/merchant/scans",
                    json={"pass_token": tokens[i], "store_id": store},
                    headers=cashier,
                )
                return 1, int(r.status_code != 201)

            figures["scan"] = await timed_rate(len(tokens), CONCURRENCY, scan)
            for label, redemptions in (
                ("upload", []),
                ("upload+redeem", [{"offer_id": offer, "order_amount_fen": 10000}]),
            ):
                tokens = await issue(http, seeded.residents, ITEMS)
                now = datetime.now(UTC).isoformat()
                batches = [tokens[i : i + BATCH] for i in range(0, len(tokens), BATCH)]

                async def send(
                    b: int,
                    batches: list[list[str]] = batches,
                    label: str = label,
                    redemptions: list = redemptions,
                    now: str = now,
                    device: str = f"bench-{n}-{label}",
                ) -> tuple[int, int]:
                    items = [
                        {"seq": b * BATCH + j, "pass_token": t, "scanned_at": now, "redemptions": redemptions}
                        for j, t in enumerate(batches[b])
                    ]
                    r = await http.post(
                        "/api/v1/merchant/offline-scans",
                        json={"store_id": store, "device_id": device, "items": items},
                        headers=cashier,
                    )
                    if r.status_code != 200:
                        return 0, len(items)
                    results = r.json()["results"]
                    return len(items), sum(x["outcome"] != "accepted" for x in results)

                figures[label] = await timed_rate(len(batches), min(CONCURRENCY, len(batches)), send)
            if n:
                out.append(figures)
    return out


def _patient(wait_ready: Any) -> Any:
    """The harness's readiness wait, retried for up to 5 minutes: the machine may be shared and busy."""

    def wait(base: str, server: Any, log: Path) -> None:
        deadline = time.monotonic() + 300
        while True:
            try:
                return wait_ready(base, server, log)
            except SystemExit:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise

    return wait


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
        import _harness
        import httpx

        _harness.wait_ready = _patient(_harness.wait_ready)

        for attempt in range(3):  # a busy shared machine may start the workers too slowly for Sanic's 30 s
            stack = ExitStack()
            try:
                server = stack.enter_context(
                    _harness.served("xinyi_bench_offline", redis_url=own_redis.url(0), workers=WORKERS)
                )
                break
            except SystemExit as exc:
                if attempt == 2:
                    raise
                print(f"the server did not start ({str(exc).splitlines()[0]}): trying again", file=sys.stderr)
        with stack:
            seeded = _harness.seed(server.base, server.env, residents=RESIDENTS_HTTP)
            print(
                f"server: xinyi serve --workers {WORKERS} on its own PostgreSQL and Redis; {os.cpu_count()} CPUs shared"
            )
            took = asyncio.run(fill(server.database_url, RESIDENTS))
            print(
                f"filled {RESIDENTS:,} residents (subjects, scores: 2 % restricted, numbers) in {took:.0f} s"
            )
            with httpx.Client(base_url=server.base, timeout=120) as http:
                for count in DOWNGRADED:
                    asyncio.run(downgrade(server.database_url, count))
                    times, body = [], {}
                    for _ in range(BUNDLE_GETS):
                        started = time.perf_counter()
                        r = http.get(
                            "/api/v1/merchant/offline-bundle",
                            params={"store_id": seeded.store_id},
                            headers={"Authorization": seeded.cashier},
                        )
                        times.append(time.perf_counter() - started)
                        assert r.status_code == 200, r.text
                        body = r.json()
                    times.sort()
                    print(
                        f"bundle at {RESIDENTS:,} residents, {count:,} downgraded in the window: "
                        f"{body['bytes']:,} bytes ({body['revocation_entries']:,} revocation entries), "
                        f"built and served in {times[len(times) // 2] * 1000:.0f} ms median "
                        f"(min {times[0] * 1000:.0f}, max {times[-1] * 1000:.0f}); a 1-bit status list would be "
                        f"{bitstring_size(count, RESIDENTS):,} bytes marking the same residents, "
                        f"{bitstring_size(count + RESIDENTS // 50, RESIDENTS):,} marking every restricted one too"
                    )
            measured = asyncio.run(rounds(server.base, seeded))

        def show(label: str, key: str, unit: str) -> None:
            ratios = sorted((r[key][0] / r["trivial"][0], r[key][0]) for r in measured)
            ratio, rate = ratios[len(ratios) // 2]
            failures = sum(r[key][1] for r in measured)
            each = " ".join(f"{x:.1%}" for x, _ in ratios)
            print(
                f"  {label:<52} {rate:>7.0f} {unit}/s  {ratio:>6.1%} of trivial (rounds: {each})  failures {failures}"
            )

        print(
            f"rates ({ROUNDS} rounds after a warm-up, {CONCURRENCY} connections, uploads of {BATCH} items):"
        )
        show("GET /healthz (trivial)", "trivial", "req")
        show("POST /merchant/scans (online, a fresh pass each)", "scan", "req")
        show("POST /merchant/offline-scans, items without redemption", "upload", "items")
        show("POST /merchant/offline-scans, items with 1 redemption", "upload+redeem", "items")
        return 0
    finally:
        own_redis.stop()
        own_pg.close()


if __name__ == "__main__":
    raise SystemExit(main())
