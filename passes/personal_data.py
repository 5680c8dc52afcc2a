"""What the passes domain holds about a resident: the scans of the resident's passes, for the export.

Scans are a ledger: an erasure keeps them as they are, naming the resident by the account's id
only (the erased account is a pseudonymous shell), so merchants' logs and the statistics stay whole.
"""

from __future__ import annotations

import uuid
from typing import Any

from coupons.service import benefits_for_tier
from merchants.models import Merchant, Store
from passes.models import Scan
from server.pagination import every_row

ACCEPTED = "accepted"


async def export_for(resident_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every scan of the resident's passes, newest first: where, by which merchant, the outcome and the tier shown.

    Not the staff member who scanned, nor the pass id: what the merchant saw is the resident's,
    who scanned is the merchant's.
    """
    scans: list[dict[str, Any]] = []
    async for rows in every_row(Scan.filter(resident_id=resident_id)):
        merchants = dict(
            await Merchant.filter(id__in={s.merchant_id for s in rows}).values_list("id", "name")
        )
        stores = dict(await Store.filter(id__in={s.store_id for s in rows}).values_list("id", "name"))
        scans += [
            {
                "id": str(s.id),
                "merchant": {"id": str(s.merchant_id), "name": merchants.get(s.merchant_id, "")},
                "store": {"id": str(s.store_id), "name": stores.get(s.store_id, "")},
                "outcome": s.outcome,
                "reason": s.reason,
                "tier": s.tier,
                "benefits": benefits_for_tier(s.offers or [], s.tier) if s.outcome == ACCEPTED else [],
                "created_at": s.created_at,
            }
            for s in rows
        ]
    return scans
