"""The redemption ledger: coupons, redemptions at stores and through partners, reversals, the
merchant's and the resident's views, breach reports and their decisions.

Benefits cost merchants money, so a redemption is never doubled and never lost:

- every rule is checked from one consistent read and re-checked inside the transaction that
  writes, by conditional writes backed by constraints (see ``coupons.ledger_sql`` for the
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

import asyncio
import hashlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from coupons.exceptions import OfferNotFound
from coupons.ledger_exceptions import (
    AlreadyRedeemed,
    AlreadyReversed,
    BreachAlreadyDecided,
    BreachExists,
    BreachNotFound,
    CouponExpired,
    CouponInvalid,
    CouponRequired,
    CouponUsed,
    LedgerBusy,
    LimitReached,
    OfferNotActive,
    OfferNotAtStore,
    OfferNotClaimable,
    OutOfStock,
    RedemptionNotFound,
    RedemptionReversed,
    ResidentUnidentified,
    TierRestricted,
    TierTooLow,
)
from coupons.ledger_models import (
    AuditEntry,
    Breach,
    Coupon,
    IdempotencyRecord,
    PendingUnit,
    Redemption,
    RedemptionCounter,
)
from coupons.ledger_schemas import BreachDecisionIn, BreachIn
from coupons.ledger_sql import (
    CONTEXT_SQL,
    FOLD_ADD_SQL,
    FOLD_TAKE_SQL,
    PG_FOLD_SQL,
    STEP_SQL,
    LedgerDatabase,
    redeem_statement,
)
from coupons.models import Offer
from coupons.service import RESTRICTED, live_tier
from credit.scoring import LOCAL_TZ, tier_rank
from merchants.exceptions import StoreNotYours
from merchants.models import Merchant, Staff
from merchants.service import require_owner, require_store
from passes.exceptions import ScanExpired, ScanNotFound, ScanRefused
from server.errors import IdempotencyConflict, Unauthenticated, ValidationFailed
from server.http import decode_cursor, encode_cursor, page
from server.sql import RawConnection, as_datetime, as_uuid, raw_connection

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


def _hash(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps([str(p) if p is not None else None for p in parts])).hexdigest()


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _iso(value: datetime) -> str:
    """ISO 8601 with the offset, as ``server.http.json`` (orjson) writes datetimes."""
    return value.isoformat()


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
) -> Redeemed:
    """``POST /merchant/redemptions``: redeem an offer for the resident of an accepted scan of this merchant.

    The staff member must be active and allowed in the scan's store. With an ``Idempotency-Key``
    (scoped to the staff member) a retry with the same body gets the stored answer again, with
    its status, and another body gets 409 ``IDEMPOTENCY_CONFLICT``; only completed redemptions
    are stored, so a refused request may simply be retried.
    """
    request_hash = (
        _hash("POST /redemptions", scan_id, offer_id, coupon_id, order_amount_fen)
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
    ``IDEMPOTENCY_CONFLICT``; 422 ``VALIDATION_ERROR`` (``percent_off`` without an order amount).
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
            request_hash=_hash("partner", resident_id, offer_id, order_amount_fen, coupon_id, store_id),
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
        )
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return await _redeem(request)


class _LostRace(Exception):
    """A conditional write did not happen: a concurrent request changed something since the read."""


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """What prices a redemption of an offer; cached per worker, re-checked by the database at every redemption."""

    offer_id: uuid.UUID
    merchant_id: uuid.UUID
    type: str
    value: int | None
    min_tier: str
    requires_claim: bool
    unlimited: bool  # total_stock is null
    per_resident_limit: int | None
    per_resident_period: str | None

    @property
    def takes_stock(self) -> bool:
        """Whether a redemption takes a unit (a coupon's unit was taken at the claim)."""
        return not self.requires_claim

    @property
    def locks_stock(self) -> bool:
        """Whether the unit is taken from the offer row in the redemption (a stock limit to protect)."""
        return self.takes_stock and not self.unlimited


class _TermsCache:
    """Offer terms by offer id, kept ``ttl_s`` seconds by this worker.

    Never trusted: the redemption statement checks that the offer still has exactly these terms
    (and is active, in its window, at the store) and writes nothing otherwise, and the ledger then
    reads the offer again. So the cache only saves the read, it cannot grant on stale terms.
    """

    def __init__(self, ttl_s: float = 300.0, max_entries: int = 10_000):
        self._ttl_s, self._max = ttl_s, max_entries
        self._entries: dict[uuid.UUID, tuple[float, OfferTerms]] = {}

    def get(self, offer_id: uuid.UUID) -> OfferTerms | None:
        entry = self._entries.get(offer_id)
        return entry[1] if entry is not None and monotonic() < entry[0] else None

    def put(self, terms: OfferTerms) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[terms.offer_id] = (monotonic() + self._ttl_s, terms)


_terms = _TermsCache()


@dataclass(frozen=True, slots=True)
class _Checked:
    """The context read and checked: the terms, and who and where (for the step-by-step writes)."""

    terms: OfferTerms
    resident_id: uuid.UUID
    store_id: uuid.UUID | None


async def _redeem(request: _Request) -> Redeemed:
    if LedgerDatabase.available():
        return await _redeem_in_one_statement(request)
    return await _redeem_step_by_step(request)


async def _redeem_in_one_statement(request: _Request) -> Redeemed:
    """PostgreSQL: one round trip when the offer's terms are cached and nothing is refused.

    Otherwise (first redemption of the offer in this worker, changed terms, a refusal, a lost
    race, a replay) the context is read and checked, which names the error, answers the replay
    or refreshes the terms for another go.
    """
    terms = _terms.get(request.offer_id)
    async with LedgerDatabase.connection() as raw:
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
            _terms.put(terms)
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
    """The answer of a redemption just written; an unlimited offer's unit wakes this worker's fold."""
    if terms.takes_stock and terms.unlimited:
        _fold.due = True
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
        return Redeemed(_json(ctx["stored_response"]), replayed=True, status_code=ctx["stored_status"])
    if request.partner_id is not None and ctx["prior_id"] is not None:
        if ctx["prior_hash"] != request.request_hash:
            raise IdempotencyConflict("This external_order_id was already redeemed with another body.")
        return Redeemed(
            _render(
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
    valid_from, valid_until = as_datetime(ctx["valid_from"]), as_datetime(ctx["valid_until"])
    if ctx["offer_status"] != "active" or not (valid_from <= now < valid_until):  # type: ignore[operator]
        raise OfferNotActive()
    if refusal := tier_refusal(tier, ctx["min_tier"]):
        raise refusal
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
        if as_datetime(ctx["coupon_expires_at"]) <= now:  # type: ignore[operator]
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
        "created_at_text": _iso(now),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "audit_details": orjson.dumps(
            {
                "channel": request.channel,
                "offer_id": str(request.offer_id),
                "scan_id": _str(request.scan_id),
                "coupon_id": _str(request.coupon_id),
                "order_amount_fen": request.order_amount_fen,
                "discount_fen": discount,
                "deposit_waived_fen": waived,
                "partner_id": _str(request.partner_id),
                "external_order_id": request.external_order_id,
            }
        ).decode(),
    }


def _response(request: _Request, values: dict[str, Any], *, store_id: uuid.UUID | None) -> dict[str, Any]:
    return _render(
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


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _render(
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
        "coupon_id": _str(coupon_id),
        "store_id": _str(store_id),
        "status": status,
        "created_at": _iso(created_at) if created_at is not None else None,
    }


def _caused_by(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` or one of its causes is one of these asyncpg errors (Tortoise wraps some of them)."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover
        return False
    kinds = tuple(getattr(asyncpg, name) for name in names)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False


def _is_retryable(exc: BaseException) -> bool:
    """A unique violation (a concurrent duplicate) or a deadlock: roll back and decide again."""
    return isinstance(exc, IntegrityError) or _caused_by(exc, "UniqueViolationError", "DeadlockDetectedError")


async def _write_in_one_statement(
    raw: Any, request: _Request, terms: OfferTerms, values: dict[str, Any]
) -> tuple[bool, uuid.UUID | None]:
    """PostgreSQL: the checks and the writes as one statement, which is its own transaction (``coupons.ledger_sql``).

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
                if row is None or tier_rank(row["tier"]) < tier_rank(terms.min_tier):
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
                    "store_id": _str(checked.store_id),
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
    request_hash = _hash("POST /offers/claim", offer_id)
    if idempotency_key is not None and (stored := await _stored_answer(scope, idempotency_key, request_hash)):
        return Claimed(stored[1], replayed=True, status_code=stored[0])
    offer = await Offer.get_or_none(id=offer_id)
    if offer is None:
        raise OfferNotFound()
    if offer.status != "active" or not (offer.valid_from <= now < offer.valid_until):
        raise OfferNotActive()
    if not offer.requires_claim:
        raise OfferNotClaimable()
    if refusal := tier_refusal(await live_tier(resident_id), offer.min_tier):
        raise refusal
    key = period_key(offer.per_resident_period, now) if offer.per_resident_limit is not None else None
    coupon_id = uuid.uuid4()
    expires_at = min(offer.valid_until, now + COUPON_TTL)
    body = {
        "coupon": {
            "id": str(coupon_id),
            "offer_id": str(offer.id),
            "status": "active",
            "expires_at": _iso(expires_at),
        }
    }
    try:
        async with in_transaction() as tx:
            if idempotency_key is not None and not await _fetchrow(
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
            if key is not None and not await _fetchrow(
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
            await _audit(
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
            if not await _fetchrow(
                tx, STEP_SQL["stock"], offer.id, now
            ):  # the offer row last, as redemptions do
                current = await Offer.get(id=offer.id).using_db(tx)
                if current.status != "active" or not (current.valid_from <= now < current.valid_until):
                    raise OfferNotActive()
                raise OutOfStock()
    except _KeyTaken:
        stored = await _stored_answer(scope, idempotency_key, request_hash)  # type: ignore[arg-type]
        if stored is None:
            raise LedgerBusy() from None
        return Claimed(stored[1], replayed=True, status_code=stored[0])
    return Claimed(body, replayed=False)


async def _fetchrow(tx: Any, sql: str, *args: Any) -> dict[str, Any] | None:
    """One raw statement in a Tortoise transaction (its connection is held only for that statement)."""
    async with tx.acquire_connection() as connection:
        return await RawConnection(connection, tx.capabilities.dialect).fetchrow(sql, *args)


async def _fetch(tx: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with tx.acquire_connection() as connection:
        return await RawConnection(connection, tx.capabilities.dialect).fetch(sql, *args)


async def _stored_answer(scope: str, key: str, request_hash: str) -> tuple[int, Any] | None:
    record = await IdempotencyRecord.get_or_none(scope=scope, key=key)
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyConflict()
    return record.status_code, _json(record.response)


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
        found.setdefault(as_uuid(offer_id), as_uuid(coupon_id))  # type: ignore[arg-type]
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
    query = _after(query, cursor, "claimed_at")
    rows = await query.order_by("-claimed_at", "-id").limit(limit + 1)
    offers = {o.id: o for o in await Offer.filter(id__in={c.offer_id for c in rows})}
    names = dict(
        await Merchant.filter(id__in={o.merchant_id for o in offers.values()}).values_list("id", "name")
    )
    items = []
    for coupon in rows[:limit]:
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
    next_cursor = _next(rows, limit, "claimed_at")
    return page(items, next_cursor)


# ===========================================================================================
# Reversal
# ===========================================================================================


async def _require_redemption_access(staff: Staff, redemption: Redemption) -> None:
    """Staff act on redemptions of the stores they work in; online (partner) ones are the owner's."""
    if redemption.store_id is None:
        require_owner(staff)
    else:
        await require_store(staff, redemption.store_id)


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
    await _require_redemption_access(staff, redemption)
    for attempt in range(ATTEMPTS):
        try:
            await _reverse(staff, redemption, reason=reason, now=now)
            break
        except Exception as exc:
            # A reversal and a redemption of the same scan and offer can wait on each other
            # (the partial unique index): PostgreSQL aborts one; if it is this one, go again.
            if attempt + 1 < ATTEMPTS and _caused_by(exc, "DeadlockDetectedError"):
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
        await _audit(
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
                "coupon_id": _str(redemption.coupon_id),
                "stock_returned": redemption.took_stock,
            },
        )
        # A unit still pending never reached redeemed_count: taking it back is deleting it. A fold
        # that is adding it right now holds its row, so this waits and then finds it counted.
        if (
            redemption.took_stock
            and not await PendingUnit.filter(redemption_id=redemption.id).using_db(tx).delete()
        ):
            await (
                Offer.filter(id=redemption.offer_id, redeemed_count__gt=0)
                .using_db(tx)
                .update(redeemed_count=F("redeemed_count") - 1)
            )


# ===========================================================================================
# Views: the merchant's ledger and statistics, the resident's history
# ===========================================================================================


def window(
    from_: datetime | date | None, to: datetime | date | None
) -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` as instants: a day means its China Standard Time midnight, ``to`` a day includes that day."""
    start = (
        datetime.combine(from_, time(), LOCAL_TZ)
        if isinstance(from_, date) and not isinstance(from_, datetime)
        else from_
    )
    end = to
    if isinstance(to, date) and not isinstance(to, datetime):
        end = datetime.combine(to + timedelta(days=1), time(), LOCAL_TZ)
    if start is not None and end is not None and start >= end:
        raise ValidationFailed({"to": "must be after from"})
    return start, end  # type: ignore[return-value]


async def _merchant_query(
    staff: Staff, *, store_id: uuid.UUID | None, start: datetime | None, end: datetime | None
) -> Any:
    from merchants.service import visible_store_ids

    query = Redemption.filter(merchant_id=staff.merchant_id)
    store_ids = await visible_store_ids(staff, store_id)
    if store_ids is not None:
        query = query.filter(store_id__in=store_ids)
    if start is not None:
        query = query.filter(created_at__gte=start)
    if end is not None:
        query = query.filter(created_at__lt=end)
    return query


async def list_redemptions(
    staff: Staff,
    pseudonyms: Any,
    *,
    store_id: uuid.UUID | None,
    from_: datetime | date | None,
    to: datetime | date | None,
    status: str | None,
    offer_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The merchant's redemptions, newest first: all for the owner, the stores of the others; residents as pseudonyms."""
    start, end = window(from_, to)
    query = await _merchant_query(staff, store_id=store_id, start=start, end=end)
    if status is not None:
        query = query.filter(status=status)
    if offer_id is not None:
        query = query.filter(offer_id=offer_id)
    rows = await _after(query, cursor, "created_at").order_by("-created_at", "-id").limit(limit + 1)
    items = [
        {
            **_render(
                id=r.id,
                offer_id=r.offer_id,
                discount_fen=r.discount_fen,
                deposit_waived_fen=r.deposit_waived_fen,
                order_amount_fen=r.order_amount_fen,
                coupon_id=r.coupon_id,
                store_id=r.store_id,
                status=r.status,
                created_at=r.created_at,
            ),
            "channel": r.channel,
            "type": r.offer_type,
            "staff_id": _str(r.staff_id),
            "scan_id": _str(r.scan_id),
            "resident_ref": pseudonyms.resident_ref(party_id=r.merchant_id, resident_id=r.resident_id),
            "tier": r.tier,
            "reversed_at": r.reversed_at,
            "reversal_reason": r.reversal_reason,
        }
        for r in rows[:limit]
    ]
    return page(items, _next(rows, limit, "created_at"))


STATS_DEFAULT_DAYS = 30
STATS_MAX_DAYS = 366


async def redemption_stats(
    staff: Staff,
    *,
    store_id: uuid.UUID | None,
    from_: datetime | date | None,
    to: datetime | date | None,
    now: datetime,
) -> dict[str, Any]:
    """Counts and money totals of the merchant's redemptions, by offer and by China Standard Time day.

    ``redemptions``, ``discount_fen`` and ``deposit_waived_fen`` count completed redemptions;
    ``reversed`` counts the reversed ones (their money is not in the totals). Default window:
    the last 30 days; at most 366 days.
    """
    start, end = window(from_, to)
    end = end or now
    start = start or end - timedelta(days=STATS_DEFAULT_DAYS)
    if end - start > timedelta(days=STATS_MAX_DAYS):
        raise ValidationFailed({"from": f"the window is at most {STATS_MAX_DAYS} days"})
    query = await _merchant_query(staff, store_id=store_id, start=start, end=end)
    rows = await (
        query.annotate(n=Count("id"), discount=Sum("discount_fen"), waived=Sum("deposit_waived_fen"))
        .group_by("offer_id", "business_day", "status")
        .values("offer_id", "business_day", "status", "n", "discount", "waived")
    )

    def empty() -> dict[str, int]:
        return {"redemptions": 0, "reversed": 0, "discount_fen": 0, "deposit_waived_fen": 0}

    def add(bucket: dict[str, int], row: dict[str, Any]) -> None:
        if row["status"] == COMPLETED:
            bucket["redemptions"] += row["n"]
            bucket["discount_fen"] += int(row["discount"] or 0)
            bucket["deposit_waived_fen"] += int(row["waived"] or 0)
        else:
            bucket["reversed"] += row["n"]

    totals = empty()
    by_offer: dict[uuid.UUID, dict[str, int]] = defaultdict(empty)
    by_day: dict[date, dict[str, int]] = defaultdict(empty)
    for row in rows:
        day = row["business_day"]
        day = date.fromisoformat(day) if isinstance(day, str) else day
        add(totals, row)
        add(by_offer[as_uuid(row["offer_id"])], row)  # type: ignore[index]
        add(by_day[day], row)
    offers = {o.id: o for o in await Offer.filter(id__in=list(by_offer))}
    return {
        "from": start,
        "to": end,
        "totals": totals,
        "by_offer": [
            {
                "offer_id": str(offer_id),
                "label": offers[offer_id].label if offer_id in offers else "",
                "type": offers[offer_id].type if offer_id in offers else "",
                **figures,
            }
            for offer_id, figures in sorted(
                by_offer.items(), key=lambda kv: (-kv[1]["redemptions"], str(kv[0]))
            )
        ],
        "by_day": [{"day": day, **figures} for day, figures in sorted(by_day.items())],
    }


async def resident_redemptions(resident_id: uuid.UUID, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """``GET /mp/redemptions``: the resident's benefits, newest first, with the merchant and the offer's label."""
    rows = (
        await _after(Redemption.filter(resident_id=resident_id), cursor, "created_at")
        .order_by("-created_at", "-id")
        .limit(limit + 1)
    )
    shown = rows[:limit]
    offers = {o.id: o for o in await Offer.filter(id__in={r.offer_id for r in shown})}
    names = dict(await Merchant.filter(id__in={r.merchant_id for r in shown}).values_list("id", "name"))
    items = [
        {
            "id": str(r.id),
            "offer_id": str(r.offer_id),
            "merchant": {"id": str(r.merchant_id), "name": names.get(r.merchant_id, "")},
            "type": r.offer_type,
            "label": offers[r.offer_id].label if r.offer_id in offers else "",
            "discount_fen": r.discount_fen,
            "deposit_waived_fen": r.deposit_waived_fen,
            "order_amount_fen": r.order_amount_fen,
            "status": r.status,
            "created_at": r.created_at,
            "reversed_at": r.reversed_at,
        }
        for r in shown
    ]
    return page(items, _next(rows, limit, "created_at"))


def _after(query: Any, cursor: str | None, field: str) -> Any:
    parts = decode_cursor(cursor, 2)
    if parts is None:
        return query
    try:
        at, last_id = datetime.fromisoformat(parts[0]), uuid.UUID(parts[1])
    except (TypeError, ValueError):
        raise ValidationFailed({"cursor": "Invalid cursor."}) from None
    return query.filter(Q(**{f"{field}__lt": at}) | Q(**{field: at, "id__lt": last_id}))


def _next(rows: list[Any], limit: int, field: str) -> str | None:
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(getattr(last, field).isoformat(), str(last.id))


# ===========================================================================================
# Breaches
# ===========================================================================================

BREACH_SOURCE = "xinyi-breach"
"""The ``source`` of the credit records that upheld breach reports create (``source_record_id``: the report id)."""
_KIND_TITLES = {"no_show": "预订未到店", "damage": "损坏物品未赔偿", "unpaid": "未付清费用"}


def breach_out(breach: Breach) -> dict[str, Any]:
    return {
        "id": str(breach.id),
        "redemption_id": str(breach.redemption_id),
        "merchant_id": str(breach.merchant_id),
        "store_id": _str(breach.store_id),
        "offer_id": str(breach.offer_id),
        "kind": breach.kind,
        "description": breach.description,
        "amount_fen": breach.amount_fen,
        "status": breach.status,
        "created_at": breach.created_at,
        "decided_at": breach.decided_at,
        "decision_note": breach.decision_note,
        "severity": breach.severity,
    }


async def report_breach(staff: Staff, data: BreachIn, *, now: datetime) -> dict[str, Any]:
    """A merchant reports that the resident of one of its completed redemptions broke the terms.

    The report is ``under_review`` and changes nothing (no record, no score) until a regulator
    decides it. One report per redemption (a unique constraint).
    """
    redemption = await Redemption.get_or_none(id=data.redemption_id, merchant_id=staff.merchant_id)
    if redemption is None:
        raise RedemptionNotFound()
    await _require_redemption_access(staff, redemption)
    if redemption.status != COMPLETED:
        raise RedemptionReversed()
    breach_id = uuid.uuid4()
    try:
        async with in_transaction() as tx:
            breach = await Breach.create(
                id=breach_id,
                redemption_id=redemption.id,
                merchant_id=redemption.merchant_id,
                store_id=redemption.store_id,
                offer_id=redemption.offer_id,
                resident_id=redemption.resident_id,
                kind=data.kind,
                description=data.description,
                amount_fen=data.amount_fen,
                status="under_review",
                reported_by_id=staff.id,
                created_at=now,
                using_db=tx,
            )
            await _audit(
                tx,
                at=now,
                actor_type="staff",
                actor_id=staff.id,
                action="breach.reported",
                target_type="breach",
                target_id=breach_id,
                merchant_id=redemption.merchant_id,
                details={
                    "redemption_id": str(redemption.id),
                    "kind": data.kind,
                    "amount_fen": data.amount_fen,
                },
            )
    except IntegrityError:
        raise BreachExists() from None
    return breach_out(breach)


async def list_breaches(
    *, merchant_id: uuid.UUID | None, status: str | None, limit: int, cursor: str | None, for_admin: bool
) -> dict[str, Any]:
    """Breach reports newest first: of one merchant, or all (regulators, who also see the resident and the record)."""
    query = Breach.all()
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    if status is not None:
        query = query.filter(status=status)
    rows = await _after(query, cursor, "created_at").order_by("-created_at", "-id").limit(limit + 1)
    shown = rows[:limit]
    items = [breach_out(b) for b in shown]
    if for_admin:
        names = dict(await Merchant.filter(id__in={b.merchant_id for b in shown}).values_list("id", "name"))
        for item, breach in zip(items, shown, strict=True):
            item.update(
                resident_id=str(breach.resident_id),
                merchant_name=names.get(breach.merchant_id, ""),
                credit_record_id=breach.credit_record_id,
            )
    return page(items, _next(rows, limit, "created_at"))


async def decide_breach(
    breach_id: uuid.UUID, decision: BreachDecisionIn, *, admin_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """A regulator decides a report once (409 ``BREACH_ALREADY_DECIDED`` after that).

    Upheld: a ``contract_breach`` credit record of the decision's severity is created for the
    resident and the score is recomputed in the same transaction, after row-locking the
    resident's credit subject, as every credit write does (``credit.scores.lock_subjects``).
    Rejected: nothing but the report changes.
    """
    from credit.models import CreditRecord, Subject
    from credit.scores import RECORDS_CHANGED, local_today, lock_subjects
    from credit.service import recompute_subject

    async with in_transaction() as tx:
        decided = (
            await Breach.filter(id=breach_id, status="under_review")
            .using_db(tx)
            .update(
                status=decision.outcome,
                decided_at=now,
                decided_by_id=admin_id,
                decision_note=decision.note,
                severity=decision.severity if decision.outcome == "upheld" else None,
            )
        )
        breach = await Breach.get_or_none(id=breach_id).using_db(tx)
        if breach is None:
            raise BreachNotFound()
        if not decided:
            raise BreachAlreadyDecided(status=breach.status)
        record_id = None
        if decision.outcome == "upheld":
            subject = await Subject.filter(resident_id=breach.resident_id).using_db(tx).first()
            if subject is None:
                raise ResidentUnidentified()
            await lock_subjects(tx, [subject.id])
            merchant = await Merchant.get_or_none(id=breach.merchant_id).using_db(tx)
            title = f"合同违约：{_KIND_TITLES[breach.kind]}（{merchant.name if merchant else '商户'}）"
            decided_on = local_today(now)
            content = [
                BREACH_SOURCE,
                str(breach.id),
                "contract_breach",
                decision.severity,
                title,
                decided_on.isoformat(),
            ]
            record = await CreditRecord.create(
                subject_id=subject.id,
                source=BREACH_SOURCE,
                source_record_id=str(breach.id),
                category="contract_breach",
                severity=decision.severity,
                title=title[:255],
                decided_at=decided_on,
                publicity_until=None,
                status="active",
                content_hash=hashlib.sha256(orjson.dumps(content)).hexdigest(),
                using_db=tx,
            )
            record_id = record.id
            await Breach.filter(id=breach.id).using_db(tx).update(credit_record_id=record_id)
            await recompute_subject(subject.id, reason=RECORDS_CHANGED, conn=tx, now=now)
            breach.credit_record_id = record_id
        await _audit(
            tx,
            at=now,
            actor_type="admin",
            actor_id=admin_id,
            action=f"breach.{decision.outcome}",
            target_type="breach",
            target_id=breach.id,
            merchant_id=breach.merchant_id,
            details={"note": decision.note, "severity": breach.severity, "credit_record_id": record_id},
        )
    return {**breach_out(breach), "credit_record_id": breach.credit_record_id}


# ===========================================================================================
# Audit, housekeeping, lifecycle
# ===========================================================================================


async def _audit(
    conn: Any,
    *,
    at: datetime,
    actor_type: str,
    actor_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: uuid.UUID,
    merchant_id: uuid.UUID | None,
    details: dict[str, Any],
) -> None:
    await AuditEntry.create(
        at=at,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        merchant_id=merchant_id,
        details=details,
        using_db=conn,
    )


async def list_audit(
    *, target_id: uuid.UUID | None, merchant_id: uuid.UUID | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The ledger's audit trail for regulators, newest first: of one redemption, coupon or breach, or of a merchant."""
    query = AuditEntry.all()
    if target_id is not None:
        query = query.filter(target_id=target_id)
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    parts = decode_cursor(cursor, 1)
    if parts is not None:
        if not isinstance(parts[0], int):
            raise ValidationFailed({"cursor": "Invalid cursor."})
        query = query.filter(id__lt=parts[0])
    rows = await query.order_by("-id").limit(limit + 1)
    items = [
        {
            "id": a.id,
            "at": a.at,
            "actor_type": a.actor_type,
            "actor_id": _str(a.actor_id),
            "action": a.action,
            "target_type": a.target_type,
            "target_id": str(a.target_id),
            "merchant_id": _str(a.merchant_id),
            "details": a.details,
        }
        for a in rows[:limit]
    ]
    return page(items, encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)


FOLD_EVERY_S = 0.25
"""How soon a redemption of an unlimited offer shows in ``redeemed_count`` (a sweep also runs every minute)."""


class _FoldSignal:
    """Set when this process redeemed a unit of an unlimited offer, so its fold loop runs soon."""

    due = False


_fold = _FoldSignal()


async def fold_counts() -> int:
    """Add the pending units of unlimited offers (``PendingUnit``) to their ``offers.redeemed_count``.

    Why not in the redemption: the offer row would be locked from the redemption's update to
    its commit, so every redemption of a popular offer would wait for the previous one's commit
    (its WAL flush), and each update leaves a dead version of the one hot row that the next
    redemptions walk past. An offer without a stock limit has nothing to protect, so its
    redemption notes the unit in a row of its own and it is added here, within ``FOLD_EVERY_S``.

    Exactly once: per offer, the offer row is locked first (in a fixed order, so two folds never
    wait on each other in a cycle, and a stock being set on the offer waits or is waited for),
    then its pending rows are deleted and their number added, in one transaction. A reversal
    deletes its pending row instead, and whichever deletes the row first decides. On PostgreSQL
    with the ledger's pool that is one statement (``PG_FOLD_SQL``), so redemptions, which
    share-lock the offer row, never wait for a fold's round trips.
    Returns how many units were added.
    """
    added = 0
    offer_ids = sorted(set(await PendingUnit.all().distinct().values_list("offer_id", flat=True)))
    if LedgerDatabase.available():
        async with LedgerDatabase.connection() as raw:
            for offer_id in offer_ids:
                row = await raw.fetchrow(PG_FOLD_SQL, offer_id)
                added += row["added"] and row["units"]
        return added
    for offer_id in offer_ids:
        async with in_transaction() as tx:
            # A model query: Tortoise drops FOR UPDATE from exists() and values_list().
            if await Offer.filter(id=offer_id).select_for_update().using_db(tx).first() is None:
                await PendingUnit.filter(offer_id=offer_id).using_db(tx).delete()  # the offer is gone
                continue
            units = len(await _fetch(tx, FOLD_TAKE_SQL, offer_id))
            if units:
                await _fetch(tx, FOLD_ADD_SQL, offer_id, units)
                added += units
    return added


async def fold_periodically(*, every_s: float = FOLD_EVERY_S, sweep_s: float = 60.0) -> None:
    """Background task of each worker: fold soon after this worker's unlimited redemptions, and sweep every minute
    (for units left by a worker that stopped before folding). A flag polled by a sleep, no database round trip
    while nothing is due."""
    since_sweep = 0.0
    while True:
        await asyncio.sleep(every_s)
        since_sweep += every_s
        if not _fold.due and since_sweep < sweep_s:
            continue
        _fold.due, since_sweep = False, 0.0
        fold = asyncio.ensure_future(fold_counts())
        try:
            await asyncio.shield(fold)
        except asyncio.CancelledError:
            # The server is stopping: let a fold already under way finish (milliseconds) rather
            # than leave its query running against a connection that is about to close.
            await asyncio.gather(fold, return_exceptions=True)
            raise
        except Exception:  # noqa: BLE001 - the next round folds what this one could not
            log.warning("folding redemption counts failed", exc_info=True)


async def purge_idempotency_records(now: datetime) -> int:
    """Delete stored Idempotency-Key answers past their ``expires_at`` (48 h after the request)."""
    return await IdempotencyRecord.filter(expires_at__lt=now).delete()


async def purge_periodically(every_s: float = PURGE_EVERY_S) -> None:
    """Background task of each worker: purge expired Idempotency-Key answers every hour (idempotent)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            purged = await purge_idempotency_records(datetime.now(UTC))
            if purged:
                log.info("purged %d expired idempotency records", purged)
        except Exception:  # noqa: BLE001 - housekeeping must not kill the worker; next hour tries again
            log.warning("purging idempotency records failed", exc_info=True)


async def open_ledger(database_url: str) -> None:
    """Open the ledger's connections (a pool of its own on PostgreSQL) for this app."""
    await LedgerDatabase.open(database_url)


async def close_ledger(database_url: str) -> None:
    await LedgerDatabase.close(database_url)
