"""Offline scanning: a store's bundle for devices with no network, and the upload of what they did.

**The bundle** (``GET /merchant/offline-bundle``) is a compact JWS signed by the active pass key
(its ``kid`` is in ``/.well-known/jwks.json``) with ``typ: xinyi-offline-bundle+jwt``: a pass
(``typ: xp``) is never accepted as a bundle, nor a bundle as a pass. It holds the store's offers
that can be granted without a network (active, no claimed coupon needed) with the terms that
decide eligibility and limits, the pass keys as JWKs, the revocation set (``offline.revocation``),
``issued_at`` and ``expires_at`` (now + ``OFFLINE_BUNDLE_TTL_S``). ``tools/offline_verifier.py``
is the reference of how a device uses it.

**The upload** (``POST /merchant/offline-scans``) takes the device's items in order. Each item
is claimed first by its (merchant, device, seq) row, so an item uploaded again answers its
stored result and changes nothing (an interrupted item is resumed: its scan and redemptions
have deterministic ids and Idempotency-Keys). The pass is verified as the device did at
``scanned_at`` (signature, typ, offline life) and checked against the tier moves since it was
issued (``PASS_REVOKED`` when the resident's tier had fallen below the pass's by then); then it
is spent in ``spent_passes`` with its scan logged at ``scanned_at`` (``passes.offline``): a pass
used online or uploaded by another device first is a ``duplicate``, logged as a refused
``PASS_ALREADY_USED`` scan and counted in the store's ``offline_duplicate`` signal. Redemptions go
through the ledger (``redemptions.service.redeem_at_store``) as of ``scanned_at``, so stock and
per-resident limits hold across online and offline; one the ledger refuses for stock or limit
is recorded ``over_limit`` (others ``refused`` with the ledger's code) in ``offline_redemptions``
for the merchant to settle, never kept in the ledger.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from coupons.models import Offer
from credit.scoring import TIERS, tier_rank
from merchants.models import Staff, Store
from offline import revocation
from offline.models import OfflineRedemption, OfflineScan, TierMove
from passes.exceptions import PassExpired, PassInvalid
from passes.keys import VERIFY_LEEWAY_S
from passes.offline import log_offline_scan, log_refused_offline_scan, offline_keys, verify_offline
from passes.service import PassRuntime
from passes.tokens import PASS_ALG, PassClaims, PassSigningKey, jwks
from redemptions.service import redeem_at_store
from server.crypto import FieldCipher
from server.errors import AppError, Conflict
from server.http import page
from server.pagination import keyset_page
from server.sql import DirectPool
from signals.service import record_signal

BUNDLE_TYP = "xinyi-offline-bundle+jwt"
BUNDLE_VERSION = 1
CLOCK_SLACK_S = 300
"""How far a device's ``scanned_at`` may be ahead of the server's clock."""
STALE_PENDING_S = 60
"""An item left ``pending`` that long (its upload was interrupted) is resumed by the next upload."""
OVER_LIMIT_CODES = frozenset({"LIMIT_REACHED", "OUT_OF_STOCK"})
PASS_REVOKED = "PASS_REVOKED"
SCAN_TIME_INVALID = "SCAN_TIME_INVALID"
DUPLICATE_SIGNAL = "offline_duplicate"


class UploadInProgress(Conflict):
    code = "UPLOAD_IN_PROGRESS"
    message = "Another upload of these items is still running: send it again in a few seconds."


# --- the bundle -----------------------------------------------------------------------------


def offer_terms(offer: Offer) -> dict[str, Any]:
    """What a device needs to decide an offer offline: who qualifies, when, how much, how often."""
    return {
        "offer_id": str(offer.id),
        "scenario": offer.scenario,
        "type": offer.type,
        "label": offer.label,
        "value": offer.value,
        "min_tier": offer.min_tier,
        "valid_from": int(offer.valid_from.timestamp()),
        "valid_until": int(offer.valid_until.timestamp()),
        "total_stock": offer.total_stock,
        "remaining": offer.remaining,
        "per_resident_limit": offer.per_resident_limit,
        "per_resident_period": offer.per_resident_period,
    }


async def store_offers(store: Store, *, now: datetime) -> list[dict[str, Any]]:
    """The store's offers a device may grant offline: active, still running, no claimed coupon needed."""
    offers = (
        await Offer.filter(
            Q(all_stores=True) | Q(stores__id=store.id),
            merchant_id=store.merchant_id,
            status="active",
            valid_until__gt=now,
            requires_claim=False,
        )
        .distinct()
        .order_by("created_at", "id")
    )
    return [offer_terms(o) for o in offers]


