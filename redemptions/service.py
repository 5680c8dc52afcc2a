"""The redemption ledger: coupons, redemptions at stores and through partners, reversals, the
merchant's and the resident's views, breach reports and their decisions.

Benefits cost merchants money, so a redemption is never doubled and never lost:

- every rule is checked from one consistent read and re-checked inside the transaction that
  writes, by conditional writes backed by constraints (see ``redemptions.sql`` for the
  statements and why they are ordered as they are): the stock by ``UPDATE offers … WHERE
  redeemed_count < total_stock``, the per-resident limit by a counter row per (offer, resident,
  period) incremented only below the limit, a coupon by ``active`` → ``used``, one completed
  redemption per scan and offer and one per partner order by unique indexes; an offer without
  a stock limit is only share-locked (redemptions never wait for each other, a change of its
  terms waits for them and they for it), its units reach ``redeemed_count`` by ``fold_counts``
  (exactly once, within a fraction of a second);
- an Idempotency-Key's answer is stored in the same transaction as the redemption, so a retry
  (also after a crash or a restart) gets the same redemption and the same status, and a
  concurrent first use of the key waits for the first request and then replays it;
- a reversal flips ``completed`` → ``reversed`` with a conditional update, so stock, limits and
  the coupon come back exactly once however many reversals race;
- every redemption, reversal, claim, breach report and decision writes an audit row in the
  same transaction.

Money is integer fen. ``percent_off`` is ``order × percent // 100``: rounded down to the fen,
so the discount never exceeds the advertised percentage (the resident pays at most 1 fen more
than the exact figure). ``amount_off`` is capped at the order amount when one is given.
``deposit_waiver`` discounts nothing and records the waived deposit (``deposit_waived_fen``);
the other types have no amount.

Offers that need a claim (``requires_claim``) take their stock and count their per-resident
limit when the coupon is claimed; redeeming the coupon takes neither again, and reversing
that redemption gives the coupon back. Coupons expire with the offer or ``COUPON_TTL`` after
the claim, whichever is first.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from coupons.exceptions import OfferNotFound, OfferOutsidePilot
from coupons.service import live_tier
from coupons.stock import fold_soon
from coupons.suspensions import DEPOSIT_WAIVER, DepositFreeSuspended
from credit.scoring import tier_rank
from merchants.exceptions import StoreNotYours
from passes.exceptions import ScanExpired, ScanNotFound, ScanRefused
from redemptions.exceptions import (
    AlreadyRedeemed,
    CouponExpired,
    CouponInvalid,
    CouponRequired,
    CouponUsed,
    LedgerBusy,
    LimitReached,
    OfferNotActive,
    OfferNotAtStore,
    OutOfStock,
)
from redemptions.rules import (
    ATTEMPTS,
    COMPLETED,
    IDEMPOTENCY_TTL,
    PARTNER,
    STORE,
    business_day,
    digest,
    discount_for,
    iso,
    json_value,
    period_key,
    render_redemption,
    str_or_none,
    tier_refusal,
)
from redemptions.sql import (
    CONTEXT_SQL,
    STEP_SQL,
    redeem_statement,
)
from redemptions.terms import OfferTerms, terms_cache
from server.errors import IdempotencyConflict, Unauthenticated, ValidationFailed
from server.metrics import count_redemption
from server.sql import DirectPool, RawConnection, as_datetime, as_uuid, caused_by, raw_connection

log = logging.getLogger(__name__)

# ===========================================================================================
# Redemptions
# ===========================================================================================


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A redemption as the contract renders it; ``replayed``: the answer of an earlier identical request."""

    redemption: dict[str, Any]
    replayed: bool
    status_code: int = 201


