"""Detection: the scan log and the ledger read from a watermark, beside the scan path, never on it.

One run looks at what happened since the previous run (at most ``SIGNALS_LOOKBACK_S`` back),
from the start of the window that was still open then, so a window that filled up after a run
is looked at again; signals are recorded once per (kind, store, window start, resident)
(``record_signal``), so runs may overlap in time without duplicates. A lease on the watermark
row lets one run at a time do the work, whichever worker or command started it.

- ``scan_burst``: a store's scans in one minute, at least ``SIGNAL_BURST_MIN`` and more than
  ``SIGNAL_BURST_FACTOR`` times its baseline: its scans per minute in the same hour (±30 min) of the
  ``SIGNAL_BASELINE_DAYS`` days before (a new store's baseline is what it has had so far).
- ``refusal_spike``: in a window of ``SIGNAL_REFUSAL_WINDOW_S``, at least ``SIGNAL_REFUSAL_MIN_SCANS``
  scans at a store of which a share of at least ``SIGNAL_REFUSAL_SHARE`` were refused.
- ``impossible_travel``: two consecutive scans of one resident (accepted or refused: a copied pass
  is refused where it comes second) at stores whose regions' centres (``signals.regions``) lie at
  least ``SIGNAL_TRAVEL_MIN_KM`` apart, further than ``SIGNAL_TRAVEL_KMH`` allows in the time between.
- ``redemption_pattern``: one staff member redeeming for the same resident at a store more than
  ``SIGNAL_REPEAT_REDEMPTIONS`` times in a window of ``SIGNAL_REPEAT_WINDOW_S`` (reversed ones count).

The scan log is read through its (merchant, time) index, one merchant at a time inside one
statement, and the ledger through its (merchant, time) index the same way.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from merchants.models import Merchant, Store
from passes.models import Scan
from passes.subjects import Pseudonyms
from redemptions.models import Redemption
from server.settings import Settings
from server.sql import as_datetime, as_uuid, raw_connection
from signals.models import SignalWatermark
from signals.regions import distance_km
from signals.service import record_signal, regulator_ref

log = logging.getLogger(__name__)

SCANS = Scan._meta.db_table
STORES = Store._meta.db_table
MERCHANTS = Merchant._meta.db_table
REDEMPTIONS = Redemption._meta.db_table

WATERMARK = "detect"
LEASE_S = 300
TRAVEL_LOOKBACK = timedelta(hours=12)  # the scan before one in the range is looked for this far back
BASELINE_HALF_WINDOW = timedelta(minutes=30)


@dataclass
class Detected:
    """What one run looked at and found (new signals by kind)."""

    since: datetime
    until: datetime
    found: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, new: bool) -> None:
        self.found[kind] = self.found.get(kind, 0) + (1 if new else 0)


class _Reader:
    """Reads, each on a connection taken for that statement only (SQLite has one connection: the
    signals are written between two reads)."""

    def __init__(self) -> None:
        self.sqlite = connections.get("default").capabilities.dialect == "sqlite"

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with raw_connection() as db:
            return await db.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None


def _epoch_bucket(db: _Reader, column: str, width_s: int) -> str:
    if db.sqlite:
        return f"(CAST(strftime('%s', {column}) AS INTEGER) / {int(width_s)})"
    return f"CAST(floor(extract(epoch FROM {column}) / {int(width_s)}) AS bigint)"


def _at(bucket: int, width_s: int) -> datetime:
    return datetime.fromtimestamp(int(bucket) * width_s, UTC)


def _floor(moment: datetime, width_s: int) -> datetime:
    return _at(int(moment.timestamp()) // width_s, width_s)


# Through the (merchant_id, created_at) index: one index range per merchant.
_BY_MERCHANT = f"merchant_id IN (SELECT id FROM {MERCHANTS})"


async def _store_counts(db: _Reader, since: datetime, until: datetime, width_s: int) -> list[dict[str, Any]]:
    sql = f"""
SELECT store_id, merchant_id, {_epoch_bucket(db, "created_at", width_s)} AS bucket, count(*) AS scans,
       SUM(CASE WHEN outcome = 'refused' THEN 1 ELSE 0 END) AS refused
