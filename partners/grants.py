"""Residents' grants to partners, and what a partner does with them.

Grants (authorization codes, pairwise references, scope checks), then the partner calls that
read or act on a resident: the tier query, pass verification and online redemptions, and the
regulator's list of merchants a partner may sell.

The flow is OAuth's authorization-code grant without redirects: the resident creates a grant
in the mini-program and hands the one-time code to the partner (in the partner's own page),
the partner exchanges the code over a signed request and receives ``partner_user_ref``, the
resident's pseudonym for that partner, which it then uses for tier queries and redemptions.

**Pairwise references** (OpenID Connect's pairwise subject identifiers): the reference is a
keyed hash (HMAC-SHA256 under ``DATA_HASH_KEY``) of (partner id, resident id). It is stable for
one partner and one resident across grants, differs between partners (two partners cannot
join their data on it), and cannot be computed by anyone without the server key; it contains
nothing a partner sees (openid, ID number). The verification of a pass answers the same
reference as ``resident_ref``, so a partner can connect a pass shown at its counter with the
grant the resident gave it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from coupons.models import Offer
from partners import access_log, webhooks
from partners.exceptions import (
    GrantCodeInvalid,
    GrantNotFound,
    GrantRequired,
    OfferNotAvailable,
    PartnerNotFound,
)
from partners.models import Grant, GrantStatus, Partner, PartnerMerchant
from redemptions import rules
from redemptions import service as ledger
from residents.models import Resident
from residents.service import is_consented
from server.crypto import KeyedHasher
from server.dbtypes import DbConn
from server.errors import ValidationFailed
from server.http import page
from server.pagination import keyset_page
from server.sql import DirectPool

# Domains below hear here that a grant the partner held ended: revoked, or replaced by a newer one
# of the same pair (``xinyi.wiring``: credit withdraws the partner's third-party score unless a
# grant with score:write still stands), inside the transaction that ended it.
GrantRevokedHook = Callable[[DbConn, Grant, datetime], Awaitable[None]]
grant_revoked_hooks: list[GrantRevokedHook] = []


def listen_to_grant_revocations(hook: GrantRevokedHook) -> None:
    if hook not in grant_revoked_hooks:
        grant_revoked_hooks.append(hook)


CODE_TTL = timedelta(minutes=10)
"""An authorization code lives 10 minutes and is spent by its first exchange."""
GRANT_TTL = timedelta(days=365)
"""An exchanged grant lasts a year, then the partner must ask the resident again."""
REF_CHARS = 32  # 128 bits of the HMAC
_REF = re.compile(r"^[0-9a-f]{32}$")


def partner_user_ref(hasher: KeyedHasher, *, partner_id: uuid.UUID, resident_id: uuid.UUID) -> str:
    """The resident's pairwise pseudonym for this partner (32 hex characters)."""
    return hasher.digest(f"{partner_id}\x00{resident_id}", purpose="partner_user_ref")[:REF_CHARS]


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def grant_status(grant: Grant, now: datetime) -> str:
    """The status a resident sees: the stored one, or ``expired`` once its dates passed."""
    if grant.status == GrantStatus.PENDING and grant.code_expires_at <= now:
        return "expired"
    if grant.status == GrantStatus.ACTIVE and grant.expires_at is not None and grant.expires_at <= now:
        return "expired"
    return grant.status


def grant_out(grant: Grant, partner_name: str, now: datetime) -> dict[str, Any]:
    return {
        "id": str(grant.id),
        "partner": {"id": str(grant.partner_id), "name": partner_name},
        "scopes": list(grant.scopes),
        "status": grant_status(grant, now),
        "created_at": grant.created_at,
        "code_expires_at": grant.code_expires_at,
        "activated_at": grant.activated_at,
        "expires_at": grant.expires_at,
        "revoked_at": grant.revoked_at,
    }


# --- residents ------------------------------------------------------------------------------


