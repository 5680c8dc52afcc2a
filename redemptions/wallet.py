"""The wallet: claiming a coupon (it takes the offer's unit and counts against the limit at the claim), listing coupons."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise.transactions import in_transaction

from coupons.exceptions import OfferNotFound, OfferOutsidePilot
from coupons.models import Offer
from coupons.pilots import offered_in_pilot
from coupons.service import live_tier
from coupons.suspensions import DEPOSIT_WAIVER, DepositFreeSuspended, is_suspended
from merchants.models import Merchant
from redemptions.audit import record_audit
from redemptions.exceptions import (
    LedgerBusy,
    LimitReached,
    OfferNotActive,
    OfferNotClaimable,
    OutOfStock,
)
from redemptions.models import (
    Coupon,
    IdempotencyRecord,
)
from redemptions.rules import COUPON_TTL, IDEMPOTENCY_TTL, digest, iso, json_value, period_key, tier_refusal
from redemptions.sql import (
    STEP_SQL,
)
from server.errors import IdempotencyConflict
from server.http import page
from server.pagination import keyset_page
from server.sql import as_uuid, tx_fetchrow

log = logging.getLogger(__name__)

# ===========================================================================================
# Coupons
# ===========================================================================================


@dataclass(frozen=True, slots=True)
class Claimed:
    body: dict[str, Any]
    replayed: bool
    status_code: int = 201


class _KeyTaken(Exception):
    """The Idempotency-Key was stored by a concurrent request meanwhile: replay its answer."""


async def claim_coupon(
    *, resident_id: uuid.UUID, offer_id: uuid.UUID, idempotency_key: str | None, now: datetime
) -> Claimed:
    """``POST /mp/offers/{id}/claim``: a coupon for an offer that needs one, for a resident whose live tier qualifies.

    The claim takes a unit of stock and counts against the per-resident limit (in the claim's
    period), with the same conditional writes as a redemption, in one transaction. With an
    ``Idempotency-Key`` (scoped to the resident) a retry gets the same coupon.
    """
    scope = f"resident:{resident_id}"
    request_hash = digest("POST /offers/claim", offer_id)
    if idempotency_key is not None and (stored := await _stored_answer(scope, idempotency_key, request_hash)):
        return Claimed(stored[1], replayed=True, status_code=stored[0])
    offer = await Offer.get_or_none(id=offer_id)
    if offer is None:
        raise OfferNotFound()
    if offer.status != "active" or not (offer.valid_from <= now < offer.valid_until):
        raise OfferNotActive()
    if not offer.requires_claim:
        raise OfferNotClaimable()
    if not await offered_in_pilot(offer):  # its scenario is in pilot, and none of its stores inside
        raise OfferOutsidePilot(
            "This offer's scenario is in pilot, and none of its stores lies inside the pilot."
        )
    if refusal := tier_refusal(await live_tier(resident_id), offer.min_tier):
        raise refusal
    if offer.type == DEPOSIT_WAIVER and await is_suspended(resident_id):
        raise DepositFreeSuspended()
    key = period_key(offer.per_resident_period, now) if offer.per_resident_limit is not None else None
    coupon_id = uuid.uuid4()
    expires_at = min(offer.valid_until, now + COUPON_TTL)
    body = {
        "coupon": {
            "id": str(coupon_id),
            "offer_id": str(offer.id),
            "status": "active",
            "expires_at": iso(expires_at),
        }
    }
    try:
        async with in_transaction() as tx:
            if idempotency_key is not None and not await tx_fetchrow(
                tx,
                STEP_SQL["idem"],
                scope,
                idempotency_key,
                request_hash,
                orjson.dumps(body).decode(),
                now,
                now + IDEMPOTENCY_TTL,
            ):
                raise _KeyTaken()
            if key is not None and not await tx_fetchrow(
                tx, STEP_SQL["counter"], offer.id, resident_id, key, offer.per_resident_limit
            ):
                raise LimitReached(limit=offer.per_resident_limit, period=offer.per_resident_period)
            await Coupon.create(
                id=coupon_id,
                offer_id=offer.id,
                merchant_id=offer.merchant_id,
                resident_id=resident_id,
                status="active",
                claimed_at=now,
                expires_at=expires_at,
                using_db=tx,
            )
            await record_audit(
                tx,
                at=now,
                actor_type="resident",
                actor_id=resident_id,
                action="coupon.claimed",
                target_type="coupon",
                target_id=coupon_id,
                merchant_id=offer.merchant_id,
                details={"offer_id": str(offer.id), "period_key": key},
            )
            if not await tx_fetchrow(
                tx, STEP_SQL["stock"], offer.id, now
            ):  # the offer row last, as redemptions do
                current = await Offer.get(id=offer.id, using_db=tx)
                if current.status != "active" or not (current.valid_from <= now < current.valid_until):
                    raise OfferNotActive()
                raise OutOfStock()
    except _KeyTaken:
        stored = await _stored_answer(scope, idempotency_key, request_hash)  # type: ignore[arg-type]
        if stored is None:
            raise LedgerBusy() from None
        return Claimed(stored[1], replayed=True, status_code=stored[0])
    return Claimed(body, replayed=False)


async def _stored_answer(scope: str, key: str, request_hash: str) -> tuple[int, Any] | None:
    record = await IdempotencyRecord.get_or_none(scope=scope, key=key)
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyConflict()
    return record.status_code, json_value(record.response)


async def unused_coupons(
    resident_id: uuid.UUID, offer_ids: list[uuid.UUID] | set[uuid.UUID], *, now: datetime | None = None
) -> dict[uuid.UUID, uuid.UUID]:
    """The resident's usable coupon for each of these offers (the one expiring first), for the scan's ``coupon_id``.

    One indexed query; offers without a usable coupon are absent from the answer.
    """
    wanted = list(dict.fromkeys(offer_ids))
    if not wanted:
        return {}
    now = now or datetime.now(UTC)
    rows = (
        await Coupon.filter(resident_id=resident_id, offer_id__in=wanted, status="active", expires_at__gt=now)
        .order_by("expires_at", "id")
        .values_list("offer_id", "id")
    )
    found: dict[uuid.UUID, uuid.UUID] = {}
    for offer_id, coupon_id in rows:
        found.setdefault(as_uuid(offer_id), as_uuid(coupon_id))
    return found


def _coupon_status(coupon: Coupon, offer: Offer | None, now: datetime) -> tuple[str, datetime]:
    expires_at = min(coupon.expires_at, offer.valid_until) if offer is not None else coupon.expires_at
    if coupon.status == "used":
        return "used", expires_at
    return ("expired" if expires_at <= now else "active"), expires_at


async def list_coupons(
    resident_id: uuid.UUID, *, status: str | None, now: datetime, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The resident's wallet, newest claim first; ``status`` active, used or expired (expired: not used in time)."""
    query = Coupon.filter(resident_id=resident_id)
    if status == "used":
        query = query.filter(status="used")
    elif status == "active":
        query = query.filter(status="active", expires_at__gt=now)
    elif status == "expired":
        query = query.filter(status="active")  # and expired: filtered below (the offer may have ended sooner)
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor, key=("claimed_at", datetime))
    offers = {o.id: o for o in await Offer.filter(id__in={c.offer_id for c in rows})}
    names: dict[uuid.UUID, str] = dict(
        await Merchant.filter(id__in={o.merchant_id for o in offers.values()}).values_list("id", "name")
    )
    items = []
    for coupon in rows:
        offer = offers.get(coupon.offer_id)
        shown, expires_at = _coupon_status(coupon, offer, now)
        if status is not None and shown != status:
            continue
        items.append(
            {
                "id": str(coupon.id),
                "offer_id": str(coupon.offer_id),
                "status": shown,
                "expires_at": expires_at,
                "merchant": {"id": str(coupon.merchant_id), "name": names.get(coupon.merchant_id, "")},
                "type": offer.type if offer else "",
                "label": offer.label if offer else "",
                "value": offer.value if offer else None,
                "claimed_at": coupon.claimed_at,
                "used_at": coupon.used_at,
            }
        )
    return page(items, next_cursor)
