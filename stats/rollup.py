"""The daily rollup of scans and the ledger (``stats_daily``, ``stats_daily_regions``), kept by a job.

Queries never scan the ledger: they read these rows. A day's rows are recomputed whole, from the
scan log (``pass_scans``) and the ledger (``redemptions``), deleted and inserted in one
transaction, so running the rollup twice gives the same rows. Which days to recompute is found
from watermarks (``stats_rollup_marks``): a day is dirty when a scan or a redemption of that day
was written, or a redemption of that day reversed (its ``redemption.reversed`` audit row), since
the rollup last looked. ``refresh`` is cheap when nothing changed (three small index reads) and
is what the statistics endpoint calls before it answers, so its figures are those of the ledger
at that moment; the same runs every ``STATS_ROLLUP_EVERY_S`` inside ``xinyi serve`` and as
``xinyi rollup-stats``.

Concurrency: the recomputation of days takes a transaction-scoped PostgreSQL advisory lock
before it reads the sources, so two rollups write a day in the order in which they read it; the
last writer has read the newest data. On SQLite (one worker) transactions are serialized anyway.

PostgreSQL reads the recent rows of each source through the merchants (or offers) and the
sources' own ``(merchant_id, created_at)`` / ``(offer_id, business_day)`` indexes (a LATERAL
join per merchant): the scan log has no index on ``created_at`` alone, and the rollup does not
ask the hottest insert of the product to maintain one more.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from pyroaring import BitMap
from tortoise import connections
from tortoise.transactions import in_transaction

from credit.scoring import LOCAL_TZ
from server.sql import RawConnection, as_date, as_datetime, as_uuid, raw_connection

log = logging.getLogger(__name__)

# A transaction in flight commits its rows a little after they were stamped: rows stamped up to
# this long before the watermark are looked at again (and counted), so none is missed.
OVERLAP = timedelta(minutes=5)
ADVISORY_LOCK = 0x57A7_5011  # pg_advisory_xact_lock key of the rollup
CHUNK_DAYS = 31  # days recomputed in one transaction
LATERAL_MAX_DAYS = 7  # up to this many days, PostgreSQL reads the sources through their indexes
SOURCES = ("scans", "redemptions", "reversals")
COMPLETED = "completed"

CELL_COLUMNS = (
    "day",
    "store_id",
    "offer_id",
    "tier",
    "merchant_id",
    "region",
    "scenario",
    "scans_accepted",
    "scans_refused",
    "redemptions",
    "discount_fen",
    "deposit_waived_fen",
    "resident_count",
    "residents",
)
REGION_COLUMNS = (
    "day",
    "level",
    "region",
    "scans_accepted",
    "scans_refused",
    "redemptions",
    "discount_fen",
    "deposit_waived_fen",
    "resident_count",
    "residents",
)


@dataclass
class Figures:
    """The counts of a cell and its set of residents (resident numbers)."""

    scans_accepted: int = 0
    scans_refused: int = 0
    redemptions: int = 0
    discount_fen: int = 0
    deposit_waived_fen: int = 0
    residents: BitMap = field(default_factory=BitMap)

    def add(self, other: Figures) -> None:
        self.scans_accepted += other.scans_accepted
        self.scans_refused += other.scans_refused
        self.redemptions += other.redemptions
        self.discount_fen += other.discount_fen
        self.deposit_waived_fen += other.deposit_waived_fen
        self.residents |= other.residents


@dataclass(frozen=True)
class Mark:
    """A source's watermark: its newest timestamp seen, and how many rows lay in the overlap window then."""

    watermark: datetime | None
    seen: int


# --- days and instants ----------------------------------------------------------------------


def day_start(day: date) -> datetime:
    """The China Standard Time midnight that starts ``day``, in UTC."""
    return datetime.combine(day, time(), LOCAL_TZ).astimezone(UTC)


