"""Signals: record one (idempotently), list them for regulators, and the pseudonym they carry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from passes.subjects import Pseudonyms
from server.http import page
from server.pagination import keyset_page
from signals.models import Signal

KINDS = ("scan_burst", "refusal_spike", "impossible_travel", "redemption_pattern", "offline_duplicate")
"""The kinds of the contract: detection produces the first four, the offline scans ``offline_duplicate``."""
KNOWN_KINDS = (*KINDS, "charge_over_risk", "breach_rejected")
"""Every kind that may be recorded (and asked for at ``GET /admin/signals?kind=``): a domain recording a
kind of its own adds it here."""

REGULATOR_PARTY = "regulator:signals"


def regulator_ref(pseudonyms: Pseudonyms, resident_id: uuid.UUID | str) -> str:
    """The pseudonym of a resident in signals: stable across signals (so a regulator sees one resident's
    signals together), different from every merchant's and partner's ``resident_ref``."""
    return pseudonyms.resident_ref(party_id=REGULATOR_PARTY, resident_id=resident_id)


async def record_signal(
    kind: str,
    merchant_id: uuid.UUID | str,
    store_id: uuid.UUID | str,
    *,
    resident_ref: str | None = None,
    window_start: datetime,
    window_end: datetime,
    count: int,
    detail: dict[str, Any],
    now: datetime | None = None,
) -> bool:
    """Record a signal once per (kind, store, window start, resident): True when it is new.

    Recording it again (detection running twice over the same minutes, a retried batch) finds
    the row; a larger ``count`` (a window that filled up since) updates its count, end and detail.
    ``resident_ref`` must be a pseudonym (``regulator_ref``), never an id or a name.
    """
    if kind not in KNOWN_KINDS:
        raise ValueError(f"unknown signal kind {kind!r}: add it to signals.service.KNOWN_KINDS")
    key: dict[str, Any] = {
        "kind": kind,
        "store_id": uuid.UUID(str(store_id)),
        "window_start": window_start,
        "resident_ref": resident_ref or "",
    }
    if await Signal.filter(**key).exists():
        await _grow(key, window_end=window_end, count=count, detail=detail)
        return False
    try:
        await Signal.create(
            **key,
            merchant_id=uuid.UUID(str(merchant_id)),
            window_end=window_end,
            count=count,
            detail=detail,
            created_at=now or window_end,
        )
    except IntegrityError:  # recorded meanwhile by another run
        await _grow(key, window_end=window_end, count=count, detail=detail)
        return False
    return True


async def _grow(key: dict[str, Any], *, window_end: datetime, count: int, detail: dict[str, Any]) -> None:
    await Signal.filter(**key, count__lt=count).update(count=count, window_end=window_end, detail=detail)


def signal_out(s: Signal) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "kind": s.kind,
        "merchant_id": str(s.merchant_id),
        "store_id": str(s.store_id),
        "resident_ref": s.resident_ref or None,
        "window_start": s.window_start,
        "window_end": s.window_end,
        "count": s.count,
        "detail": s.detail,
    }


async def list_signals(
    *,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
    merchant_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Signals whose window starts in [since, until), newest window first."""
    query = Signal.all()
    if kind is not None:
        query = query.filter(kind=kind)
    if since is not None:
        query = query.filter(window_start__gte=since)
    if until is not None:
        query = query.filter(window_start__lt=until)
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    rows, next_cursor = await keyset_page(
        query, limit=limit, cursor=cursor, key=("window_start", datetime), tiebreak=("id", int)
    )
    return page([signal_out(s) for s in rows], next_cursor)
