"""Offers: owners propose, regulators approve, residents see what their tier gets, scanners list them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from coupons.exceptions import OfferNotFound, OfferNotPending, OfferNotResumable
from coupons.models import Offer, PilotRegion
from coupons.pilots import pilot_allows_sql, refuse_outside_pilot, region_prefix
from coupons.schemas import TERMS, OfferIn, OfferPatch, term_problems
from coupons.stock import fold_offer
from coupons.suspensions import DEPOSIT_WAIVER, is_suspended
from credit.scoring import tier_rank
from merchants.models import Merchant, Staff, Store
from residents.models import Resident
from server.dbtypes import column_values
from server.errors import ValidationFailed
from server.http import page
from server.pagination import keyset_page
from server.sql import RawConnection, as_datetime, as_uuid, raw_connection

RESTRICTED = "restricted"


async def live_tier(resident_id: uuid.UUID) -> str:
    """The resident's tier now, from the credit engine."""
    from credit.service import live_tier as credit_live_tier  # the engine's entry point, imported late

    return await credit_live_tier(resident_id)


# --- views ---------------------------------------------------------------------------------


def offer_out(offer: Offer, store_ids: Iterable[uuid.UUID | str]) -> dict[str, Any]:
    return {
        "id": str(offer.id),
        "merchant_id": str(offer.merchant_id),
        "status": offer.status,
        "scenario": offer.scenario,
        "type": offer.type,
        "label": offer.label,
        "value": offer.value,
        "min_tier": offer.min_tier,
        "requires_claim": offer.requires_claim,
        "valid_from": offer.valid_from,
        "valid_until": offer.valid_until,
        "total_stock": offer.total_stock,
        "redeemed_count": offer.redeemed_count,
        "remaining": offer.remaining,
        "per_resident_limit": offer.per_resident_limit,
        "per_resident_period": offer.per_resident_period,
        "store_ids": sorted(str(s) for s in store_ids),
        "all_stores": offer.all_stores,
        "created_at": offer.created_at,
        "updated_at": offer.updated_at,
        "approved_at": offer.approved_at,
        "review_note": offer.review_note,
    }


def tier_qualifies(tier: str | None, min_tier: str) -> bool:
    """Whether a resident of ``tier`` may have an offer for ``min_tier`` and up (never ``restricted``)."""
    if tier is None or tier == RESTRICTED:
        return False
    return tier_rank(tier) >= tier_rank(min_tier)


# --- owners ---------------------------------------------------------------------------------


async def _stores_of(merchant_id: uuid.UUID, raw_ids: list[str], *, using_db: Any = None) -> list[Store]:
    wanted = list(dict.fromkeys(uuid.UUID(raw) for raw in raw_ids))
    if not wanted:
        return []
    stores = await Store.filter(id__in=wanted, merchant_id=merchant_id).using_db(using_db)
    missing = sorted(str(s) for s in set(wanted) - {s.id for s in stores})
    if missing:
        raise ValidationFailed({"store_ids": f"not stores of your merchant: {', '.join(missing)}"})
    return stores


async def create_offer(staff: Staff, data: OfferIn, *, now: datetime) -> dict:
    """A new offer of the owner's merchant, ``pending_approval`` until a regulator approves it."""
    terms = data.model_dump()
    if problems := term_problems(terms, now=now, window_changed=True):
        raise ValidationFailed(problems)
    async with in_transaction() as conn:
        stores = await _stores_of(staff.merchant_id, data.store_ids, using_db=conn)
        offer = await Offer.create(
            merchant_id=staff.merchant_id,
            status="pending_approval",
            all_stores=not stores,
            created_by_id=staff.id,
            using_db=conn,
            **{k: v for k, v in terms.items() if k != "store_ids"},
        )
        if stores:
            await offer.stores.add(*stores, using_db=conn)
    return offer_out(offer, [s.id for s in stores])


async def _store_ids(offer: Offer, *, using_db: Any = None) -> list[uuid.UUID]:
    return await column_values(offer.stores.all().using_db(using_db), "id")