async def create_grant(
    resident: Resident, *, partner_id: uuid.UUID, scopes: list[str], hasher: KeyedHasher, now: datetime
) -> dict[str, Any]:
    """A pending grant and its authorization code (shown once; stored as its SHA-256 only).

    The scopes must all be among the partner's own, else 422: a resident cannot hand a partner
    more than a regulator allowed it.
    """
    partner = await Partner.get_or_none(id=partner_id)
    if partner is None:
        raise ValidationFailed({"partner_id": "no such partner"})
    foreign = sorted(set(scopes) - set(partner.scopes or []))
    if foreign:
        raise ValidationFailed({"scopes": f"not among this partner's scopes: {', '.join(foreign)}"})
    code = "gc_" + secrets.token_urlsafe(32)
    grant = await Grant.create(
        partner_id=partner.id,
        resident_id=resident.id,
        scopes=sorted(set(scopes)),
        partner_user_ref=partner_user_ref(hasher, partner_id=partner.id, resident_id=resident.id),
        status=GrantStatus.PENDING.value,
        code_hash=_code_hash(code),
        code_expires_at=now + CODE_TTL,
    )
    return {
        **grant_out(grant, partner.name, now),
        "authorization_code": code,
        "expires_at": grant.code_expires_at,
    }


async def list_grants(resident: Resident, *, now: datetime, limit: int, cursor: str | None) -> dict[str, Any]:
    """The resident's grants, newest first, with the partner's name."""
    shown, next_cursor = await keyset_page(Grant.filter(resident_id=resident.id), limit=limit, cursor=cursor)
    names = dict(await Partner.filter(id__in={g.partner_id for g in shown}).values_list("id", "name"))
    return page([grant_out(g, names.get(g.partner_id, ""), now) for g in shown], next_cursor)


