"""What deposits hold about a resident, for the export: the deposit-free orders and the disputes of their charges.

Orders outlive an erased account (they keep its id, a pseudonym by then): what a merchant is owed
and what a regulator decided stay as they were.
"""

from __future__ import annotations

import uuid
from typing import Any

from deposits.models import ChargeDispute
from deposits.service import dispute_out, list_for_resident
from server.pagination import all_items, every_row

BATCH = 500


async def export_for(resident_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """``deposit_free_orders`` as ``GET /mp/deposit-free-orders`` shows them, all of them, and every ``charge_disputes``."""
    disputes: list[dict[str, Any]] = []
    async for rows in every_row(ChargeDispute.filter(resident_id=resident_id), batch=BATCH):
        disputes += [dispute_out(d) for d in rows]
    return {
        "deposit_free_orders": await all_items(
            lambda cursor: list_for_resident(resident_id, status=None, limit=BATCH, cursor=cursor)
        ),
        "charge_disputes": disputes,
    }