@dataclass(frozen=True, slots=True)
class _Request:
    channel: str
    now: datetime
    offer_id: uuid.UUID
    order_amount_fen: int | None
    coupon_id: uuid.UUID | None
    staff_id: uuid.UUID | None = None
    scan_id: uuid.UUID | None = None
    resident_id: uuid.UUID | None = None  # partner channel, or the resident a store caller expects
    store_id: uuid.UUID | None = None  # partner channel (optional)
    partner_id: uuid.UUID | None = None
    external_order_id: str | None = None
    idem_scope: str | None = None
    idem_key: str | None = None
    request_hash: str | None = None
    db: DirectPool | None = None  # the ledger's pool on PostgreSQL; without it, Tortoise's connections

    def context_args(self) -> list[Any]:
        day = business_day(self.now).isoformat()  # the day's and the month's counters: 2025-05-01, 2025-05
        return [
            self.staff_id,
            self.scan_id,
            self.offer_id,
            self.coupon_id,
            self.idem_scope,
            self.idem_key,
            self.partner_id,
            self.external_order_id,
            self.resident_id,
            self.store_id,
            day,
            day[:7],
        ]


async def redeem_at_store(
    *,
    staff_id: uuid.UUID,
    scan_id: uuid.UUID,
    offer_id: uuid.UUID,
    coupon_id: uuid.UUID | None,
    order_amount_fen: int | None,
    idempotency_key: str | None,
    now: datetime,
    db: DirectPool | None = None,
) -> Redeemed:
    """``POST /merchant/redemptions``: redeem an offer for the resident of an accepted scan of this merchant.

    The staff member must be active and allowed in the scan's store. With an ``Idempotency-Key``
    (scoped to the staff member) a retry with the same body gets the stored answer again, with
    its status, and another body gets 409 ``IDEMPOTENCY_CONFLICT``; only completed redemptions
    are stored, so a refused request may simply be retried.
    """
    request_hash = (
        digest("POST /redemptions", scan_id, offer_id, coupon_id, order_amount_fen)
        if idempotency_key
        else None
    )
    return await _redeem(
        _Request(
            channel=STORE,
            now=now,
            offer_id=offer_id,
            order_amount_fen=order_amount_fen,
            coupon_id=coupon_id,
            staff_id=staff_id,
            scan_id=scan_id,
            idem_scope=f"staff:{staff_id}" if idempotency_key else None,
            idem_key=idempotency_key,
            request_hash=request_hash,
            db=db,
        )
    )


async def redeem(
    *,
    resident_id: uuid.UUID,
    offer_id: uuid.UUID,
    order_amount_fen: int | None,
    channel: str,
    now: datetime,
    scan_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    external_order_id: str | None = None,
    coupon_id: uuid.UUID | None = None,
    db: DirectPool | None = None,
) -> Redeemed:
    """Redeem an offer for a resident, with the same rules for both channels.

    ``channel="partner"`` (online, ``partner_id`` and ``external_order_id`` required, ``store_id``
    optional): idempotent by (partner_id, external_order_id), backed by a unique constraint. The
    same order again with the same resident, offer, amount, coupon and store answers the first
    redemption with ``replayed=True`` (whatever its status now); another body is 409
    ``IDEMPOTENCY_CONFLICT``. Whether the partner may sell this merchant's offers is the
    caller's check.

    ``channel="store"`` (``scan_id`` and ``staff_id`` required): as ``redeem_at_store`` without an
    Idempotency-Key; the scan must be of ``resident_id``.

    Raises the contract's errors: 403 ``TIER_TOO_LOW`` / ``TIER_RESTRICTED``; 404
    ``OFFER_NOT_FOUND`` / ``SCAN_NOT_FOUND``; 409 ``OUT_OF_STOCK``, ``LIMIT_REACHED``,
    ``OFFER_NOT_ACTIVE``, ``OFFER_NOT_AT_STORE``, ``COUPON_REQUIRED``, ``COUPON_INVALID``,
    ``COUPON_USED``, ``COUPON_EXPIRED``, ``SCAN_EXPIRED``, ``SCAN_REFUSED``, ``ALREADY_REDEEMED``,
    ``IDEMPOTENCY_CONFLICT``; 422 ``VALIDATION_ERROR`` (``percent_off`` without an order amount);
    403 ``DEPOSIT_FREE_SUSPENDED`` (a deposit waiver while the resident's deposit-free benefits are suspended).
    """
    if channel == PARTNER:
        if partner_id is None or not external_order_id:
            raise ValueError("partner redemptions need partner_id and external_order_id")
        request = _Request(
            channel=PARTNER,
            now=now,
            offer_id=offer_id,
            order_amount_fen=order_amount_fen,
            coupon_id=coupon_id,
            resident_id=resident_id,
            store_id=store_id,
            partner_id=partner_id,
            external_order_id=external_order_id,
            request_hash=digest("partner", resident_id, offer_id, order_amount_fen, coupon_id, store_id),
            db=db,
        )
    elif channel == STORE:
        if scan_id is None or staff_id is None:
            raise ValueError("store redemptions need scan_id and staff_id")
        request = _Request(
            channel=STORE,
            now=now,
            offer_id=offer_id,
            order_amount_fen=order_amount_fen,
            coupon_id=coupon_id,
            staff_id=staff_id,
            scan_id=scan_id,
            resident_id=resident_id,
            db=db,
        )
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return await _redeem(request)


