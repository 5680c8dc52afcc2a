"""The regulators' statistics at a province's year: the rollup's time, then GET /admin/stats beside /healthz.

What it does, from the repository root (``.venv/bin/python bench/bench_stats.py``):

1. starts a PostgreSQL cluster and a Redis of its own on spare ports (``bench/_services.py``:
   ``initdb`` + ``pg_ctl``, never the machine's services), creates a database and migrates it;
2. fills a year (2025, China Standard Time) of Yunnan straight into the tables with SQL
   ``generate_series``: ``BENCH_MERCHANTS`` merchants (default 1,000) spread over 128 county
   codes of the 16 prefectures, two stores each, three offers each (the five scenarios in turn),
   ``BENCH_RESIDENTS`` residents (default 500,000), ``BENCH_SCANS`` scans (default 10 M, 5 %
   refused, tiers C…AAA) and ``BENCH_REDEMPTIONS`` redemptions (default 1 M, 3 % reversed),
   spread evenly over the year, residents and stores drawn at random;
3. runs ``xinyi rollup-stats`` (the first rollup: every day) and prints its time and the rows
   it wrote;
4. starts ``xinyi serve`` on it and times, over HTTP, ``GET /api/v1/admin/stats`` for the year
   grouped by region and day (the target: within a second), by county and day, by merchant, by
   scenario × tier and by prefecture, each ``BENCH_REPEAT`` times (default 5), beside the same
   server's ``GET /healthz``; then inserts a few hundred scans into the last day and times the
   request that rolls that day up again before answering.

``BENCH_SCANS=100000 BENCH_REDEMPTIONS=10000 BENCH_RESIDENTS=20000`` is a quick run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _harness import ROOT, free_port, wait_ready, with_database, xinyi
from _services import OwnPostgres, OwnRedis, why_no_own_postgres, why_no_own_redis

MERCHANTS = int(os.environ.get("BENCH_MERCHANTS", "1000"))
RESIDENTS = int(os.environ.get("BENCH_RESIDENTS", "500000"))
SCANS = int(os.environ.get("BENCH_SCANS", "10000000"))
REDEMPTIONS = int(os.environ.get("BENCH_REDEMPTIONS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
YEAR_FROM, YEAR_TO = "2025-01-01", "2025-12-31"
TARGET_S = 1.0
PREFECTURES = "5301 5303 5304 5305 5306 5307 5308 5309 5323 5325 5326 5328 5329 5331 5333 5334".split()
COUNTIES = [f"{p}{c:02d}" for p in PREFECTURES for c in range(1, 9)]  # 128 county-level codes
SCENARIOS = ("travel", "transport", "rental", "approval", "loan")
TIERS = ("C", "B", "A", "AA", "AAA")

QUERIES = (
    ("region (prefecture) × day", {"group_by": "region,day"}),
    ("region (county) × day", {"group_by": "region,day", "region_level": "county"}),
    ("region (prefecture)", {"group_by": "region"}),
    ("merchant", {"group_by": "merchant"}),
    ("scenario × tier", {"group_by": "scenario,tier"}),
    ("day, 大理州 only", {"group_by": "day", "region": "5329"}),
)


async def execute(url: str, *statements: str) -> list[float]:
    """Run statements on one connection; the seconds each took."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    took = []
    try:
        for sql in statements:
            started = time.perf_counter()
            await conn.execute(sql)
            took.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return took