FROM {SCANS}
WHERE {_BY_MERCHANT} AND created_at >= $1 AND created_at < $2
GROUP BY store_id, merchant_id, bucket
"""
    return await db.fetch(sql, since, until)


async def _scan_bursts(
    db: _Reader, settings: Settings, since: datetime, until: datetime, out: Detected
) -> None:
    since = _floor(since, 60)
    days = settings.signal_baseline_days
    for row in await _store_counts(db, since, until, 60):
        scans = int(row["scans"])
        if scans < settings.signal_burst_min:
            continue
        start = _at(row["bucket"], 60)
        ranges: list[str] = []
        args: list[Any] = [as_uuid(row["merchant_id"]), as_uuid(row["store_id"])]
        for k in range(1, days + 1):
            centre = start - timedelta(days=k)
            args += [centre - BASELINE_HALF_WINDOW, centre + BASELINE_HALF_WINDOW]
            ranges.append(f"(created_at >= ${len(args) - 1} AND created_at < ${len(args)})")
        found = await db.fetchrow(
            f"SELECT count(*) AS n FROM {SCANS} WHERE merchant_id = $1 AND store_id = $2 AND ({' OR '.join(ranges)})",
            *args,
        )
        baseline = int(found["n"] if found else 0) / (days * 2 * BASELINE_HALF_WINDOW.total_seconds() / 60)
        if scans <= settings.signal_burst_factor * baseline:
            continue
        new = await record_signal(
            "scan_burst",
            row["merchant_id"],
            row["store_id"],
            window_start=start,
            window_end=start + timedelta(minutes=1),
            count=scans,
            detail={
                "scans_per_minute": scans,
                "baseline_per_minute": round(baseline, 3),
                "baseline_days": days,
                "factor": settings.signal_burst_factor,
            },
            now=until,
        )
        out.add("scan_burst", new)


async def _refusal_spikes(
    db: _Reader, settings: Settings, since: datetime, until: datetime, out: Detected
) -> None:
    width = settings.signal_refusal_window_s
    since = _floor(since, width)
    for row in await _store_counts(db, since, until, width):
        scans, refused = int(row["scans"]), int(row["refused"] or 0)
        if scans < settings.signal_refusal_min_scans or refused < settings.signal_refusal_share * scans:
            continue
        start = _at(row["bucket"], width)
        reasons = await db.fetch(
            f"""SELECT reason, count(*) AS n FROM {SCANS}
WHERE merchant_id = $1 AND created_at >= $2 AND created_at < $3 AND store_id = $4 AND outcome = 'refused'
GROUP BY reason""",
            as_uuid(row["merchant_id"]),
            start,
            start + timedelta(seconds=width),
            as_uuid(row["store_id"]),
        )
        new = await record_signal(
            "refusal_spike",
            row["merchant_id"],
            row["store_id"],
            window_start=start,
            window_end=start + timedelta(seconds=width),
            count=refused,
            detail={
                "scans": scans,
                "refused": refused,
                "share": round(refused / scans, 3),
                "threshold": settings.signal_refusal_share,
                "reasons": {str(r["reason"]): int(r["n"]) for r in reasons},
            },
            now=until,
        )
        out.add("refusal_spike", new)


async def _impossible_journeys(
    db: _Reader, settings: Settings, pseudonyms: Pseudonyms, since: datetime, until: datetime, out: Detected
) -> None:
    in_range = f"""
SELECT resident_id FROM {SCANS}
WHERE {_BY_MERCHANT} AND created_at >= $1 AND created_at < $2 AND resident_id IS NOT NULL"""
    # The scans of the range, and for each resident the one scan before it (through the resident's index).
    rows = await db.fetch(
        f"""
SELECT s.resident_id, s.merchant_id, s.store_id, s.outcome, s.created_at, st.region
FROM {SCANS} s JOIN {STORES} st ON st.id = s.store_id
WHERE s.{_BY_MERCHANT} AND s.created_at >= $1 AND s.created_at < $2 AND s.resident_id IS NOT NULL
UNION ALL
SELECT s.resident_id, s.merchant_id, s.store_id, s.outcome, s.created_at, st.region
FROM {SCANS} s JOIN {STORES} st ON st.id = s.store_id
WHERE s.id IN (
  SELECT (SELECT b.id FROM {SCANS} b
          WHERE b.resident_id = r.resident_id AND b.created_at < $1 AND b.created_at >= $3
          ORDER BY b.created_at DESC LIMIT 1)
  FROM (SELECT DISTINCT resident_id FROM ({in_range}) x) r)