class _LostRace(Exception):
    """A conditional write did not happen: a concurrent request changed something since the read."""


@dataclass(frozen=True, slots=True)
class _Checked:
    """The context read and checked: the terms, and who and where (for the step-by-step writes)."""

    terms: OfferTerms
    resident_id: uuid.UUID
    store_id: uuid.UUID | None


async def _redeem(request: _Request) -> Redeemed:
    if request.db is not None:
        return await _redeem_in_one_statement(request.db, request)
    return await _redeem_step_by_step(request)


async def _redeem_in_one_statement(db: DirectPool, request: _Request) -> Redeemed:
    """PostgreSQL: one round trip when the offer's terms are cached and nothing is refused.

    Otherwise (first redemption of the offer in this worker, changed terms, a refusal, a lost
    race, a replay) the context is read and checked, which names the error, answers the replay
    or refreshes the terms for another go.
    """
    terms = terms_cache.get(request.offer_id)
    async with db.connection() as raw:
        for _ in range(ATTEMPTS + 1):
            if terms is not None and (terms.type != "percent_off" or request.order_amount_fen is not None):
                values = _values(terms, request)
                done, store_id = await _write_in_one_statement(raw, request, terms, values)
                if done:
                    return _done(request, terms, values, store_id=store_id)
            outcome = await _decide(RawConnection(raw, "postgres"), request)
            if isinstance(outcome, Redeemed):
                return outcome
            terms = outcome.terms
            terms_cache.put(terms)
    raise LedgerBusy()


async def _redeem_step_by_step(request: _Request) -> Redeemed:
    for _ in range(ATTEMPTS):
        async with raw_connection() as db:
            outcome = await _decide(db, request)
        if isinstance(outcome, Redeemed):
            return outcome
        values = _values(outcome.terms, request)
        response = _response(request, values, store_id=outcome.store_id)
        if await _write_steps(request, outcome, values, response):
            return _done(request, outcome.terms, values, store_id=outcome.store_id)
    raise LedgerBusy()


def _done(
    request: _Request, terms: OfferTerms, values: dict[str, Any], *, store_id: uuid.UUID | None
) -> Redeemed:
    """The answer of a redemption just committed (counted in the metrics); an unlimited offer's unit wakes this worker's fold."""
    count_redemption(terms.type, request.channel)
    if terms.takes_stock and terms.unlimited:
        fold_soon()
    return Redeemed(_response(request, values, store_id=store_id), replayed=False)


async def _decide(db: RawConnection, request: _Request) -> Redeemed | _Checked:
    """Read the context: a replay, a contract error (raised), or the checked terms and parties."""
    ctx = await db.fetchrow(CONTEXT_SQL, *request.context_args())
    assert ctx is not None
    replay = _replay(ctx, request)
    if replay is not None:
        return replay
    resident_id = _check_caller_and_scan(ctx, request)
    tier = ctx["tier"]
    if tier is None:  # a resident bound before the credit engine had a score row: the engine makes one
        tier = await live_tier(resident_id)
    terms = _check(ctx, request, resident_id=resident_id, tier=tier)
    store_id = as_uuid(ctx["scan_store_id"]) if request.channel == STORE else request.store_id
    return _Checked(terms=terms, resident_id=resident_id, store_id=store_id)