async def fetchval(url: str, sql: str) -> object:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def filled(url: str, table: str, given: dict[str, str], source: str) -> str:
    """``INSERT INTO table … SELECT … FROM source``: the given columns, and a plain value for every other
    NOT NULL column without a default (so that columns added by later migrations do not break the bench)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        rows = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 "
            "AND is_nullable = 'NO' AND column_default IS NULL",
            table,
        )
    finally:
        await conn.close()
    plain = {
        "uuid": "gen_random_uuid()",
        "boolean": "false",
        "jsonb": "'{}'::jsonb",
        "json": "'{}'::json",
        "date": "date '2025-01-01'",
        "timestamp with time zone": "timestamptz '2025-01-01 00:00+08'",
    }
    columns = dict(given)
    for r in rows:
        if r["column_name"] not in columns:
            kind = r["data_type"]
            columns[r["column_name"]] = plain.get(kind, "0" if "int" in kind or kind == "numeric" else "''")
    names = ", ".join(f'"{c}"' for c in columns)
    return f"INSERT INTO {table} ({names}) SELECT {', '.join(columns.values())} FROM {source}"


async def secondary_indexes(url: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of ``tables`` that back no constraint: dropped for the bulk load, made again after."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        rows = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[]) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            list(tables),
        )
    finally:
        await conn.close()
    return [(r["indexname"], r["indexdef"]) for r in rows]


async def fill(url: str) -> None:
    """A year of a province, straight into the tables (the scan log's and the ledger's indexes made after)."""
    indexes = await secondary_indexes(url, ("pass_scans", "redemptions"))
    counties = ", ".join(f"('{c}', {i})" for i, c in enumerate(COUNTIES))
    scenarios = "ARRAY[" + ", ".join(f"'{s}'" for s in SCENARIOS) + "]"
    tiers = "ARRAY[" + ", ".join(f"'{t}'" for t in TIERS) + "]"
    seconds_per_scan = 365 * 86400 / SCANS
    seconds_per_redemption = 365 * 86400 / REDEMPTIONS
    start = "timestamptz '2025-01-01 00:00+08'"
    statements = [
        "SELECT setseed(0.17)",
        f"CREATE TABLE bench_counties (code text, i int); INSERT INTO bench_counties VALUES {counties}",
        await filled(
            url,
            "merchants",
            {
                "id": "gen_random_uuid()",
                "name": "'商户' || g",
                "category": "'scenic_spot'",
                "region": f"(SELECT code FROM bench_counties WHERE i = g % {len(COUNTIES)})",
                "created_at": start,
            },
            f"generate_series(0, {MERCHANTS - 1}) g",
        ),
        "CREATE TABLE bench_merchants AS SELECT row_number() OVER (ORDER BY id) - 1 AS i, id, region FROM merchants",
        await filled(
            url,
            "stores",
            {
                "id": "gen_random_uuid()",
                "merchant_id": "m.id",
                "name": "'门店' || k",
                "region": "m.region",
                "created_at": start,
            },
            "bench_merchants m CROSS JOIN generate_series(1, 2) k",
        ),
        "CREATE TABLE bench_stores AS SELECT row_number() OVER (ORDER BY id) - 1 AS i, id, merchant_id FROM stores",
        await filled(
            url,
            "offers",
            {
                "id": "gen_random_uuid()",
                "merchant_id": "m.id",
                "status": "'active'",
                "scenario": f"({scenarios})[1 + (m.i * 3 + k) % {len(SCENARIOS)}]",
                "type": "'amount_off'",
                "label": "'立减' || k || '元'",
                "value": "k * 100",
                "min_tier": "'C'",
                "requires_claim": "false",
                "valid_from": start,
                "valid_until": "timestamptz '2026-01-01 00:00+08'",
                "redeemed_count": "0",
                "all_stores": "true",
                "created_by_id": "gen_random_uuid()",
                "created_at": start,
                "updated_at": start,
            },
            "bench_merchants m CROSS JOIN generate_series(1, 3) k",
        ),
        "CREATE TABLE bench_offers AS SELECT row_number() OVER (ORDER BY o.id) - 1 AS i, o.id, o.merchant_id, "
        "o.value FROM offers o",
        await filled(
            url,
            "residents",
            {"id": "gen_random_uuid()", "openid": "'bench-' || g", "created_at": start},
            f"generate_series(1, {RESIDENTS}) g",
        ),
        "CREATE TABLE bench_residents AS SELECT row_number() OVER (ORDER BY id) - 1 AS i, id FROM residents",
        "CREATE INDEX ON bench_residents (i); CREATE INDEX ON bench_stores (i); CREATE INDEX ON bench_offers (i)",
        "; ".join(f'DROP INDEX "{name}"' for name, _ in indexes) or "SELECT 1",
        await filled(
            url,
            "pass_scans",
            {
                "id": "gen_random_uuid()",
                "merchant_id": "s.merchant_id",
                "store_id": "s.id",
                "staff_id": "s.merchant_id",
                "resident_id": "r.id",
                "outcome": "CASE WHEN q.x < 0.05 THEN 'refused' ELSE 'accepted' END",
                "reason": "CASE WHEN q.x < 0.05 THEN 'PASS_EXPIRED' END",
                "tier": f"({tiers})[1 + q.t]",
                "created_at": f"{start} + q.g * interval '{seconds_per_scan:.6f} seconds'",
            },
            f"(SELECT g, (random() * {2 * MERCHANTS - 1})::int AS si, (random() * {RESIDENTS - 1})::int AS ri, "
            f"random() AS x, (random() * 4)::int AS t FROM generate_series(0, {SCANS - 1}) g) q "
            "JOIN bench_stores s ON s.i = q.si JOIN bench_residents r ON r.i = q.ri",
        ),
        await filled(
            url,
            "redemptions",
            {
                "id": "gen_random_uuid()",
                "channel": "'store'",
                "merchant_id": "o.merchant_id",
                "offer_id": "o.id",
                "resident_id": "r.id",
                "store_id": "(SELECT id FROM bench_stores WHERE merchant_id = o.merchant_id LIMIT 1)",
                "offer_type": "'amount_off'",
                "offer_value": "o.value",
                "tier": f"({tiers})[1 + q.t]",
                "order_amount_fen": "5000",
                "discount_fen": "o.value",
                "deposit_waived_fen": "0",
                "took_stock": "false",
                "status": "CASE WHEN q.x < 0.03 THEN 'reversed' ELSE 'completed' END",
                "created_at": f"{start} + q.g * interval '{seconds_per_redemption:.6f} seconds'",
                "business_day": f"(({start} + q.g * interval '{seconds_per_redemption:.6f} seconds') "
                "AT TIME ZONE 'Asia/Shanghai')::date",
                "reversed_at": f"CASE WHEN q.x < 0.03 THEN {start} + q.g * interval "
                f"'{seconds_per_redemption:.6f} seconds' + interval '1 hour' END",
            },
            f"(SELECT g, (random() * {3 * MERCHANTS - 1})::int AS oi, (random() * {RESIDENTS - 1})::int AS ri, "
            f"random() AS x, (random() * 4)::int AS t FROM generate_series(0, {REDEMPTIONS - 1}) g) q "
            "JOIN bench_offers o ON o.i = q.oi JOIN bench_residents r ON r.i = q.ri",
        ),
        "; ".join(definition for _, definition in indexes) or "SELECT 1",
        "ANALYZE",
    ]
    took = await execute(url, *statements)
    print(
        f"filled: {MERCHANTS:,} merchants, {2 * MERCHANTS:,} stores, {3 * MERCHANTS:,} offers, {RESIDENTS:,} residents, "
        f"{SCANS:,} scans ({took[-4]:.0f} s), {REDEMPTIONS:,} redemptions ({took[-3]:.0f} s), their indexes "
        f"({took[-2]:.0f} s); {sum(took):.0f} s in all",
        flush=True,
    )


def timed_get(
    http: httpx.Client, path: str, params: dict[str, str], headers: dict[str, str]
) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    r = http.get(path, params=params, headers=headers)
    return time.perf_counter() - started, r


def describe(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}"


def main() -> int:
    for why in (why_no_own_postgres(), why_no_own_redis()):
        if why:
            print(f"bench_stats: {why}", file=sys.stderr)
            return 2
    own_pg, own_redis = OwnPostgres(), OwnRedis()
    with (own_pg.data / "postgresql.conf").open("a") as conf:
        conf.write(
            "shared_buffers = 1GB\nwork_mem = 64MB\nmaintenance_work_mem = 512MB\nmax_wal_size = 8GB\n"
            "synchronous_commit = off\nmax_parallel_workers_per_gather = 1\n"
        )
    work = Path(tempfile.mkdtemp(prefix="xinyi-bench-stats-"))
    server = None
    try:
        own_pg.start()
        own_redis.start()
        url = with_database(own_pg.url, "bench_stats")
        asyncio.run(execute(own_pg.url, 'CREATE DATABASE "bench_stats"'))
        env = {
            **os.environ,
            "XINYI_ENV": "dev",
            "XINYI_VAR_DIR": str(work / "var"),
            "DATABASE_URL": url,
            "REDIS_URL": own_redis.url(0),
            "ACCESS_LOG": "0",
            "RESPONSE_TIMEOUT_S": "600",
        }
        xinyi(env, "migrate")
        asyncio.run(fill(url))

        started = time.perf_counter()
        subprocess.run([str(ROOT / ".venv/bin/xinyi"), "rollup-stats"], env=env, cwd=ROOT, check=True)
        rollup_s = time.perf_counter() - started
        cells = asyncio.run(fetchval(url, "SELECT count(*) FROM stats_daily"))
        regions = asyncio.run(fetchval(url, "SELECT count(*) FROM stats_daily_regions"))
        size = asyncio.run(
            fetchval(
                url,
                "SELECT pg_size_pretty(pg_total_relation_size('stats_daily') + pg_total_relation_size('stats_daily_regions'))",
            )
        )
        print(
            f"rollup of the year: {rollup_s:.1f} s; {cells:,} rows per (day, store, offer, tier), "
            f"{regions:,} per (day, region) at three levels; {size} on disk",
            flush=True,
        )

        xinyi(env, "create-admin", "--username", "bench-admin", "--password", "bench-admin-password")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = work / "server.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(ROOT / ".venv/bin/xinyi"), "serve", "--workers", "1", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_ready(base, server, log)
        with httpx.Client(base_url=base, timeout=120) as http:
            r = http.post(
                "/api/v1/admin/auth/login",
                json={"username": "bench-admin", "password": "bench-admin-password"},
            )
            admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
            health = []
            for _ in range(50):
                took, r = timed_get(http, "/healthz", {}, {})
                health.append(took)
            print(f"GET /healthz: {describe(health)}", flush=True)
            year = {"from": YEAR_FROM, "to": YEAR_TO}
            for name, params in QUERIES:
                times = []
                # the per-store rows (no region rollup) are read less often: at full size each read takes a while
                for _ in range(REPEAT if set(params["group_by"].split(",")) <= {"region", "day"} else 2):
                    took, r = timed_get(http, "/api/v1/admin/stats", {**year, **params}, admin)
                    assert r.status_code == 200, r.text
                    times.append(took)
                body = r.json()
                verdict = ""
                if name.startswith("region (prefecture) × day"):
                    verdict = f"  [target ≤ {TARGET_S:.0f} s: {'met' if statistics.median(times) <= TARGET_S else 'MISSED'}]"
                print(
                    f"GET /admin/stats, the year by {name}: {describe(times)}; {len(body['items']):,} cells, "
                    f"{body['totals']['suppressed_cells']:,} suppressed, totals: {body['totals']['scans_accepted']:,} scans "
                    f"accepted, {body['totals']['redemptions']:,} redemptions, {body['totals']['residents']:,} residents"
                    f"{verdict}",
                    flush=True,
                )
            took, r = timed_get(
                http, "/api/v1/admin/stats", {**year, "format": "csv", "group_by": "region,day"}, admin
            )
            print(f"the same as CSV: {took * 1000:.0f} ms, {len(r.content):,} bytes", flush=True)

            # New scans on the last day, stamped after the newest (as a live ledger's are): the next
            # answer rolls that day up again first, and counts them.
            def scans_accepted() -> tuple[float, int]:
                took, r = timed_get(http, "/api/v1/admin/stats", {**year, "group_by": "region,day"}, admin)
                return took, sum(
                    i["scans_accepted"] or 0 for i in r.json()["items"] if i["key"]["day"] == YEAR_TO
                )

            _, before = scans_accepted()
            asyncio.run(
                execute(
                    url,
                    (
                        "INSERT INTO pass_scans (id, merchant_id, store_id, staff_id, resident_id, outcome, tier, created_at) "
                        "SELECT gen_random_uuid(), s.merchant_id, s.id, s.merchant_id, r.id, 'accepted', 'A', "
                        "(SELECT max(created_at) FROM pass_scans) + g * interval '1 millisecond' "
                        "FROM generate_series(1, 500) g JOIN bench_stores s ON s.i = g % 100 "
                        "JOIN bench_residents r ON r.i = g"
                    ),
                )
            )
            took, after = scans_accepted()
            print(
                f"after 500 new scans on the last day (that day rolled up again first): {took * 1000:.0f} ms; "
                f"the day's shown scans {before:,} -> {after:,}",
                flush=True,
            )
            took, _ = scans_accepted()
            print(f"and the next answer (nothing changed): {took * 1000:.0f} ms", flush=True)
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        own_redis.close()
        own_pg.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
