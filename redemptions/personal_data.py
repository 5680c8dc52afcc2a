"""What the ledger holds about a resident, for the export: redemptions, the wallet, breach reports.

The ledger outlives an erased account: its rows keep the account's id (a pseudonym once the
account is erased), so stock, limits, reversals and statistics stay consistent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from redemptions.breaches import breach_out
from redemptions.models import Breach
from redemptions.reports import resident_redemptions
from redemptions.wallet import list_coupons
from server.pagination import all_items, every_row

BATCH = 500


async def export_for(resident_id: uuid.UUID, *, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """``redemptions`` and ``coupons`` as ``GET /mp/redemptions`` and ``GET /mp/coupons`` show them, all of
    them, and the ``breaches`` merchants reported about the resident."""
    breaches: list[dict[str, Any]] = []
    async for rows in every_row(Breach.filter(resident_id=resident_id), batch=BATCH):
        breaches += [breach_out(b) for b in rows]
    return {
        "redemptions": await all_items(
            lambda cursor: resident_redemptions(resident_id, limit=BATCH, cursor=cursor)
        ),
        "coupons": await all_items(
            lambda cursor: list_coupons(resident_id, status=None, now=now, limit=BATCH, cursor=cursor)
        ),
        "breaches": breaches,
    }