def _replay(ctx: dict[str, Any], request: _Request) -> Redeemed | None:
    """The stored answer of this Idempotency-Key or partner order, checked first: a retry gets its answer
    even when the world has changed since (the scan expired, the limit is now reached by this very request)."""
    if request.idem_key is not None and ctx["stored_hash"] is not None:
        if ctx["stored_hash"] != request.request_hash:
            raise IdempotencyConflict()
        return Redeemed(json_value(ctx["stored_response"]), replayed=True, status_code=ctx["stored_status"])
    if request.partner_id is not None and ctx["prior_id"] is not None:
        if ctx["prior_hash"] != request.request_hash:
            raise IdempotencyConflict("This external_order_id was already redeemed with another body.")
        return Redeemed(
            render_redemption(
                id=ctx["prior_id"],
                offer_id=ctx["prior_offer_id"],
                discount_fen=ctx["prior_discount_fen"],
                deposit_waived_fen=ctx["prior_deposit_waived_fen"],
                order_amount_fen=ctx["prior_order_amount_fen"],
                coupon_id=ctx["prior_coupon_id"],
                store_id=ctx["prior_store_id"],
                status=ctx["prior_status"],
                created_at=as_datetime(ctx["prior_created_at"]),
            ),
            replayed=True,
            status_code=200,
        )
    return None


def _check_caller_and_scan(ctx: dict[str, Any], request: _Request) -> uuid.UUID:
    """The store channel's checks (staff, scan, store); returns the resident."""
    if request.channel != STORE:
        assert request.resident_id is not None
        return request.resident_id
    staff_merchant = as_uuid(ctx["staff_merchant_id"])
    if staff_merchant is None:
        raise Unauthenticated("This staff account is disabled.")
    scan_resident = as_uuid(ctx["scan_resident_id"])
    if as_uuid(ctx["scan_merchant_id"]) != staff_merchant or (
        request.resident_id is not None and scan_resident != request.resident_id
    ):
        raise ScanNotFound()
    if not ctx["staff_in_store"]:
        raise StoreNotYours()
    expires_at = as_datetime(ctx["scan_expires_at"])
    if ctx["scan_outcome"] != "accepted" or expires_at is None or scan_resident is None:
        raise ScanRefused()
    if expires_at <= request.now:
        raise ScanExpired()
    return scan_resident


def _check(ctx: dict[str, Any], request: _Request, *, resident_id: uuid.UUID, tier: str) -> OfferTerms:
    """Check the offer, the tier, the coupon, the limit and the stock (raising the contract's error); the terms."""
    now = request.now
    offer_merchant = as_uuid(ctx["offer_merchant_id"])
    if offer_merchant is None or (
        request.channel == STORE and offer_merchant != as_uuid(ctx["staff_merchant_id"])
    ):
        raise OfferNotFound()
    store_id = as_uuid(ctx["scan_store_id"]) if request.channel == STORE else request.store_id
    if store_id is not None and not ctx["offer_at_store"]:
        raise OfferNotAtStore()
    if store_id is not None and not ctx["offer_in_pilot"]:
        raise OfferOutsidePilot()
    valid_from, valid_until = as_datetime(ctx["valid_from"]), as_datetime(ctx["valid_until"])
    if ctx["offer_status"] != "active" or not (valid_from <= now < valid_until):
        raise OfferNotActive()
    if refusal := tier_refusal(tier, ctx["min_tier"]):
        raise refusal
    if ctx["waiver_suspended"]:  # an unpaid deposit-free order: deposit waivers only, other benefits stay
        raise DepositFreeSuspended()
    requires_claim = bool(ctx["requires_claim"])
    if requires_claim:
        if request.coupon_id is None:
            raise CouponRequired()
        if (
            as_uuid(ctx["coupon_resident_id"]) != resident_id
            or as_uuid(ctx["coupon_offer_id"]) != request.offer_id
        ):
            raise CouponInvalid()
        if ctx["coupon_status"] != "active":
            raise CouponUsed()
        if as_datetime(ctx["coupon_expires_at"]) <= now:
            raise CouponExpired()
    elif request.coupon_id is not None:
        raise CouponInvalid("This offer needs no coupon: redeem it without coupon_id.")
    if ctx["offer_type"] == "percent_off" and request.order_amount_fen is None:
        raise ValidationFailed({"order_amount_fen": "required for a percent_off offer"})
    if ctx["already_redeemed"]:
        raise AlreadyRedeemed()
    limit = ctx["per_resident_limit"]
    if not requires_claim and limit is not None and (ctx["used"] or 0) >= limit:
        raise LimitReached(limit=limit, period=ctx["per_resident_period"])
    if not requires_claim and ctx["total_stock"] is not None and ctx["redeemed_count"] >= ctx["total_stock"]:
        raise OutOfStock()
    return OfferTerms(
        offer_id=request.offer_id,
        merchant_id=offer_merchant,
        type=ctx["offer_type"],
        value=ctx["offer_value"],
        min_tier=ctx["min_tier"],
        requires_claim=requires_claim,
        unlimited=ctx["total_stock"] is None,
        per_resident_limit=limit,
        per_resident_period=ctx["per_resident_period"],
    )


