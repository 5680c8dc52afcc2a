"""The ledger's pure rules and constants: channels, statuses, money, business days, limit periods."""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from coupons.service import RESTRICTED
from credit.scoring import LOCAL_TZ, tier_rank
from redemptions.exceptions import (
    TierRestricted,
    TierTooLow,
)

log = logging.getLogger(__name__)

STORE, PARTNER = "store", "partner"
COMPLETED, REVERSED = "completed", "reversed"
IDEMPOTENCY_TTL = timedelta(hours=48)
"""Stored answers are kept 48 h (the contract promises at least 24 h), then purged."""
COUPON_TTL = timedelta(days=30)
"""A claimed coupon is valid 30 days, or until the offer ends if that is sooner."""
ATTEMPTS = 3
"""A redemption that loses a race is decided again from a fresh read; three losses in a row is a 409."""
PURGE_EVERY_S = 3600

# ===========================================================================================
# Pure rules
# ===========================================================================================


def discount_for(offer_type: str, value: int | None, order_amount_fen: int | None) -> tuple[int, int]:
    """(discount_fen, deposit_waived_fen) of one redemption; integer fen, never negative.

    ``percent_off`` needs the order amount (the caller checks) and rounds the discount down to
    the fen; ``amount_off`` is capped at the order amount when one is given.
    """
    if offer_type == "percent_off":
        if order_amount_fen is None or value is None:
            raise ValueError("percent_off needs the order amount and the percent")
        return order_amount_fen * value // 100, 0
    if offer_type == "amount_off":
        amount = value or 0
        return (amount if order_amount_fen is None else min(amount, order_amount_fen)), 0
    if offer_type == "deposit_waiver":
        return 0, value or 0
    return 0, 0


def business_day(now: datetime) -> date:
    """The China Standard Time calendar day of an instant (limits per day and month, statistics)."""
    return now.astimezone(LOCAL_TZ).date()


def period_key(period: str | None, now: datetime) -> str | None:
    """The counter a per-resident limit of ``period`` charges now: ``2025-05-01``, ``2025-05`` or ``total``."""
    if period is None:
        return None
    day = business_day(now)
    if period == "day":
        return day.isoformat()
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return "total"


def tier_refusal(tier: str | None, min_tier: str) -> Exception | None:
    """403 ``TIER_RESTRICTED`` for a black-listed resident, ``TIER_TOO_LOW`` below ``min_tier``, else None."""
    if tier == RESTRICTED:
        return TierRestricted()
    if tier is None or tier_rank(tier) < tier_rank(min_tier):
        return TierTooLow(min_tier=min_tier)
    return None


def digest(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps([str(p) if p is not None else None for p in parts])).hexdigest()


def json_value(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def iso(value: datetime) -> str:
    """ISO 8601 with the offset, as ``server.http.json`` (orjson) writes datetimes."""
    return value.isoformat()


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def render_redemption(
    *,
    id: Any,
    offer_id: Any,
    discount_fen: int,
    deposit_waived_fen: int,
    order_amount_fen: int | None,
    coupon_id: Any,
    store_id: Any,
    status: str,
    created_at: datetime | None,
) -> dict[str, Any]:
    """A redemption as the contract answers it (the stored Idempotency-Key answer is exactly this)."""
    return {
        "id": str(id),
        "offer_id": str(offer_id),
        "discount_fen": discount_fen,
        "deposit_waived_fen": deposit_waived_fen,
        "order_amount_fen": order_amount_fen,
        "coupon_id": str_or_none(coupon_id),
        "store_id": str_or_none(store_id),
        "status": status,
        "created_at": iso(created_at) if created_at is not None else None,
    }