async def revoke_grant(resident: Resident, grant_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """Revoke one of the resident's grants at once; the partner hears ``grant.revoked``.

    The webhook is written to the outbox in the revocation's transaction, only for a grant the
    partner held (exchanged and not expired): a partner never saw a pending grant's reference.
    Revoking twice answers the same revoked grant.
    """
    async with in_transaction() as conn:
        grant = (
            await Grant.filter(id=grant_id, resident_id=resident.id)
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if grant is None:
            raise GrantNotFound()
        await _revoke(conn, grant, now=now)
        partner = await Partner.get(id=grant.partner_id, using_db=conn)
    return grant_out(grant, partner.name, now)


async def revoke_all(conn: DbConn, resident_id: uuid.UUID, *, now: datetime) -> int:
    """Revoke every grant of the resident still pending or active, in ``conn`` (the account is erased).

    Each is revoked as ``revoke_grant`` does it, so each partner that held one hears ``grant.revoked``.
    Returns how many grants were revoked.
    """
    grants = (
        await Grant.filter(
            resident_id=resident_id, status__in=(GrantStatus.PENDING.value, GrantStatus.ACTIVE.value)
        )
        .order_by("id")
        .select_for_update()
        .using_db(conn)
    )
    for grant in grants:
        await _revoke(conn, grant, now=now)
    return len(grants)


async def _revoke(conn: DbConn, grant: Grant, *, now: datetime) -> None:
    """Revoke a locked grant unless it ended already; ``grant.revoked`` if the partner held it."""
    if grant.status not in (GrantStatus.PENDING, GrantStatus.ACTIVE):
        return
    was_held = grant_status(grant, now) == GrantStatus.ACTIVE
    await Grant.filter(id=grant.id).using_db(conn).update(status=GrantStatus.REVOKED.value, revoked_at=now)
    grant.status, grant.revoked_at = GrantStatus.REVOKED.value, now
    if was_held:
        await webhooks.enqueue_grant_revoked(conn, grant, now=now)
        for hook in list(grant_revoked_hooks):
            await hook(conn, grant, now)


# --- partners -------------------------------------------------------------------------------


async def exchange_code(partner: Partner, code: str, *, now: datetime) -> dict[str, Any]:
    """Spend an authorization code issued to this partner: the grant becomes active.

    One conditional UPDATE (pending, not expired, this partner) spends the code, so of two
    concurrent exchanges exactly one succeeds. Any other active grant of the same resident to
    the same partner is marked ``replaced`` in the same transaction: one grant per pair, the
    latest the resident gave.
    """
    expires_at = now + GRANT_TTL
    code_hash = _code_hash(code)
    async with in_transaction() as conn:
        spent = (
            await Grant.filter(
                code_hash=code_hash,
                partner_id=partner.id,
                status=GrantStatus.PENDING.value,
                code_expires_at__gt=now,
            )
            .using_db(conn)
            .update(status=GrantStatus.ACTIVE.value, activated_at=now, expires_at=expires_at)
        )
        if spent != 1:
            raise GrantCodeInvalid()
        grant = await Grant.get(code_hash=code_hash, using_db=conn)
        replaced = await (
            Grant.filter(
                partner_id=partner.id, resident_id=grant.resident_id, status=GrantStatus.ACTIVE.value
            )
            .exclude(id=grant.id)
            .using_db(conn)
            .update(status=GrantStatus.REPLACED.value, revoked_at=now)
        )
        if replaced:
            for hook in list(grant_revoked_hooks):
                await hook(conn, grant, now)
    return {
        "partner_user_ref": grant.partner_user_ref,
        "scopes": list(grant.scopes),
        "expires_at": expires_at,
    }


@dataclass(frozen=True, slots=True)
class GrantedResident:
    resident_id: uuid.UUID
    grant_id: uuid.UUID


async def require_grant(partner: Partner, ref: str, *, scope: str, now: datetime) -> GrantedResident:
    """The resident behind ``ref`` if it granted this partner ``scope`` and the grant still holds.

    403 ``GRANT_REQUIRED`` otherwise, whatever the reason (never given, revoked, expired, a
    reference of another partner, a malformed one, a resident who withdrew consent): a partner
    learns nothing about references that are not its own.
    """
    if not _REF.match(ref):
        raise GrantRequired()
    grants = await Grant.filter(
        partner_id=partner.id, partner_user_ref=ref, status=GrantStatus.ACTIVE.value, expires_at__gt=now
    ).order_by("-activated_at")
    grant = next((g for g in grants if scope in (g.scopes or [])), None)
    if grant is None:
        raise GrantRequired()
    resident = await Resident.get_or_none(id=grant.resident_id)
    if resident is None or not is_consented(resident) or not resident.identity_bound:
        raise GrantRequired()
    return GrantedResident(resident_id=grant.resident_id, grant_id=grant.id)


async def read_tier(partner: Partner, ref: str, *, now: datetime) -> dict[str, Any]:
    """``tier:read``: the resident's live tier, logged in the resident's access log."""
    from credit.service import live_tier

    granted = await require_grant(partner, ref, scope="tier:read", now=now)
    tier = await live_tier(granted.resident_id)
    await access_log.record(
        partner_id=partner.id, resident_id=granted.resident_id, purpose=access_log.TIER_READ, at=now
    )
    return {"tier": tier, "as_of": now}


# --- regulators: merchants a partner may sell -----------------------------------------------


async def set_partner_merchants(partner_id: uuid.UUID, merchant_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Replace the merchants whose offers the partner may redeem online (422 for unknown merchants)."""
    from merchants.models import Merchant

    wanted = list(dict.fromkeys(merchant_ids))
    async with in_transaction() as conn:
        partner = await Partner.filter(id=partner_id).select_for_update().using_db(conn).first()
        if partner is None:
            raise PartnerNotFound()
        found = (
            set(await Merchant.filter(id__in=wanted).using_db(conn).values_list("id", flat=True))
            if wanted
            else set()
        )
        missing = [str(m) for m in wanted if m not in found]
        if missing:
            raise ValidationFailed({"merchant_ids": f"no such merchants: {', '.join(missing)}"})
        stale = PartnerMerchant.filter(partner_id=partner_id)
        await (stale.exclude(merchant_id__in=wanted) if wanted else stale).using_db(conn).delete()
        present = set(
            await PartnerMerchant.filter(partner_id=partner_id)
            .using_db(conn)
            .values_list("merchant_id", flat=True)
        )
        new = [PartnerMerchant(partner_id=partner_id, merchant_id=m) for m in wanted if m not in present]
        if new:
            await PartnerMerchant.bulk_create(new, using_db=conn)
    return {"partner_id": str(partner_id), "merchant_ids": sorted(str(m) for m in wanted)}


async def partner_merchants(partner_id: uuid.UUID) -> dict[str, Any]:
    if not await Partner.exists(id=partner_id):
        raise PartnerNotFound()
    ids = await PartnerMerchant.filter(partner_id=partner_id).values_list("merchant_id", flat=True)
    return {"partner_id": str(partner_id), "merchant_ids": sorted(str(m) for m in ids)}


async def merchant_linked(partner_id: uuid.UUID, merchant_id: uuid.UUID) -> bool:
    return await PartnerMerchant.exists(partner_id=partner_id, merchant_id=merchant_id)


# --- partners: pass verification --------------------------------------------------------------


async def verify_pass(
    partner: Partner, token: str, *, consume: bool, runtime: Any, hasher: KeyedHasher, now: datetime
) -> dict[str, Any]:
    """``pass:verify``: whether a pass is good, with the live tier and the resident's reference for this partner.

    The check and the spending are the merchant scan's own (``passes.service.check_pass``: the
    same keys, the same ``spent_passes`` key in PostgreSQL), so a pass spent here is spent for
    merchants and the other way round. A bad pass is an answer, not an error: ``valid: false``
    with the scan's code. A database outage is a 503: never a verification without the check.
    """
    from credit.service import live_tier
    from passes.exceptions import PassAlreadyUsed, PassExpired, PassInvalid
    from passes.service import check_pass
    from residents.exceptions import IdentityRequired

    try:
        verified = await check_pass(runtime, token, now=now, consume=consume)
    except (PassInvalid, PassExpired, PassAlreadyUsed) as exc:
        return {"valid": False, "reason": exc.code}
    try:
        tier = await live_tier(verified.resident_id)
    except IdentityRequired:  # the account was erased (or unbound) since the pass was issued
        return {"valid": False, "reason": PassInvalid.code}
    await access_log.record(
        partner_id=partner.id, resident_id=verified.resident_id, purpose=access_log.PASS_VERIFY, at=now
    )
    return {
        "valid": True,
        "tier": tier,
        "resident_ref": partner_user_ref(hasher, partner_id=partner.id, resident_id=verified.resident_id),
        "expires_at": datetime.fromtimestamp(verified.claims.exp, UTC),
    }


# --- partners: online redemptions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnlineRedemption:
    redemption: dict[str, Any]
    status_code: int  # 201 a new redemption, 200 the same order again


async def redeem_online(
    partner: Partner,
    *,
    ref: str,
    offer_id: uuid.UUID,
    external_order_id: str,
    order_amount_fen: int,
    now: datetime,
    db: DirectPool | None = None,
) -> OnlineRedemption:
    """``redemption:write``: redeem an offer for a resident who granted it, through the ledger merchants use.

    The partner needs an active grant with ``redemption:write`` (403 ``GRANT_REQUIRED``) and a
    link to the offer's merchant (403 ``OFFER_NOT_AVAILABLE``, also for an offer that does not
    exist: a partner learns nothing about merchants it does not sell). Everything else (live
    tier, window, stock shared with the stores, per-resident limits, races) is the ledger's,
    which is idempotent by (partner, external_order_id): the same order again answers the first
    redemption with 200, another body 409 ``IDEMPOTENCY_CONFLICT``.
    """
    granted = await require_grant(partner, ref, scope="redemption:write", now=now)
    offer = await Offer.get_or_none(id=offer_id)
    if offer is None or not await merchant_linked(partner.id, offer.merchant_id):
        raise OfferNotAvailable()
    result = await ledger.redeem(
        resident_id=granted.resident_id,
        offer_id=offer_id,
        order_amount_fen=order_amount_fen,
        channel=rules.PARTNER,
        now=now,
        partner_id=partner.id,
        external_order_id=external_order_id,
        db=db,
    )
    if not result.replayed:
        await access_log.record(
            partner_id=partner.id,
            resident_id=granted.resident_id,
            purpose=access_log.ONLINE_REDEMPTION,
            at=now,
        )
    return OnlineRedemption(redemption=result.redemption, status_code=200 if result.replayed else 201)