def _values(terms: OfferTerms, request: _Request) -> dict[str, Any]:
    """What a redemption on these terms writes, priced (the caller checked that ``percent_off`` has an amount)."""
    now = request.now
    discount, waived = discount_for(terms.type, terms.value, request.order_amount_fen)
    charged = terms.takes_stock and terms.per_resident_limit is not None
    actor_type, actor_id = (
        ("staff", request.staff_id) if request.channel == STORE else (PARTNER, request.partner_id)
    )
    return {
        "redemption_id": uuid.uuid4(),
        "discount_fen": discount,
        "deposit_waived_fen": waived,
        "period_key": period_key(terms.per_resident_period, now) if charged else None,
        "business_day": business_day(now),
        "created_at_text": iso(now),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "audit_details": orjson.dumps(
            {
                "channel": request.channel,
                "offer_id": str(request.offer_id),
                "scan_id": str_or_none(request.scan_id),
                "coupon_id": str_or_none(request.coupon_id),
                "order_amount_fen": request.order_amount_fen,
                "discount_fen": discount,
                "deposit_waived_fen": waived,
                "partner_id": str_or_none(request.partner_id),
                "external_order_id": request.external_order_id,
            }
        ).decode(),
    }


def _response(request: _Request, values: dict[str, Any], *, store_id: uuid.UUID | None) -> dict[str, Any]:
    return render_redemption(
        id=values["redemption_id"],
        offer_id=request.offer_id,
        discount_fen=values["discount_fen"],
        deposit_waived_fen=values["deposit_waived_fen"],
        order_amount_fen=request.order_amount_fen,
        coupon_id=request.coupon_id,
        store_id=store_id,
        status=COMPLETED,
        created_at=request.now,
    )


def _is_retryable(exc: BaseException) -> bool:
    """A unique violation (a concurrent duplicate) or a deadlock: roll back and decide again."""
    return isinstance(exc, IntegrityError) or caused_by(exc, "UniqueViolationError", "DeadlockDetectedError")


async def _write_in_one_statement(
    raw: Any, request: _Request, terms: OfferTerms, values: dict[str, Any]
) -> tuple[bool, uuid.UUID | None]:
    """PostgreSQL: the checks and the writes as one statement, which is its own transaction (``redemptions.sql``).

    (False, None) when anything was refused or a step did not happen: before any write, or
    after one (the statement then aborted itself with a division by zero, so nothing was kept).
    """
    import asyncpg

    params = {
        **values,
        "now": request.now,
        "offer_id": request.offer_id,
        "staff_id": request.staff_id,
        "scan_id": request.scan_id,
        "resident_id": request.resident_id,
        "store_id": request.store_id,
        "partner_id": request.partner_id,
        "external_order_id": request.external_order_id,
        "coupon_id": request.coupon_id,
        "offer_type": terms.type,
        "offer_value": terms.value,
        "min_tier": terms.min_tier,
        "requires_claim": terms.requires_claim,
        "unlimited": terms.unlimited,
        "per_resident_limit": terms.per_resident_limit,
        "per_resident_period": terms.per_resident_period,
        "order_amount_fen": request.order_amount_fen,
        "request_hash": request.request_hash if request.channel == PARTNER else None,
        "channel": request.channel,
        "idem_scope": request.idem_scope,
        "idem_key": request.idem_key,
        "idem_hash": request.request_hash,
        "idem_expires_at": request.now + IDEMPOTENCY_TTL,
    }
    last = "stock" if terms.locks_stock else "pending" if terms.takes_stock else "none"
    sql, names = redeem_statement(
        request.channel,
        idempotent=request.idem_key is not None,
        coupon=terms.requires_claim,
        counter=values["period_key"] is not None,
        last=last,
        waiver=terms.type == DEPOSIT_WAIVER,
    )
    try:
        row = await raw.fetchrow(sql, *[params[name] for name in names])
    except asyncpg.DivisionByZeroError:
        return False, None
    except Exception as exc:
        if _is_retryable(exc):
            return False, None
        raise
    return bool(row["done"]), row["store_id"]