""",
        since,
        until,
        since - TRAVEL_LOOKBACK,
    )
    rows.sort(key=lambda r: (str(r["resident_id"]), as_datetime(r["created_at"])))
    by_resident: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_resident[str(r["resident_id"])].append(r)
    for resident_id, scans in by_resident.items():
        for before, after in zip(scans, scans[1:], strict=False):
            at_before, at_after = as_datetime(before["created_at"]), as_datetime(after["created_at"])
            if at_after < since or str(before["store_id"]) == str(after["store_id"]):
                continue
            km = distance_km(str(before["region"]), str(after["region"]))
            if km is None or km < settings.signal_travel_min_km:
                continue
            hours = max((at_after - at_before).total_seconds(), 1.0) / 3600
            if km <= settings.signal_travel_kmh * hours:
                continue
            new = await record_signal(
                "impossible_travel",
                after["merchant_id"],
                after["store_id"],
                resident_ref=regulator_ref(pseudonyms, resident_id),
                window_start=at_before,
                window_end=at_after,
                count=2,
                detail={
                    "from_store_id": str(before["store_id"]),
                    "from_merchant_id": str(before["merchant_id"]),
                    "from_region": before["region"],
                    "to_region": after["region"],
                    "distance_km": round(km, 1),
                    "minutes": round(hours * 60, 1),
                    "speed_kmh": round(km / hours, 1),
                    "limit_kmh": settings.signal_travel_kmh,
                    "outcomes": [before["outcome"], after["outcome"]],
                },
                now=until,
            )
            out.add("impossible_travel", new)


async def _redemption_patterns(
    db: _Reader, settings: Settings, pseudonyms: Pseudonyms, since: datetime, until: datetime, out: Detected
) -> None:
    width = settings.signal_repeat_window_s
    since = _floor(since, width)
    rows = await db.fetch(
        f"""
SELECT staff_id, resident_id, store_id, merchant_id, {_epoch_bucket(db, "created_at", width)} AS bucket,
       count(*) AS n, count(DISTINCT offer_id) AS offers,
       SUM(CASE WHEN status = 'reversed' THEN 1 ELSE 0 END) AS reversed
FROM {REDEMPTIONS}
WHERE {_BY_MERCHANT} AND created_at >= $1 AND created_at < $2 AND staff_id IS NOT NULL AND store_id IS NOT NULL
GROUP BY staff_id, resident_id, store_id, merchant_id, bucket
HAVING count(*) > $3
""",
        since,
        until,
        settings.signal_repeat_redemptions,
    )
    for row in rows:
        start = _at(row["bucket"], width)
        new = await record_signal(
            "redemption_pattern",
            row["merchant_id"],
            row["store_id"],
            resident_ref=regulator_ref(pseudonyms, str(row["resident_id"])),
            window_start=start,
            window_end=start + timedelta(seconds=width),
            count=int(row["n"]),
            detail={
                "staff_id": str(row["staff_id"]),
                "redemptions": int(row["n"]),
                "offers": int(row["offers"]),
                "reversed": int(row["reversed"] or 0),
                "limit": settings.signal_repeat_redemptions,
            },
            now=until,
        )
        out.add("redemption_pattern", new)


# --- the watermark and its lease -------------------------------------------------------------------------


async def _take_lease(now: datetime) -> SignalWatermark | None:
    if not await SignalWatermark.filter(name=WATERMARK).exists():
        try:
            await SignalWatermark.create(name=WATERMARK)
        except IntegrityError:
            pass
    taken = await SignalWatermark.filter(
        Q(running_until__isnull=True) | Q(running_until__lt=now), name=WATERMARK
    ).update(running_until=now + timedelta(seconds=LEASE_S))
    if not taken:
        return None
    return await SignalWatermark.get(name=WATERMARK)


async def detect(settings: Settings, *, now: datetime) -> Detected | None:
    """Look at the scan log and the ledger since the last run, up to ``now``; None when a run is under way elsewhere."""
    mark = await _take_lease(now)
    if mark is None:
        return None
    done = False
    try:
        oldest = now - timedelta(seconds=settings.signals_lookback_s)
        since = max(mark.done_until, oldest) if mark.done_until is not None else oldest
        since = min(since, now)
        out = Detected(since=since, until=now)
        pseudonyms = Pseudonyms(settings.data_hash_key)
        db = _Reader()
        await _scan_bursts(db, settings, since, now, out)
        await _refusal_spikes(db, settings, since, now, out)
        await _impossible_journeys(db, settings, pseudonyms, since, now, out)
        await _redemption_patterns(db, settings, pseudonyms, since, now, out)
        done = True
    finally:
        changes: dict[str, Any] = {"running_until": None}
        if done:
            changes["done_until"] = max(now, mark.done_until) if mark.done_until is not None else now
        await SignalWatermark.filter(name=WATERMARK).update(**changes)
    if any(out.found.values()):
        log.info("signals found: %s", {k: v for k, v in out.found.items() if v})
    return out


_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def detect_now(settings: Settings, *, now: datetime) -> Detected | None:
    """``detect`` unless this process is already running it (then wait for that run rather than start another)."""
    running = _running.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    if running.locked():
        async with running:
            return None
    async with running:
        return await detect(settings, now=now)


async def detect_every(settings: Settings) -> None:
    """The background job of ``serve``: ``detect`` every ``SIGNALS_INTERVAL_S`` until cancelled."""
    while True:
        await asyncio.sleep(settings.signals_interval_s)
        try:
            await detect_now(settings, now=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - detection must not kill the worker; the next run looks again
            log.warning("signal detection failed", exc_info=True)
