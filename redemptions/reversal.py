"""Reversal of a redemption: exactly once, giving back the stock, the resident's limit and the coupon."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from coupons.stock import give_back_unit
from merchants.models import Staff
from merchants.service import require_owner, require_store
from redemptions.audit import record_audit
from redemptions.exceptions import (
    AlreadyReversed,
    RedemptionNotFound,
)
from redemptions.models import (
    Coupon,
    Redemption,
    RedemptionCounter,
)
from redemptions.rules import ATTEMPTS, COMPLETED, REVERSED, str_or_none
from server.sql import caused_by

log = logging.getLogger(__name__)

# ===========================================================================================
# Reversal
# ===========================================================================================


async def reverse_redemption(
    staff: Staff, redemption_id: uuid.UUID, *, reason: str, now: datetime
) -> dict[str, Any]:
    """Undo a redemption once: 409 ``ALREADY_REVERSED`` after that.

    The flip ``completed`` → ``reversed`` is a conditional update, so of racing reversals
    exactly one wins and only the winner gives back the unit of stock, the per-resident count
    and the coupon, in the same transaction. Locks are taken in the redemption's order
    (coupon, counter, offer last) so a reversal and a redemption never wait on each other in a
    cycle.
    """
    redemption = await Redemption.get_or_none(id=redemption_id, merchant_id=staff.merchant_id)
    if redemption is None:
        raise RedemptionNotFound()
    await require_redemption_access(staff, redemption)
    for attempt in range(ATTEMPTS):
        try:
            await _reverse(staff, redemption, reason=reason, now=now)
            break
        except Exception as exc:
            # A reversal and a redemption of the same scan and offer can wait on each other
            # (the partial unique index): PostgreSQL aborts one; if it is this one, go again.
            if attempt + 1 < ATTEMPTS and caused_by(exc, "DeadlockDetectedError"):
                continue
            raise
    return {"id": str(redemption.id), "status": REVERSED, "reversed_at": now, "reason": reason}


async def _reverse(staff: Staff, redemption: Redemption, *, reason: str, now: datetime) -> None:
    async with in_transaction() as tx:
        flipped = (
            await Redemption.filter(id=redemption.id, status=COMPLETED)
            .using_db(tx)
            .update(status=REVERSED, reversed_at=now, reversed_by_id=staff.id, reversal_reason=reason)
        )
        if not flipped:
            raise AlreadyReversed()
        if redemption.coupon_id is not None:
            await (
                Coupon.filter(id=redemption.coupon_id, redemption_id=redemption.id, status="used")
                .using_db(tx)
                .update(status="active", used_at=None, redemption_id=None)
            )
        if redemption.period_key is not None:
            await (
                RedemptionCounter.filter(
                    offer_id=redemption.offer_id,
                    resident_id=redemption.resident_id,
                    period_key=redemption.period_key,
                    used__gt=0,
                )
                .using_db(tx)
                .update(used=F("used") - 1)
            )
        await record_audit(
            tx,
            at=now,
            actor_type="staff",
            actor_id=staff.id,
            action="redemption.reversed",
            target_type="redemption",
            target_id=redemption.id,
            merchant_id=redemption.merchant_id,
            details={
                "reason": reason,
                "offer_id": str(redemption.offer_id),
                "coupon_id": str_or_none(redemption.coupon_id),
                "stock_returned": redemption.took_stock,
            },
        )
        if redemption.took_stock:
            await give_back_unit(tx, offer_id=redemption.offer_id, redemption_id=redemption.id)


async def require_redemption_access(staff: Staff, redemption: Redemption) -> None:
    """Staff act on redemptions of the stores they work in; online (partner) ones are the owner's."""
    if redemption.store_id is None:
        require_owner(staff)
    else:
        await require_store(staff, redemption.store_id)