def sign_bundle(key: PassSigningKey, payload: dict[str, Any]) -> str:
    return jwt.encode(
        payload, key.private_key, algorithm=PASS_ALG, headers={"kid": key.kid, "typ": BUNDLE_TYP}
    )


async def build_bundle(
    rt: PassRuntime, cipher: FieldCipher, store: Store, *, now: datetime, ttl_s: int
) -> dict[str, Any]:
    """``GET /merchant/offline-bundle``: the signed bundle of a store (the caller checked the store access).

    Its pass keys are those that verify uploads: the current ones and those retired within a
    pass's offline life (passes they signed may still be shown offline)."""
    issued_at = int(now.timestamp())
    # Passes issued up to an offline life before now may still be shown while this bundle lives.
    window_s = rt.offline_ttl_s + VERIFY_LEEWAY_S + CLOCK_SLACK_S
    revoked = await revocation.build(rt.pseudonyms, now=now, window_s=window_s)
    key = await rt.keys.signing_key()
    payload = {
        "v": BUNDLE_VERSION,
        "store_id": str(store.id),
        "merchant_id": str(store.merchant_id),
        "offers": await store_offers(store, now=now),
        "keys": jwks((await offline_keys(rt, cipher, now=now)).values())["keys"],
        "revocation": revoked,
        "pass_leeway_s": VERIFY_LEEWAY_S,
        "tiers": list(
            TIERS
        ),  # lowest first: a pass qualifies for an offer when its tier is at least min_tier
        "issued_at": issued_at,
        "expires_at": issued_at + ttl_s,
    }
    bundle = sign_bundle(key, payload)
    return {
        "bundle": bundle,
        "expires_at": datetime.fromtimestamp(issued_at + ttl_s, UTC),
        "revocation_entries": revoked["count"],
        "bytes": len(bundle),
    }


# --- the upload -----------------------------------------------------------------------------


@dataclass
class _Upload:
    rt: PassRuntime
    keys: Any
    ledger: DirectPool | None
    staff: Staff
    store: Store
    device_id: str
    now: datetime
    duplicates: int = 0
    windows: set[datetime] = field(default_factory=set)

    @property
    def merchant_id(self) -> uuid.UUID:
        return self.store.merchant_id


async def upload(
    rt: PassRuntime,
    cipher: FieldCipher,
    *,
    ledger: DirectPool | None,
    staff: Staff,
    store: Store,
    device_id: str,
    items: list[Any],
    now: datetime,
) -> dict[str, Any]:
    """``POST /merchant/offline-scans``: each item's outcome, in the order sent (the caller checked the store)."""
    ctx = _Upload(
        rt=rt,
        keys=await offline_keys(rt, cipher, now=now),
        ledger=ledger,
        staff=staff,
        store=store,
        device_id=device_id,
        now=now,
    )
    results = [await _item(ctx, item) for item in items]
    if ctx.duplicates:
        await _signal_duplicates(ctx)
    return {"results": results}


async def _item(ctx: _Upload, item: Any) -> dict[str, Any]:
    row = await _claim(ctx, item)
    if isinstance(row, dict):
        return row
    result, claims, resident_id = await _process(ctx, row, item)
    await OfflineScan.filter(id=row.id).update(
        outcome=result["outcome"],
        reason=result.get("reason"),
        result=result,
        jti=claims.jti if claims else None,
        resident_id=resident_id,
    )
    return result


