"""Figures for the credit engine on PostgreSQL: ``recompute-scores`` and ``import-records``.

Creates its own database next to ``DATABASE_URL`` (and drops it at the end unless ``--keep``),
applies the migrations, generates residents linked to subjects with their credit records and
volunteer hours by COPY, then times the code the CLI runs, each timed phase in a child process
so its peak memory (max RSS) is its own:

- ``recompute-scores`` at a small and a large scale (memory must not grow with residents),
  twice each: the first run writes every score and history row, the second finds nothing to change;
- ``import-records`` on generated JSON Lines files, and again on the same file (all unchanged).

Run from the repository root::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_recompute.py --subjects 100000 --records 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from residents.identity import with_check_digit  # noqa: E402
from server.settings import load_settings  # noqa: E402

CATEGORIES = [  # (category, weight): mostly penalties, a few bonuses, black lists are rare
    ("admin_penalty", 40),
    ("arrears", 15),
    ("court_judgment", 8),
    ("contract_breach", 10),
    ("commitment_breach", 5),
    ("commendation", 14),
    ("red_list", 7),
    ("black_list", 1),
]
SEVERITIES = ["minor", "general", "serious"]
TODAY = date.today()


def pg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def id_number(n: int) -> str:
    """A distinct valid ID number per n (Kunming, born 1950–2005)."""
    born = date(1950, 1, 1) + timedelta(days=n // 900 % 20000)
    return with_check_digit(f"530102{born:%Y%m%d}{n % 900 + 100:03d}")


def child_env(database_url: str, var_dir: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "XINYI_ENV": "dev", "XINYI_VAR_DIR": str(var_dir)}


def settings_for(database_url: str, var_dir: Path):
    return load_settings(child_env(database_url, var_dir), dotenv=None)


# --- data generation ------------------------------------------------------------------------


async def truncate(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_url(url))
    try:
        await conn.execute(
            "TRUNCATE credit_score_history, credit_scores, volunteer_records, credit_records, "
            "credit_subjects, credit_rulesets, residents RESTART IDENTITY CASCADE"
        )
    finally:
        await conn.close()


async def generate(
    url: str, var_dir: Path, *, subjects: int, records: int, volunteer: int, seed: int = 7
) -> float:
    """Residents bound to subjects, records and volunteer hours, by COPY in chunks. Returns seconds."""
    import asyncpg

    from server.crypto import KeyedHasher

    started = time.monotonic()
    rng = random.Random(seed)
    hasher = KeyedHasher(settings_for(url, var_dir).data_hash_key)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(pg_url(url))
    try:
        resident_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(subjects)]
        hashes = [hasher.id_number(id_number(n)) for n in range(subjects)]
        await conn.copy_records_to_table(
            "residents",
            columns=["id", "openid", "created_at", "id_number_hash", "identity_bound_at"],
            records=((resident_ids[n], f"bench-{n}", now, hashes[n], now) for n in range(subjects)),
        )
        await conn.copy_records_to_table(
            "credit_subjects",
            columns=["id", "subject_type", "id_hash", "resident_id", "created_at"],
            records=((n + 1, "natural_person", hashes[n], resident_ids[n], now) for n in range(subjects)),
        )
        names, weights = zip(*CATEGORIES, strict=True)

        def record_rows(start: int, stop: int):
            for n in range(start, stop):
                category = rng.choices(names, weights)[0]
                decided = TODAY - timedelta(days=rng.randrange(5 * 365))
                severity = (
                    rng.choice(SEVERITIES)
                    if category not in ("commendation", "red_list", "black_list")
                    else None
                )
                yield (
                    n + 1,
                    rng.randrange(subjects) + 1,
                    "bench",
                    f"r{n}",
                    category,
                    severity,
                    f"记录{n}",
                    decided,
                    None,
                    "active",
                    hashlib.sha256(str(n).encode()).hexdigest(),
                    now,
                    now,
                )

        columns = [
            "id",
            "subject_id",
            "source",
            "source_record_id",
            "category",
            "severity",
            "title",
            "decided_at",
            "publicity_until",
            "status",
            "content_hash",
            "created_at",
            "updated_at",
        ]
        for start in range(0, records, 200_000):
            await conn.copy_records_to_table(
                "credit_records", columns=columns, records=record_rows(start, min(records, start + 200_000))
            )
        partner = uuid.uuid4()

        def volunteer_rows():
            for n in range(volunteer):
                started_at = now - timedelta(days=rng.randrange(3 * 365), hours=rng.randrange(24))
                hours = Decimal(rng.randrange(1, 17)) / 2
                yield (
                    n + 1,
                    rng.randrange(subjects) + 1,
                    partner,
                    f"v{n}",
                    "志愿服务",
                    "志愿者协会",
                    started_at,
                    started_at + timedelta(hours=float(hours)),
                    hours,
                    "active",
                    now,
                    now,
                )

        await conn.copy_records_to_table(
            "volunteer_records",
            records=volunteer_rows(),
            columns=[
                "id",
                "subject_id",
                "partner_id",
                "external_id",
                "activity",
                "organization",
                "started_at",
                "ended_at",
                "hours",
                "status",
                "created_at",
                "updated_at",
            ],
        )
        for table in ("credit_subjects", "credit_records", "volunteer_records"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.monotonic() - started


def write_jsonl(path: Path, lines: int, *, people: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    names, weights = zip(*CATEGORIES, strict=True)
    with path.open("w", encoding="utf-8") as out:
        for n in range(lines):
            category = rng.choices(names, weights)[0]
            item: dict[str, Any] = {
                "source": "bench-import",
                "source_record_id": f"i{n}",
                "subject_type": "natural_person",
                "id_number": id_number(rng.randrange(people)),
                "name": "张三",
                "category": category,
                "title": f"记录{n}",
                "decided_at": (TODAY - timedelta(days=rng.randrange(5 * 365))).isoformat(),
            }
            if category not in ("commendation", "red_list", "black_list"):
                item["severity"] = rng.choice(SEVERITIES)
            out.write(json.dumps(item, ensure_ascii=False) + "\n")


# --- timed phases (child processes) -------------------------------------------------------


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> None:
    """Linux: make the peak RSS (VmHWM) start again from the current RSS (``echo 5 > clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def phase(args: argparse.Namespace) -> None:
    from credit.cli import import_file, recompute_everyone
    from server.crypto import FieldCipher, KeyedHasher
    from xinyi.cli import with_db

    settings = load_settings(dotenv=None)
    out = io.StringIO()
    memory: dict[str, float | None] = {}

    async def work() -> int:
        # Measure the work itself: the interpreter, the libraries and the connections are loaded by now.
        memory["base_mb"] = _status_mb("VmRSS")
        _reset_peak()
        if args.phase == "recompute":
            return await recompute_everyone(batch_size=args.batch_size, out=out, progress=io.StringIO())
        return await import_file(
            Path(args.file),
            hasher=KeyedHasher(settings.data_hash_key),
            cipher=FieldCipher(settings.data_encryption_key),
            batch_size=args.batch_size,
            out=out,
            progress=io.StringIO(),
        )

    started = time.monotonic()
    with_db(settings, work)
    seconds = time.monotonic() - started
    peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "maxrss_mb": round(peak, 1),
                "base_mb": round(memory.get("base_mb") or 0, 1),
                "summary": out.getvalue().strip().splitlines()[-1],
            }
        )
    )