async def _write_steps(
    request: _Request, checked: _Checked, values: dict[str, Any], response: dict[str, Any]
) -> bool:
    """The writes one statement at a time in a Tortoise transaction (SQLite, or PostgreSQL without the pool)."""
    terms, now = checked.terms, request.now
    try:
        async with in_transaction() as tx:
            async with tx.acquire_connection() as connection:
                db = RawConnection(connection, tx.capabilities.dialect)
                row = await db.fetchrow(STEP_SQL["tier"], checked.resident_id)
                if row is None or row["tier"] is None or tier_rank(row["tier"]) < tier_rank(terms.min_tier):
                    raise _LostRace()
                if terms.type == DEPOSIT_WAIVER and await db.fetchrow(
                    STEP_SQL["suspended"], checked.resident_id
                ):
                    raise _LostRace()
                if request.idem_key is not None and not await db.fetchrow(
                    STEP_SQL["idem"],
                    request.idem_scope,
                    request.idem_key,
                    request.request_hash,
                    orjson.dumps(response).decode(),
                    now,
                    now + IDEMPOTENCY_TTL,
                ):
                    raise _LostRace()
                if request.coupon_id is not None and not await db.fetchrow(
                    STEP_SQL["coupon"],
                    request.coupon_id,
                    now,
                    values["redemption_id"],
                    checked.resident_id,
                    request.offer_id,
                ):
                    raise _LostRace()
                if values["period_key"] is not None and not await db.fetchrow(
                    STEP_SQL["counter"],
                    request.offer_id,
                    checked.resident_id,
                    values["period_key"],
                    terms.per_resident_limit,
                ):
                    raise _LostRace()
                await db.execute(
                    STEP_SQL["redemption"],
                    values["redemption_id"],
                    request.channel,
                    terms.merchant_id,
                    request.offer_id,
                    checked.resident_id,
                    checked.store_id,
                    request.scan_id,
                    request.staff_id,
                    request.partner_id,
                    request.external_order_id,
                    request.coupon_id,
                    terms.type,
                    terms.value,
                    row["tier"],
                    request.order_amount_fen,
                    values["discount_fen"],
                    values["deposit_waived_fen"],
                    values["period_key"],
                    terms.takes_stock,
                    request.request_hash if request.channel == PARTNER else None,
                    now,
                    values["business_day"],
                )
                details = {
                    **orjson.loads(values["audit_details"]),
                    "store_id": str_or_none(checked.store_id),
                    "tier": row["tier"],
                }
                await db.execute(
                    STEP_SQL["audit"],
                    now,
                    values["actor_type"],
                    values["actor_id"],
                    "redemption.completed",
                    "redemption",
                    values["redemption_id"],
                    terms.merchant_id,
                    orjson.dumps(details).decode(),
                )
                if terms.locks_stock:
                    last = await db.fetchrow(STEP_SQL["stock"], request.offer_id, now)
                else:  # a coupon took its unit at the claim, an unlimited offer's unit is folded in later
                    # On PostgreSQL the share lock orders this with a change of the offer's terms (a
                    # stock being set waits for it, or it for the stock); SQLite runs one writer at a time.
                    running = STEP_SQL["running"] if db.sqlite else STEP_SQL["running"] + " FOR KEY SHARE"
                    last = await db.fetchrow(running, request.offer_id, now, 1 if terms.takes_stock else 0)
                if not last:
                    raise _LostRace()
                if terms.takes_stock and terms.unlimited:
                    await db.execute(STEP_SQL["pending"], values["redemption_id"], request.offer_id)
    except _LostRace:
        return False
    except Exception as exc:
        if _is_retryable(exc):
            return False
        raise
    return True