async def _claim(ctx: _Upload, item: Any) -> OfflineScan | dict[str, Any]:
    """This upload's row for the item, or the stored result of an item uploaded before."""
    key = {"merchant_id": ctx.merchant_id, "device_id": ctx.device_id, "seq": item.seq}
    try:
        return await OfflineScan.create(
            id=uuid.uuid4(),
            **key,
            store_id=ctx.store.id,
            staff_id=ctx.staff.id,
            scanned_at=item.scanned_at,
            uploaded_at=ctx.now,
            outcome="pending",
        )
    except IntegrityError:
        pass
    for _ in range(100):  # another upload of the same item may be finishing it
        row = await OfflineScan.get(**key)
        if row.outcome != "pending":
            return dict(row.result or {})
        if row.uploaded_at <= ctx.now - timedelta(seconds=STALE_PENDING_S):
            # Interrupted: resume it (only one upload may take it over).
            if await OfflineScan.filter(id=row.id, uploaded_at=row.uploaded_at).update(uploaded_at=ctx.now):
                row.uploaded_at = ctx.now
                return row
        await asyncio.sleep(0.05)
    raise UploadInProgress()


async def _process(
    ctx: _Upload, row: OfflineScan, item: Any
) -> tuple[dict[str, Any], PassClaims | None, uuid.UUID | None]:
    rt, scanned_at = ctx.rt, item.scanned_at
    claims: PassClaims | None = None
    resident_id: uuid.UUID | None = None
    try:
        verified = verify_offline(rt, item.pass_token, keys=ctx.keys, scanned_at=scanned_at)
        claims, resident_id = verified.claims, verified.resident_id
        code = await _refusal(ctx, claims, resident_id, scanned_at)
    except PassExpired as exc:
        code, claims = exc.code, exc.claims
        resident_id = _resident_of(rt, claims)
    except PassInvalid as exc:
        code = exc.code
    if code is not None:
        await _log_refused(ctx, code, resident_id, claims, scanned_at)
        return _result(item.seq, "refused", reason=code), claims, resident_id
    assert claims is not None and resident_id is not None

    fresh = await log_offline_scan(
        rt,
        scan_id=row.id,
        merchant_id=ctx.merchant_id,
        store_id=ctx.store.id,
        staff_id=ctx.staff.id,
        verified=verified,
        scanned_at=scanned_at,
    )
    if not fresh:
        await _log_refused(ctx, "PASS_ALREADY_USED", resident_id, claims, scanned_at)
        ctx.duplicates += 1
        ctx.windows.add(_hour(ctx.now))
        return _result(item.seq, "duplicate", reason="PASS_ALREADY_USED"), claims, resident_id

    redemptions = [
        await _redeem(ctx, row, position, wanted) for position, wanted in enumerate(item.redemptions)
    ]
    over = next((r for r in redemptions if r["outcome"] == "over_limit"), None)
    return (
        _result(
            item.seq,
            "over_limit" if over else "accepted",
            reason=over["reason"] if over else None,
            scan_id=str(row.id),
            redemption_ids=[r["redemption_id"] for r in redemptions if r["outcome"] == "redeemed"],
            redemptions=redemptions,
        ),
        claims,
        resident_id,
    )


async def _refusal(
    ctx: _Upload, claims: PassClaims, resident_id: uuid.UUID, scanned_at: datetime
) -> str | None:
    """Why a genuine pass must be refused at ``scanned_at``: a time that cannot be, or a tier fallen below the pass's."""
    if scanned_at > ctx.now + timedelta(seconds=CLOCK_SLACK_S):
        return SCAN_TIME_INVALID
    issued = datetime.fromtimestamp(claims.iat, UTC)
    moves = await TierMove.filter(resident_id=resident_id, at__gte=issued).order_by("at", "id")
    tier = revocation.tier_at(list(moves), issued_tier=claims.tier, at=scanned_at)
    if _rank(tier) < _rank(claims.tier):
        return PASS_REVOKED
    return None