def timed(kind: str, url: str, var_dir: Path, batch_size: int, file: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", kind, "--batch-size", str(batch_size)]
    if file:
        cmd += ["--file", str(file)]
    done = subprocess.run(cmd, env=child_env(url, var_dir), capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def migrate(url: str, var_dir: Path) -> None:
    from xinyi.database import run_migrations

    asyncio.run(run_migrations(settings_for(url, var_dir)))


def report(label: str, figures: dict[str, Any], extra: str = "") -> None:
    growth = figures["maxrss_mb"] - figures["base_mb"]
    print(
        f"  {label:<42} {figures['seconds']:>6.1f} s  peak RSS {figures['maxrss_mb']:>5.0f} MB "
        f"(+{growth:.0f} MB over the {figures['base_mb']:.0f} MB at start)  {extra}[{figures['summary']}]",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--volunteer", type=int, default=100_000, help="volunteer records at the large scale")
    parser.add_argument(
        "--small", type=float, default=0.1, help="the small scale as a fraction of the large one"
    )
    parser.add_argument("--import-lines", default="100000,1000000", help="comma-separated; empty to skip")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--phase", choices=["recompute", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return phase(args)

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "set DATABASE_URL to a PostgreSQL server (the bench creates and drops its own database there)"
        )
    import asyncpg

    name = f"xinyi_bench_{os.getpid()}"
    url = with_database(base, name)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_url(base))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    var_dir = Path(tempfile.mkdtemp(prefix="xinyi-bench-"))
    print(f"database {name}; {os.cpu_count()} CPUs; batch size {args.batch_size}", flush=True)
    try:
        migrate(url, var_dir)
        small = (
            int(args.subjects * args.small),
            int(args.records * args.small),
            int(args.volunteer * args.small),
        )
        for subjects, records, volunteer in (small, (args.subjects, args.records, args.volunteer)):
            asyncio.run(truncate(url))
            took = asyncio.run(
                generate(url, var_dir, subjects=subjects, records=records, volunteer=volunteer)
            )
            print(
                f"recompute-scores, {subjects:,} residents, {records:,} records, {volunteer:,} volunteer records "
                f"(generated in {took:.0f} s)",
                flush=True,
            )
            first = timed("recompute", url, var_dir, args.batch_size)
            report(
                "first run (writes every score + history)", first, f"{subjects / first['seconds']:,.0f}/s  "
            )
            second = timed("recompute", url, var_dir, args.batch_size)
            report("second run (nothing changed)", second, f"{subjects / second['seconds']:,.0f}/s  ")
        for lines in [int(x) for x in args.import_lines.split(",") if x.strip()]:
            asyncio.run(truncate(url))
            people = max(lines // 10, 1)
            # One in ten of the people has signed up: their scores are recomputed during the import.
            asyncio.run(generate(url, var_dir, subjects=people // 10, records=0, volunteer=0))
            path = var_dir / f"records-{lines}.jsonl"
            write_jsonl(path, lines, people=people)
            print(
                f"import-records, {lines:,} lines ({path.stat().st_size / 1e6:.0f} MB), {people:,} people, "
                f"{people // 10:,} of them residents",
                flush=True,
            )
            first = timed("import", url, var_dir, args.batch_size, path)
            report("first import", first, f"{lines / first['seconds']:,.0f} lines/s  ")
            again = timed("import", url, var_dir, args.batch_size, path)
            report("same file again (all unchanged)", again, f"{lines / again['seconds']:,.0f} lines/s  ")
            path.unlink()
    finally:
        if not args.keep:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")


if __name__ == "__main__":
    main()