async def update_offer(
    staff: Staff,
    offer_id: uuid.UUID,
    patch: OfferPatch,
    *,
    now: datetime,
    cache: StoreOfferCache | None = None,
) -> dict:
    """Change an offer of the owner's merchant.

    What a regulator approved stays approved only while its terms stay the same: changing a
    term sends the offer back to ``pending_approval`` (it stops being offered until approved
    again). Safe without a new approval, because they only ever give residents less or change
    nothing they were promised: the stock (not below what was already redeemed), ending the
    window earlier, pausing, and resuming a paused offer whose approved terms are unchanged.

    The offer row is locked for the change so a concurrent redemption cannot slip between the
    stock check and the update (its conditional UPDATE waits and then sees the new stock).
    """
    if problems := patch.null_problems():
        raise ValidationFailed(problems)
    changes = patch.changes()
    status_wanted = changes.pop("status", None)
    async with in_transaction() as conn:
        offer = (
            await Offer.filter(id=offer_id, merchant_id=staff.merchant_id)
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if offer is None:
            raise OfferNotFound()
        current_store_ids = await _store_ids(offer, using_db=conn)
        current = {name: getattr(offer, name) for name in TERMS if name != "store_ids"}
        current["store_ids"] = sorted(str(s) for s in current_store_ids)
        merged = {**current, **changes}
        if "store_ids" in changes:
            merged["store_ids"] = sorted({str(uuid.UUID(s)) for s in changes["store_ids"]})
        window_changed = (
            merged["valid_from"] != current["valid_from"] or merged["valid_until"] != current["valid_until"]
        )
        problems = term_problems(merged, now=now, window_changed=window_changed)
        stock = changes.get("total_stock", offer.total_stock)
        if stock is not None and offer.total_stock is None:
            offer.redeemed_count += await fold_offer(conn, offer.id)
        if stock is not None and stock < offer.redeemed_count:
            problems["total_stock"] = f"must be at least the {offer.redeemed_count} already redeemed"
        if problems:
            raise ValidationFailed(problems)
        stores = (
            await _stores_of(staff.merchant_id, merged["store_ids"], using_db=conn)
            if "store_ids" in changes
            else None
        )

        changed_terms = {name for name in TERMS if merged[name] != current[name]}
        if changed_terms == {"valid_until"} and merged["valid_until"] < current["valid_until"]:
            changed_terms = set()  # ending earlier is always allowed
        updates: dict[str, Any] = {k: v for k, v in changes.items() if k != "store_ids"}
        updates["updated_at"] = now
        status = offer.status
        if changed_terms:
            status = "pending_approval"
            updates.update(approved_at=None, approved_by_id=None)
        elif status_wanted == "paused" and offer.status in ("active", "paused"):
            status = "paused"
        elif status_wanted == "paused":
            raise OfferNotResumable("Only an active offer can be paused.")
        elif status_wanted == "active" and offer.status in ("paused", "active"):
            if offer.approved_at is None:
                raise OfferNotResumable()
            status = "active"
        elif status_wanted == "active":
            raise OfferNotResumable()
        updates["status"] = status
        await Offer.filter(id=offer.id).using_db(conn).update(**updates)
        if stores is not None:
            await offer.stores.clear(using_db=conn)
            if stores:
                await offer.stores.add(*stores, using_db=conn)
            await Offer.filter(id=offer.id).using_db(conn).update(all_stores=not stores)
        offer = await Offer.get(id=offer.id, using_db=conn)
        store_ids = await _store_ids(offer, using_db=conn)
    if cache is not None:
        cache.clear()
    return offer_out(offer, store_ids)


async def list_offers(
    *, merchant_id: uuid.UUID | None, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Offers newest first (of one merchant, or all for a regulator), optionally of one status."""
    query = Offer.all()
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    if status is not None:
        query = query.filter(status=status)
    offers, next_cursor = await keyset_page(query.prefetch_related("stores"), limit=limit, cursor=cursor)
    return page([offer_out(o, [s.id for s in o.stores]) for o in offers], next_cursor)


# --- regulators -----------------------------------------------------------------------------


async def approve_offer(
    offer_id: uuid.UUID, *, admin_id: uuid.UUID | None, now: datetime, cache: StoreOfferCache | None = None
) -> dict:
    """``pending_approval`` → ``active`` (a conditional update: approving twice is a 409)."""
    return await _review(offer_id, admin_id=admin_id, now=now, status="active", note=None, cache=cache)


async def reject_offer(
    offer_id: uuid.UUID,
    *,
    admin_id: uuid.UUID,
    note: str,
    now: datetime,
    cache: StoreOfferCache | None = None,
) -> dict:
    """``pending_approval`` → ``rejected`` with the regulator's note; the owner may edit and resubmit."""
    return await _review(offer_id, admin_id=admin_id, now=now, status="rejected", note=note, cache=cache)


async def _review(
    offer_id: uuid.UUID,
    *,
    admin_id: uuid.UUID | None,
    now: datetime,
    status: str,
    note: str | None,
    cache: StoreOfferCache | None,
) -> dict:
    approved = status == "active"
    if approved and (pending := await Offer.get_or_none(id=offer_id, status="pending_approval")) is not None:
        await refuse_outside_pilot(pending)  # 409 OFFER_OUTSIDE_PILOT, naming the stores outside
    updated = await Offer.filter(id=offer_id, status="pending_approval").update(
        status=status,
        approved_at=now if approved else None,
        approved_by_id=admin_id if approved else None,
        review_note=note,
    )
    offer = await Offer.get_or_none(id=offer_id)
    if offer is None:
        raise OfferNotFound()
    if not updated:
        raise OfferNotPending(status=offer.status)
    if cache is not None:
        cache.clear()
    return offer_out(offer, await _store_ids(offer))


# --- residents ------------------------------------------------------------------------------


_OFFERS_STORES = Offer._meta.fields_map["stores"].through  # type: ignore[attr-defined]
_OFFERED_IN_SQL = f"""
SELECT DISTINCT o.id FROM {Offer._meta.db_table} o
JOIN {Store._meta.db_table} s ON s.merchant_id = o.merchant_id
WHERE o.status = 'active' AND o.valid_from <= $1 AND o.valid_until > $1
  AND (o.all_stores OR EXISTS (SELECT 1 FROM {_OFFERS_STORES} os
                               WHERE os.offer_id = o.id AND os.store_id = s.id))
  AND substr(s.region, 1, length(CAST($2 AS TEXT))) = CAST($2 AS TEXT)
  AND {pilot_allows_sql("o.scenario", "s.region")}
"""


async def benefit_catalogue(
    *,
    scenario: str | None,
    region: str | None,
    merchant_id: uuid.UUID | None,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The benefit catalogue: active offers running now, newest first, and the next page's cursor.

    ``region`` (a GB/T 2260 code, trailing zeros rolling up, or its 2- or 4-digit prefix) keeps
    the offers that apply at one store at least in that region. An offer whose scenario is in
    pilot is listed only if it applies at one store at least inside the pilot (and the region).
    Items carry no ``eligible``: that is the resident's view (``list_benefits``).
    """
    query = Offer.filter(status="active", valid_from__lte=now, valid_until__gt=now)
    if scenario is not None:
        query = query.filter(scenario=scenario)
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    if region is not None or await PilotRegion.exists():
        async with raw_connection() as db:
            rows = await db.fetch(_OFFERED_IN_SQL, now, region_prefix(region) if region else "")
        query = query.filter(id__in=[as_uuid(r["id"]) for r in rows])
    shown, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    names = dict(await Merchant.filter(id__in={o.merchant_id for o in shown}).values_list("id", "name"))
    items = [
        {
            "offer_id": str(o.id),
            "merchant": {"id": str(o.merchant_id), "name": names.get(o.merchant_id, "")},
            "scenario": o.scenario,
            "type": o.type,
            "label": o.label,
            "value": o.value,
            "min_tier": o.min_tier,
            "requires_claim": o.requires_claim,
            "valid_from": o.valid_from,
            "valid_until": o.valid_until,
            "remaining": o.remaining,
        }
        for o in shown
    ]
    return items, next_cursor


async def list_benefits(
    resident: Resident,
    *,
    scenario: str | None,
    merchant_id: uuid.UUID | None,
    now: datetime,
    limit: int,
    cursor: str | None,
    region: str | None = None,
) -> dict[str, Any]:
    """The catalogue (``benefit_catalogue``), each offer with ``eligible`` for the resident's live tier.

    A resident who has not bound an identity has no tier yet: everything is listed, nothing eligible.
    """
    tier = await live_tier(resident.id) if resident.identity_bound else None
    items, next_cursor = await benefit_catalogue(
        scenario=scenario, region=region, merchant_id=merchant_id, now=now, limit=limit, cursor=cursor
    )
    # Deposit waivers are not for a resident whose deposit-free benefits are suspended (an unpaid order).
    waivers_suspended = tier is not None and await is_suspended(resident.id)
    for item in items:
        item["eligible"] = (
            tier_qualifies(tier, item["min_tier"])
            and item["remaining"] != 0
            and not (waivers_suspended and item["type"] == DEPOSIT_WAIVER)
        )
    return {**page(items, next_cursor), "tier": tier}


# --- the scan's view of offers ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreOffer:
    """An active offer of a store, as the scan needs it."""

    id: uuid.UUID
    type: str
    label: str
    value: int | None
    min_tier: str
    requires_claim: bool
    valid_from: datetime
    valid_until: datetime
    total_stock: int | None
    redeemed_count: int

    def candidate(self) -> dict[str, Any]:
        return {
            "offer_id": str(self.id),
            "type": self.type,
            "label": self.label,
            "value": self.value,
            "min_tier": self.min_tier,
        }


_OFFER_STORES = Offer._meta.fields_map["stores"].through  # type: ignore[attr-defined]

STORE_OFFERS_SQL = f"""
SELECT o.id, o.type, o.label, o.value, o.min_tier, o.requires_claim, o.valid_from, o.valid_until,
       o.total_stock, o.redeemed_count
FROM {Offer._meta.db_table} o
WHERE o.merchant_id = $1 AND o.status = 'active' AND o.valid_until > $2
  AND (o.all_stores OR EXISTS (SELECT 1 FROM {_OFFER_STORES} os WHERE os.offer_id = o.id AND os.store_id = $3))
  AND {pilot_allows_sql("o.scenario", f"(SELECT s.region FROM {Store._meta.db_table} s WHERE s.id = $3)")}
ORDER BY o.created_at, o.id
"""


class StoreOfferCache:
    """The active offers of each store, kept ``ttl_s`` seconds in this worker (one indexed query per miss).

    Offer changes made through this worker clear it at once; other workers see them within
    ``ttl_s``. Stock shown by a scan can thus be ``ttl_s`` old: the redemption re-checks it.
    """

    def __init__(
        self, ttl_s: float = 3.0, *, max_stores: int = 10_000, clock: Callable[[], float] = time.monotonic
    ):
        self._ttl_s = ttl_s
        self._max = max_stores
        self._clock = clock
        self._entries: dict[uuid.UUID, tuple[float, list[StoreOffer]]] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def offers(
        self, db: RawConnection, *, merchant_id: uuid.UUID, store_id: uuid.UUID, now: datetime
    ) -> list[StoreOffer]:
        entry = self._entries.get(store_id)
        if entry is not None and self._clock() < entry[0]:
            return entry[1]
        rows = await db.fetch(STORE_OFFERS_SQL, merchant_id, now, store_id)
        offers = [
            StoreOffer(
                id=as_uuid(r["id"]),
                type=r["type"],
                label=r["label"],
                value=r["value"],
                min_tier=r["min_tier"],
                requires_claim=bool(r["requires_claim"]),
                valid_from=as_datetime(r["valid_from"]),
                valid_until=as_datetime(r["valid_until"]),
                total_stock=r["total_stock"],
                redeemed_count=r["redeemed_count"],
            )
            for r in rows
        ]
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[store_id] = (self._clock() + self._ttl_s, offers)
        return offers


def scan_candidates(offers: Iterable[StoreOffer], *, now: datetime) -> list[dict[str, Any]]:
    """The offers a scan at this store may grant right now, whatever the tier (each with its ``min_tier``).

    Offers that need a claimed coupon are left out here; the coupon wallet (issue 6) adds them
    with their ``coupon_id`` for residents who hold one.
    """
    return [
        o.candidate()
        for o in offers
        if not o.requires_claim
        and o.valid_from <= now < o.valid_until
        and (o.total_stock is None or o.redeemed_count < o.total_stock)
    ]


def benefits_for_tier(candidates: Iterable[dict[str, Any]], tier: str | None) -> list[dict[str, Any]]:
    """The candidates a resident of ``tier`` gets, as the scan answers them: nothing at all for ``restricted``."""
    if tier is None or tier == RESTRICTED:
        return []
    return [
        {"offer_id": c["offer_id"], "type": c["type"], "label": c["label"], "value": c["value"]}
        | ({"coupon_id": c["coupon_id"]} if c.get("coupon_id") else {})
        for c in candidates
        if tier_qualifies(tier, c["min_tier"])
    ]


def claimed_candidates(
    offers: Iterable[StoreOffer], coupons: dict[uuid.UUID, uuid.UUID], *, now: datetime
) -> list[dict[str, Any]]:
    """Offers that need a claimed coupon, for a resident holding one (``coupons``: offer id → coupon id)."""
    return [
        o.candidate() | {"coupon_id": str(coupons[o.id])}
        for o in offers
        if o.requires_claim and o.id in coupons and o.valid_from <= now < o.valid_until
    ]