async def _redeem(ctx: _Upload, row: OfflineScan, position: int, wanted: Any) -> dict[str, Any]:
    """One redemption the device granted: through the ledger as of the scan, or recorded for the merchant."""
    done = await OfflineRedemption.get_or_none(offline_scan_id=row.id, position=position)
    if done is None:
        redemption_id, outcome, reason = None, "redeemed", None
        try:
            redeemed = await redeem_at_store(
                staff_id=ctx.staff.id,
                scan_id=row.id,
                offer_id=wanted.offer_id,
                coupon_id=None,
                order_amount_fen=wanted.order_amount_fen,
                idempotency_key=f"offline:{row.id}:{position}",
                now=row.scanned_at,
                db=ctx.ledger,
            )
            redemption_id = uuid.UUID(str(redeemed.redemption["id"]))
        except AppError as exc:
            if exc.status_code >= 500:  # the ledger is unavailable: the item stays pending and is resumed
                raise
            outcome = "over_limit" if exc.code in OVER_LIMIT_CODES else "refused"
            reason = exc.code
        try:
            done = await OfflineRedemption.create(
                id=uuid.uuid4(),
                offline_scan_id=row.id,
                position=position,
                merchant_id=ctx.merchant_id,
                store_id=ctx.store.id,
                offer_id=wanted.offer_id,
                order_amount_fen=wanted.order_amount_fen,
                outcome=outcome,
                reason=reason,
                redemption_id=redemption_id,
                created_at=row.scanned_at,
            )
        except IntegrityError:
            done = await OfflineRedemption.get(offline_scan_id=row.id, position=position)
    out: dict[str, Any] = {"offer_id": str(done.offer_id), "outcome": done.outcome}
    if done.reason:
        out["reason"] = done.reason
    if done.redemption_id:
        out["redemption_id"] = str(done.redemption_id)
    return out


def _result(seq: int, outcome: str, **fields: Any) -> dict[str, Any]:
    return {"seq": seq, "outcome": outcome, **{k: v for k, v in fields.items() if v is not None}}


async def _log_refused(
    ctx: _Upload, code: str, resident_id: uuid.UUID | None, claims: PassClaims | None, scanned_at: datetime
) -> None:
    await log_refused_offline_scan(
        ctx.rt,
        merchant_id=ctx.merchant_id,
        store_id=ctx.store.id,
        staff_id=ctx.staff.id,
        code=code,
        resident_id=resident_id,
        jti=claims.jti if claims else None,
        scanned_at=scanned_at,
    )


def _resident_of(rt: PassRuntime, claims: PassClaims | None) -> uuid.UUID | None:
    if claims is None:
        return None
    try:
        return rt.pseudonyms.open_subject(claims.sub, claims.jti)
    except PassInvalid:
        return None


def _rank(tier: str | None) -> int:
    try:
        return tier_rank(tier or "restricted")
    except ValueError:
        return 0


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def _signal_duplicates(ctx: _Upload) -> None:
    """Count the store's duplicates of each hour touched in its ``offline_duplicate`` signal (regulators')."""
    for start in sorted(ctx.windows):
        end = start + timedelta(hours=1)
        rows = await OfflineScan.filter(
            store_id=ctx.store.id, outcome="duplicate", uploaded_at__gte=start, uploaded_at__lt=end
        ).values_list("device_id", flat=True)
        await record_signal(
            DUPLICATE_SIGNAL,
            ctx.merchant_id,
            ctx.store.id,
            window_start=start,
            window_end=end,
            count=len(rows),
            detail={"devices": sorted(set(rows))[:20], "source": "offline-scans"},
            now=ctx.now,
        )


# --- the merchant's view -------------------------------------------------------------------


async def list_offline_scans(
    *,
    merchant_id: uuid.UUID,
    store_ids: list[uuid.UUID] | None,
    outcome: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Uploaded items of a merchant, newest upload first: ``over_limit`` ones are what the merchant settles."""
    query = OfflineScan.filter(merchant_id=merchant_id).exclude(outcome="pending")
    if store_ids is not None:
        query = query.filter(store_id__in=store_ids)
    if outcome is not None:
        query = query.filter(outcome=outcome)
    rows, next_cursor = await keyset_page(
        query, limit=limit, cursor=cursor, key=("uploaded_at", datetime), tiebreak=("id", uuid.UUID)
    )
    items = [
        {
            **(row.result or {}),
            "id": str(row.id),
            "store_id": str(row.store_id),
            "device_id": row.device_id,
            "scanned_at": row.scanned_at,
            "uploaded_at": row.uploaded_at,
        }
        for row in rows
    ]
    return page(items, next_cursor)


# --- tier moves (credit's hook) -------------------------------------------------------------


async def on_tier_change(conn: Any, subject: Any, previous_tier: str | None, new_tier: str) -> None:
    """credit's tier-change hook, in the transaction of the change: the move feeds the revocation sets."""
    resident_id = getattr(subject, "resident_id", None)
    if resident_id is None or previous_tier == new_tier:
        return
    await revocation.record_move(
        uuid.UUID(str(resident_id)), previous_tier, new_tier, at=datetime.now(UTC), using_db=conn
    )