def business_day(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def runs(days: Iterable[date], *, longest: int = CHUNK_DAYS) -> list[tuple[date, date]]:
    """Consecutive days as ``(first, last)`` runs of at most ``longest`` days."""
    found: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if found and found[-1][1] + timedelta(days=1) == day and (day - found[-1][0]).days < longest:
            found[-1] = (found[-1][0], day)
        else:
            found.append((day, day))
    return found


def _day_param(conn: RawConnection, day: date) -> Any:
    return day.isoformat() if conn.sqlite else day


def _numbers(value: Any) -> BitMap:
    """The residents of a row: PostgreSQL's array, SQLite's comma list, or nothing."""
    if value is None:
        return BitMap()
    if isinstance(value, str):
        return BitMap([int(v) for v in value.split(",") if v])
    return BitMap(value)


# --- the sources' recent rows (watermarks) --------------------------------------------------


def _recent(conn: RawConnection, source: str, *, until: bool) -> str:
    """Rows ``(ts, day)`` of ``source`` stamped after $1 (and up to $2 with ``until``)."""
    upper = " AND {ts} <= $2" if until else ""
    if source == "scans":
        ts = "s0.created_at"
        day = "date(s0.created_at, '+8 hours')" if conn.sqlite else _pg_day("s0.created_at")
        inner = f"SELECT {ts} AS ts, {day} AS day FROM pass_scans s0 WHERE {{m}} {ts} > $1{upper}"
        by = "s0.merchant_id"
    elif source == "redemptions":
        ts = "r0.created_at"
        inner = f"SELECT {ts} AS ts, r0.business_day AS day FROM redemptions r0 WHERE {{m}} {ts} > $1{upper}"
        by = "r0.merchant_id"
    else:
        ts = "a0.at"
        inner = (
            f"SELECT {ts} AS ts, r0.business_day AS day FROM audit_entries a0 "
            "JOIN redemptions r0 ON r0.id = a0.target_id "
            f"WHERE {{m}} a0.action = 'redemption.reversed' AND {ts} > $1{upper}"
        )
        by = "a0.merchant_id"
    inner = inner.replace("{ts}", ts)
    if conn.sqlite:
        return f"({inner.format(m='')}) x"
    return f"merchants m CROSS JOIN LATERAL ({inner.format(m=f'{by} = m.id AND')}) x"


def _pg_day(column: str) -> str:
    return f"(({column} AT TIME ZONE 'UTC') + interval '8 hours')::date"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _probe(conn: RawConnection, source: str, since: datetime) -> tuple[int, datetime | None]:
    """How many rows of ``source`` are stamped after ``since``, and the newest stamp."""
    row = await conn.fetchrow(
        f"SELECT count(*) AS n, max(x.ts) AS newest FROM {_recent(conn, source, until=False)}", since
    )
    assert row is not None
    return int(row["n"]), as_datetime(row["newest"])


async def _newest(conn: RawConnection, source: str) -> datetime | None:
    """The newest stamp of ``source`` (each merchant's through its index on PostgreSQL)."""
    if conn.sqlite:
        _, newest = await _probe(conn, source, _EPOCH)
        return newest
    inner = {
        "scans": "SELECT max(s0.created_at) AS ts FROM pass_scans s0 WHERE s0.merchant_id = m.id",
        "redemptions": "SELECT max(r0.created_at) AS ts FROM redemptions r0 WHERE r0.merchant_id = m.id",
        "reversals": "SELECT max(a0.at) AS ts FROM audit_entries a0 "
        "WHERE a0.merchant_id = m.id AND a0.action = 'redemption.reversed'",
    }[source]
    row = await conn.fetchrow(f"SELECT max(x.ts) AS newest FROM merchants m CROSS JOIN LATERAL ({inner}) x")
    return as_datetime(row["newest"]) if row else None


async def _mark_at(conn: RawConnection, source: str, newest: datetime | None) -> Mark:
    if newest is None:
        return Mark(None, 0)
    row = await conn.fetchrow(
        f"SELECT count(*) AS n FROM {_recent(conn, source, until=True)}", newest - OVERLAP, newest
    )
    return Mark(newest, int(row["n"]) if row else 0)


async def _dirty_days(conn: RawConnection, source: str, since: datetime | None) -> set[date]:
    if since is None and not conn.sqlite:  # the first rollup: every day of the source, one scan of it
        sql = {
            "scans": f"SELECT DISTINCT {_pg_day('created_at')} AS day FROM pass_scans",
            "redemptions": "SELECT DISTINCT business_day AS day FROM redemptions",
            "reversals": "SELECT DISTINCT business_day AS day FROM redemptions WHERE status <> 'completed'",
        }[source]
        rows = await conn.fetch(sql)
    else:
        rows = await conn.fetch(
            f"SELECT DISTINCT x.day AS day FROM {_recent(conn, source, until=False)}", since or _EPOCH
        )
    return {as_date(r["day"]) for r in rows if r["day"] is not None}


async def _marks(conn: RawConnection) -> dict[str, Mark]:
    rows = await conn.fetch("SELECT source, watermark, seen FROM stats_rollup_marks")
    found = {r["source"]: Mark(as_datetime(r["watermark"]), int(r["seen"])) for r in rows}
    return {source: found.get(source, Mark(None, 0)) for source in SOURCES}


async def _save_marks(conn: RawConnection, marks: dict[str, Mark]) -> None:
    for source, mark in marks.items():
        await conn.execute(
            "INSERT INTO stats_rollup_marks (source, watermark, seen) VALUES ($1, $2, $3) "
            "ON CONFLICT (source) DO UPDATE SET watermark = excluded.watermark, seen = excluded.seen",
            source,
            mark.watermark,
            mark.seen,
        )


async def stale_days(conn: RawConnection) -> tuple[set[date], dict[str, Mark]] | None:
    """The days whose rows are out of date and the marks to keep once they are recomputed; None: all up to date."""
    marks = await _marks(conn)
    days: set[date] = set()
    fresh: dict[str, Mark] = {}
    for source, mark in marks.items():
        since = mark.watermark - OVERLAP if mark.watermark is not None else _EPOCH
        if mark.watermark is None and not conn.sqlite:
            newest = await _newest(conn, source)
            if newest is None:
                continue  # nothing in the source yet
        else:
            count, newest = await _probe(conn, source, since)
            if count == mark.seen and newest == mark.watermark:
                continue
        days |= await _dirty_days(conn, source, since if mark.watermark is not None else None)
        fresh[source] = await _mark_at(conn, source, newest)
    if not fresh:
        return None
    return days, fresh


# --- recomputing days -----------------------------------------------------------------------


def _scan_source(conn: RawConnection, days: int) -> tuple[str, str]:
    cols = "s0.created_at, s0.store_id, s0.merchant_id, s0.tier, s0.outcome, s0.resident_id"
    where = "s.created_at >= $1 AND s.created_at < $2"
    if conn.sqlite or days > LATERAL_MAX_DAYS:
        return "pass_scans s", f"WHERE {where}"
    return (
        f"merchants m0 CROSS JOIN LATERAL (SELECT {cols} FROM pass_scans s0 "
        "WHERE s0.merchant_id = m0.id AND s0.created_at >= $1 AND s0.created_at < $2) s",
        "",
    )


def _redemption_source(conn: RawConnection, days: int, first: int = 1) -> tuple[str, str]:
    a, b = f"${first}", f"${first + 1}"
    if conn.sqlite or days > LATERAL_MAX_DAYS:
        return (
            "redemptions r LEFT JOIN offers o ON o.id = r.offer_id",
            f"WHERE r.business_day >= {a} AND r.business_day <= {b}",
        )
    cols = (
        "r0.business_day, r0.store_id, r0.offer_id, r0.tier, r0.merchant_id, r0.status, "
        "r0.discount_fen, r0.deposit_waived_fen, r0.resident_id"
    )
    return (
        f"offers o CROSS JOIN LATERAL (SELECT {cols} FROM redemptions r0 "
        f"WHERE r0.offer_id = o.id AND r0.business_day >= {a} AND r0.business_day <= {b}) r",
        "",
    )


ANALYZE_AFTER = 10_000  # numbers given in one go after which the planner is told the table grew


async def _number_residents(dialect: str, first: date, last: date) -> None:
    """Give every resident of these days a resident number, in one statement (``residents.numbers``).

    On PostgreSQL the statement runs without nested loops: when ``resident_numbers`` was small at
    its last ANALYZE the planner would check each candidate against it with a sequential scan of
    the very table being filled, which grows with every row (quadratic: found at 500,000
    residents). Afterwards a large batch is followed by an ANALYZE so that the rollup's joins
    with the table are planned for its real size.
    """
    n_days = (last - first).days + 1
    async with in_transaction() as tx, tx.acquire_connection() as raw:
        conn = RawConnection(raw, dialect)
        scans, scans_where = _scan_source(conn, n_days)
        redemptions, red_where = _redemption_source(conn, n_days, first=3)
        insert = (
            "INSERT INTO resident_numbers (resident_id) "
            "SELECT u.resident_id FROM ("
            f"SELECT s.resident_id FROM {scans} {scans_where or 'WHERE true'} AND s.resident_id IS NOT NULL "
            f"UNION SELECT r.resident_id FROM {redemptions} {red_where or 'WHERE true'}"
            ") u WHERE NOT EXISTS (SELECT 1 FROM resident_numbers n WHERE n.resident_id = u.resident_id) "
            "AND EXISTS (SELECT 1 FROM residents x WHERE x.id = u.resident_id) "
            "ON CONFLICT (resident_id) DO NOTHING"
        )
        args = (
            day_start(first),
            day_start(last + timedelta(days=1)),
            _day_param(conn, first),
            _day_param(conn, last),
        )
        if conn.sqlite:
            await conn.execute(insert, *args)
            return
        await conn.execute("SET LOCAL enable_nestloop = off")
        row = await conn.fetchrow(
            f"WITH added AS ({insert} RETURNING 1) SELECT count(*) AS n FROM added", *args
        )
    if row is not None and int(row["n"]) >= ANALYZE_AFTER:
        async with raw_connection() as conn:
            await conn.execute("ANALYZE resident_numbers")


CellKey = tuple[date, UUID | None, UUID | None, str | None, UUID, str, str | None]


async def _cells(conn: RawConnection, first: date, last: date) -> dict[CellKey, Figures]:
    """The rows of these days: (day, store, offer, tier, merchant, region, scenario) → figures."""
    n_days = (last - first).days + 1
    if conn.sqlite:
        day = "date(s.created_at, '+8 hours')"
        scan_numbers = "group_concat(DISTINCT n.number)"
        red_numbers = f"group_concat(DISTINCT CASE WHEN r.status = '{COMPLETED}' THEN n.number END)"
    else:
        day = _pg_day("s.created_at")
        scan_numbers = "array_agg(DISTINCT n.number) FILTER (WHERE n.number IS NOT NULL)"
        red_numbers = (
            f"array_agg(DISTINCT n.number) FILTER (WHERE r.status = '{COMPLETED}' AND n.number IS NOT NULL)"
        )
    source, where = _scan_source(conn, n_days)
    scans = await conn.fetch(
        f"SELECT {day} AS day, s.store_id, s.merchant_id, s.tier, "
        "COALESCE(st.region, mm.region, '000000') AS region, "
        "SUM(CASE WHEN s.outcome = 'accepted' THEN 1 ELSE 0 END) AS accepted, "
        "SUM(CASE WHEN s.outcome = 'accepted' THEN 0 ELSE 1 END) AS refused, "
        f"{scan_numbers} AS numbers "
        f"FROM {source} "
        "LEFT JOIN resident_numbers n ON n.resident_id = s.resident_id "
        "LEFT JOIN stores st ON st.id = s.store_id "
        "LEFT JOIN merchants mm ON mm.id = s.merchant_id "
        f"{where} GROUP BY 1, 2, 3, 4, 5",
        day_start(first),
        day_start(last + timedelta(days=1)),
    )
    done = f"CASE WHEN r.status = '{COMPLETED}' THEN"
    source, where = _redemption_source(conn, n_days)
    redemptions = await conn.fetch(
        "SELECT r.business_day AS day, r.store_id, r.offer_id, r.tier, r.merchant_id, "
        "COALESCE(st.region, mm.region, '000000') AS region, o.scenario AS scenario, "
        f"SUM({done} 1 ELSE 0 END) AS redemptions, "
        f"SUM({done} r.discount_fen ELSE 0 END) AS discount, "
        f"SUM({done} r.deposit_waived_fen ELSE 0 END) AS waived, "
        f"{red_numbers} AS numbers "
        f"FROM {source} "
        "LEFT JOIN resident_numbers n ON n.resident_id = r.resident_id "
        "LEFT JOIN stores st ON st.id = r.store_id "
        "LEFT JOIN merchants mm ON mm.id = r.merchant_id "
        f"{where} GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING SUM({done} 1 ELSE 0 END) > 0",
        _day_param(conn, first),
        _day_param(conn, last),
    )
    cells: dict[CellKey, Figures] = {}
    for r in scans:
        key: CellKey = (
            as_date(r["day"]),
            as_uuid(r["store_id"]),
            None,
            r["tier"],
            as_uuid(r["merchant_id"]),
            r["region"],
            None,
        )
        cells.setdefault(key, Figures()).add(
            Figures(
                scans_accepted=int(r["accepted"]),
                scans_refused=int(r["refused"]),
                residents=_numbers(r["numbers"]),
            )
        )
    for r in redemptions:
        key = (
            as_date(r["day"]),
            as_uuid(r["store_id"]),
            as_uuid(r["offer_id"]),
            r["tier"],
            as_uuid(r["merchant_id"]),
            r["region"],
            r["scenario"],
        )
        cells.setdefault(key, Figures()).add(
            Figures(
                redemptions=int(r["redemptions"]),
                discount_fen=int(r["discount"] or 0),
                deposit_waived_fen=int(r["waived"] or 0),
                residents=_numbers(r["numbers"]),
            )
        )
    return cells


REGION_LEVELS = (6, 4, 2)  # county, prefecture, province: the digits of the code kept


def _by_region(cells: dict[CellKey, Figures]) -> dict[tuple[date, int, str], Figures]:
    """The cells of each day summed per county (the store's code), prefecture and province."""
    regions: dict[tuple[date, int, str], Figures] = defaultdict(Figures)
    for (day, _store, _offer, _tier, _merchant, region, _scenario), figures in cells.items():
        for level in REGION_LEVELS:
            regions[(day, level, region[:level].ljust(6, "0"))].add(figures)
    return regions


def _figures_row(figures: Figures) -> list[Any]:
    figures.residents.run_optimize()
    return [
        figures.scans_accepted,
        figures.scans_refused,
        figures.redemptions,
        figures.discount_fen,
        figures.deposit_waived_fen,
        len(figures.residents),
        figures.residents.serialize(),
    ]


async def _insert(
    conn: RawConnection, raw: Any, table: str, columns: Sequence[str], rows: list[list[Any]]
) -> None:
    if not rows:
        return
    if not conn.sqlite:  # COPY: the first rollup of a year writes millions of rows
        await raw.copy_records_to_table(table, records=rows, columns=list(columns))
        return
    per = max(1, 30000 // len(columns))
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        values = ", ".join(
            "(" + ", ".join(f"${i * len(columns) + j + 1}" for j in range(len(columns))) + ")"
            for i in range(len(chunk))
        )
        args = [_sqlite_value(v) for row in chunk for v in row]
        await conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", *args)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


async def recompute(first: date, last: date) -> int:
    """Recompute the rows of the days ``first``..``last`` in one transaction; the number of rows written."""
    dialect = connections.get("default").capabilities.dialect
    await _number_residents(dialect, first, last)
    async with in_transaction() as tx, tx.acquire_connection() as raw:
        conn = RawConnection(raw, dialect)
        if not conn.sqlite:
            await conn.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
        cells = await _cells(conn, first, last)
        regions = _by_region(cells)
        for table in ("stats_daily", "stats_daily_regions"):
            await conn.execute(
                f"DELETE FROM {table} WHERE day >= $1 AND day <= $2",
                _day_param(conn, first),
                _day_param(conn, last),
            )
        await _insert(
            conn,
            raw,
            "stats_daily",
            CELL_COLUMNS,
            [[*key, *_figures_row(figures)] for key, figures in cells.items()],
        )
        await _insert(
            conn,
            raw,
            "stats_daily_regions",
            REGION_COLUMNS,
            [
                [day, level, region, *_figures_row(figures)]
                for (day, level, region), figures in regions.items()
            ],
        )
    return len(cells) + len(regions)


async def recompute_days(days: Iterable[date]) -> int:
    """Recompute these days, a run of consecutive days (at most ``CHUNK_DAYS``) per transaction."""
    written = 0
    for first, last in runs(days):
        written += await recompute(first, last)
    return written


async def refresh() -> set[date]:
    """Bring the rollup up to date with the scan log and the ledger: the days recomputed (none: it was)."""
    async with raw_connection() as conn:
        stale = await stale_days(conn)
    if stale is None:
        return set()
    days, marks = stale
    await recompute_days(days)
    async with raw_connection() as conn:
        await _save_marks(conn, marks)
    if days:
        log.info("statistics: %d day(s) rolled up", len(days))
    return days
