"""The pass: issue it to a resident, scan it at a store (once), log every scan.

The scan is the hottest path of the product. On this kind of machine each round trip (a
socket write and read) costs more CPU than the work at the other end, so the scan is built to
make two: the HTTP request itself and one PostgreSQL statement.

1. The access token and the pass are checked in memory (HS256, Ed25519 with cached keys).
2. Whether the staff member may scan in the store comes from a per-worker cache of a few
   seconds (one indexed query on a miss). It decides the 403 *before* the pass is spent.
3. The store's active offers come from a per-worker cache of a few seconds (one indexed query
   on a miss; redemptions re-check everything).
4. One statement spends the pass (``spent_passes``, its primary key: no pass is ever accepted
   twice, by any worker, store or partner), logs the scan (its id is the ``scan_id``),
   re-checks the staff member against the tables and reads the resident's live tier
   (``credit_scores`` through ``credit_subjects.resident_id``, both indexed), on a connection
   of ``server.sql.HotDatabase`` (no reset round trip, asynchronous commit: see there why that
   is safe for this log). A replay fails on the primary key and is logged as refused.

Redis is not on this path: single use is PostgreSQL's alone, so a scan needs no Redis and an
outage of Redis does not stop scans. (An earlier design spent the pass in Redis first; the
database had to be asked anyway, so that was a second round trip deciding nothing.)

Refused scans (bad, expired or replayed pass, a store that is not the staff member's) are
logged too, with the error code, so merchants and regulators can see them and the resident's
access log can show who scanned a genuine pass. Issuing a pass is one SELECT (the resident's
consent, identity and live tier) and an Ed25519 signature.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError

from coupons.service import StoreOfferCache, benefits_for_tier, claimed_candidates, live_tier, scan_candidates
from coupons.suspensions import suspended_sql, without_suspended
from credit.scoring import LOCAL_TZ
from credit.sql_fragments import live_tier_sql
from merchants.exceptions import StoreNotYours
from merchants.models import Staff, Store
from passes.exceptions import (
    PassAlreadyUsed,
    PassExpired,
    PassInvalid,
    ScanExpired,
    ScanNotFound,
    ScanRefused,
)
from passes.keys import VERIFY_LEEWAY_S, PassKeyRing
from passes.models import Scan, SpentPass
from passes.qr import render_qr_png
from passes.subjects import Pseudonyms
from passes.tokens import PassClaims, issue_pass_token
from residents.consent import CURRENT_TERMS
from residents.exceptions import ConsentRequired, IdentityRequired, ResidentGone
from residents.models import Resident
from server.errors import AppError, IdempotencyConflict, Unauthenticated
from server.http import page
from server.metrics import count_scan
from server.pagination import keyset_page
from server.sql import HotDatabase, RawConnection, as_datetime, as_uuid

PASS_TTL_S = 90
"""A pass lives 90 s (the contract allows 120): long enough for a slow network, short for a screenshot."""
REFRESH_AFTER_S = 45
"""The app asks for a fresh pass after 45 s, so the one on screen always has ≥ 45 s left."""
SCAN_TTL_S = 300
"""Redemptions may use a scan for 5 minutes."""

ACCEPTED, REFUSED = "accepted", "refused"


_RESIDENT_SQL = f"""
SELECT r.consent_version, r.id_number_hash IS NOT NULL AS identity_bound, {live_tier_sql("r.id")} AS tier
FROM {Resident._meta.db_table} r WHERE r.id = $1
"""

_STAFF_STORES = Staff._meta.fields_map["stores"].through  # type: ignore[attr-defined]

_STORE_ACCESS_SQL = f"""
SELECT st.merchant_id,
       EXISTS (SELECT 1 FROM {Store._meta.db_table} s WHERE s.id = $2 AND s.merchant_id = st.merchant_id
               AND (st.role = 'owner'
                    OR EXISTS (SELECT 1 FROM {_STAFF_STORES} ss WHERE ss.staff_id = st.id AND ss.store_id = s.id))
       ) AS allowed
FROM {Staff._meta.db_table} st WHERE st.id = $1 AND st.is_active
"""

SCAN_COLUMNS = (
    "id, merchant_id, store_id, staff_id, resident_id, outcome, reason, tier, jti, offers, idempotency_key, "
    "request_hash, created_at, expires_at"
)


# The accepted scan in one statement: the staff member is re-checked (active, works in the
# store: the per-worker access cache may be seconds old) and the live tier is read as it is
# inserted. No row back means the staff member lost access in the meantime.
def _accepted_scan_sql(*, spend: bool) -> str:
    """The accepted scan's INSERT; with ``spend`` (PostgreSQL) the pass is spent in the same statement.

    Spent in the statement, a replay of a pass that Redis no longer remembers fails on the spent
    pass's primary key and nothing is logged as accepted. SQLite has no data-modifying WITH: there
    the pass is spent just before (``SPEND_ALONE_SQL``), its writers are serialised anyway.
    """
    spent, spent_from = (
        (f"WITH spent AS ({SPEND_SQL.format(jti='$5', until='$11')} RETURNING jti)\n", "spent, ")
        if spend
        else ("", "")
    )
    return f"""{spent}INSERT INTO {Scan._meta.db_table} ({SCAN_COLUMNS})
SELECT $1, st.merchant_id, $2, st.id, $4, 'accepted', NULL, {live_tier_sql("$4")}, $5, $6, $7, $8, $9, $10
FROM {spent_from}{Staff._meta.db_table} st
WHERE st.id = $3 AND st.is_active
  AND EXISTS (SELECT 1 FROM {Store._meta.db_table} s WHERE s.id = $2 AND s.merchant_id = st.merchant_id
              AND (st.role = 'owner'
                   OR EXISTS (SELECT 1 FROM {_STAFF_STORES} ss WHERE ss.staff_id = st.id AND ss.store_id = s.id)))
RETURNING merchant_id, tier, {suspended_sql("$4")} AS waiver_suspended
"""


# Spending a pass: in the scan's statement, on its own for SQLite's scan and a partner's verification
# that consumes it, and in the offline uploads' statements (``passes.offline``).
SPEND_SQL = "INSERT INTO " + SpentPass._meta.db_table + " (jti, expires_at) VALUES ({jti}, {until})"
SPEND_ALONE_SQL = SPEND_SQL.format(jti="$1", until="$2")
_SPEND_AND_SCAN_SQL = _accepted_scan_sql(spend=True)
_ACCEPTED_SCAN_SQL = _accepted_scan_sql(spend=False)
_SPENT_SQL = f"SELECT 1 AS spent FROM {SpentPass._meta.db_table} WHERE jti = $1"


_INSERT_REFUSED_SQL = f"""
INSERT INTO {Scan._meta.db_table} ({SCAN_COLUMNS})
VALUES ($1, $2, $3, $4, $5, 'refused', $6, NULL, $7, NULL, NULL, NULL, $8, NULL)
"""

_SCAN_BY_KEY_SQL = f"""
SELECT id, merchant_id, resident_id, tier, offers, request_hash, expires_at,
       {suspended_sql(Scan._meta.db_table + ".resident_id")} AS waiver_suspended
FROM {Scan._meta.db_table} WHERE staff_id = $1 AND idempotency_key = $2
"""


@dataclass
class PassRuntime:
    """What the pass services need, built once per worker (``passes.lifecycle``)."""

    keys: PassKeyRing
    pseudonyms: Pseudonyms
    store_offers: StoreOfferCache
    store_access: StoreAccessCache
    db: HotDatabase
    offline_ttl_s: int = 43200  # OFFLINE_BUNDLE_TTL_S: a pass's offline life (claims ``o`` and ``rv``)


# --- issue ----------------------------------------------------------------------------------


async def issue_pass(
    rt: PassRuntime, *, resident_id: uuid.UUID, now: datetime, image: bool
) -> dict[str, Any]:
    """A fresh pass for a resident who consented and bound the identity (one SELECT, then signing)."""
    async with rt.db.connection() as db:
        row = await db.fetchrow(_RESIDENT_SQL, resident_id)
    if row is None:
        raise ResidentGone()
    if row["consent_version"] != CURRENT_TERMS["version"]:
        raise ConsentRequired()
    if not row["identity_bound"]:
        raise IdentityRequired()
    tier = row["tier"] or await live_tier(resident_id)
    key = await rt.keys.signing_key()
    jti = base64.urlsafe_b64encode(secrets.token_bytes(9)).decode("ascii")
    now_s = int(now.timestamp())
    token, claims = issue_pass_token(
        key=key,
        subject=rt.pseudonyms.seal_subject(resident_id, jti),
        tier=tier,
        now=now_s,
        ttl_s=PASS_TTL_S,
        jti=jti,
        offline_ttl_s=rt.offline_ttl_s,
        revocation_handle=rt.pseudonyms.revocation_handle(resident_id, business_day_of(now_s)),
    )
    return {
        "token": token,
        "expires_at": datetime.fromtimestamp(claims.exp, UTC),
        "refresh_after_s": REFRESH_AFTER_S,
        "tier": tier,
        "qr_png_base64": base64.b64encode(render_qr_png(token)).decode("ascii") if image else None,
    }


# --- verify (partners) ----------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedPass:
    resident_id: uuid.UUID
    claims: PassClaims


async def check_pass(rt: PassRuntime, token: str, *, now: datetime, consume: bool) -> VerifiedPass:
    """Verify a pass and, with ``consume``, spend it (PassInvalid, PassExpired, PassAlreadyUsed, 503)."""
    now_s = int(now.timestamp())
    claims = await rt.keys.verify(token, now=now_s)
    resident_id = rt.pseudonyms.open_subject(claims.sub, claims.jti)
    if consume:
        try:  # the primary key of spent_passes is the one check of single use
            async with rt.db.connection() as db:
                await db.execute(SPEND_ALONE_SQL, claims.jti, spent_until_of(claims))
        except IntegrityError:
            raise PassAlreadyUsed() from None
    elif await _spent(rt, claims.jti):
        raise PassAlreadyUsed()
    return VerifiedPass(resident_id=resident_id, claims=claims)


def spent_until_of(claims: PassClaims) -> datetime:
    """How long a spent pass must be remembered: until it can no longer verify (offline too: ``o``)."""
    return datetime.fromtimestamp(max(claims.exp, claims.offline_exp or 0) + VERIFY_LEEWAY_S, UTC)


def business_day_of(unix_s: int) -> date:
    """The China Standard Time day of a pass issued at ``unix_s`` (its revocation handle's day)."""
    return datetime.fromtimestamp(unix_s, LOCAL_TZ).date()


async def _spent(rt: PassRuntime, jti: str) -> bool:
    async with rt.db.connection() as db:
        return await db.fetchrow(_SPENT_SQL, jti) is not None


# --- scan -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreAccess:
    merchant_id: uuid.UUID
    allowed: bool


class StoreAccessCache:
    """Staff members allowed to scan in a store, remembered ``ttl_s`` seconds by this worker.

    Only a yes is remembered: a refusal is always read from the tables, so it is exact, and it
    comes before the pass is spent. A yes may be ``ttl_s`` old, which is why the scan's INSERT
    checks again from the tables: a staff member disabled or moved a moment ago gets no scan.
    """

    def __init__(
        self, ttl_s: float = 5.0, *, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ):
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._allowed: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, StoreAccess]] = {}

    async def lookup(self, db: RawConnection, staff_id: uuid.UUID, store_id: uuid.UUID) -> StoreAccess | None:
        """None: no such active staff member."""
        key = (staff_id, store_id)
        entry = self._allowed.get(key)
        if entry is not None and self._clock() < entry[0]:
            return entry[1]
        row = await db.fetchrow(_STORE_ACCESS_SQL, staff_id, store_id)
        if row is None:
            return None
        access = StoreAccess(merchant_id=as_uuid(row["merchant_id"]), allowed=bool(row["allowed"]))
        if access.allowed:
            if len(self._allowed) >= self._max:
                self._allowed.clear()
            self._allowed[key] = (self._clock() + self._ttl_s, access)
        return access

    def forget(self, staff_id: uuid.UUID, store_id: uuid.UUID) -> None:
        self._allowed.pop((staff_id, store_id), None)


def scan_request_hash(*, token: str, store_id: uuid.UUID) -> str:
    return hashlib.sha256(f"{store_id}\n{token}".encode()).hexdigest()


async def scan_pass(
    rt: PassRuntime,
    *,
    staff_id: uuid.UUID,
    store_id: uuid.UUID,
    token: str,
    idempotency_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Scan a pass at a store: the live tier, the benefits, a ``scan_id``; every outcome is logged.

    With an ``Idempotency-Key``, a retry of the same request answers the first scan again (the
    pass is spent by then, so the replay is found when its spending fails on the primary key), and the
    same key with another pass or store is a 409 ``IDEMPOTENCY_CONFLICT``.
    """
    now_s = int(now.timestamp())
    claims: PassClaims | None = None
    resident_id: uuid.UUID | None = None
    failure: AppError | None = None
    try:
        claims = await rt.keys.verify(token, now=now_s)
        resident_id = rt.pseudonyms.open_subject(claims.sub, claims.jti)
    except PassExpired as exc:
        failure, claims = exc, exc.claims
        resident_id = _resident_of(rt, claims)
        if resident_id is None:
            failure, claims = PassInvalid(), None
    except PassInvalid as exc:
        failure = exc
    request_hash = scan_request_hash(token=token, store_id=store_id) if idempotency_key else None

    async with rt.db.connection() as db:
        access = await rt.store_access.lookup(db, staff_id, store_id)
        if access is None:
            raise Unauthenticated("This staff account is disabled.")
        log = _ScanLog(db, merchant_id=access.merchant_id, store_id=store_id, staff_id=staff_id, now=now)
        if not access.allowed:
            failure = StoreNotYours()
        if failure is not None:
            await log.refused(failure, resident_id=resident_id, claims=claims)
            raise failure
        assert claims is not None and resident_id is not None
        offers = await rt.store_offers.offers(db, merchant_id=access.merchant_id, store_id=store_id, now=now)
        candidates = scan_candidates(offers, now=now)
        if any(o.requires_claim for o in offers):  # only stores with coupon offers pay this read
            candidates += claimed_candidates(offers, await _held_coupons(db, resident_id, now=now), now=now)
        scan_id = uuid.uuid4()
        expires_at = now + timedelta(seconds=SCAN_TTL_S)
        spent_until = spent_until_of(claims)
        values = (
            scan_id,
            store_id,
            staff_id,
            resident_id,
            claims.jti,
            orjson.dumps(candidates).decode(),
            idempotency_key,
            request_hash,
            now,
            expires_at,
        )
        try:
            if db.sqlite:
                await db.execute(SPEND_ALONE_SQL, claims.jti, spent_until)
                row = await db.fetchrow(_ACCEPTED_SCAN_SQL, *values)
            else:
                row = await db.fetchrow(_SPEND_AND_SCAN_SQL, *values, spent_until)
        except IntegrityError as exc:
            if _spent_already(exc):
                # A replay: with this request's Idempotency-Key it is a retry, answered with
                # the first scan; otherwise refused (and logged).
                if idempotency_key is not None and (
                    replay := await _replay(db, rt, staff_id, idempotency_key, request_hash)
                ):
                    return replay
                await log.refused(PassAlreadyUsed(), resident_id=resident_id, claims=claims)
                raise PassAlreadyUsed() from None
            # The key is taken by a scan of another pass or store (found only now, so that
            # requests without a key never pay a lookup): the first request owns the key.
            conflict = IdempotencyConflict()
            await log.refused(conflict, resident_id=resident_id, claims=claims)
            raise conflict from None
        if row is None:  # access lost since the cached check (the pass is spent: it must be shown again)
            rt.store_access.forget(staff_id, store_id)
            if await rt.store_access.lookup(db, staff_id, store_id) is None:
                raise Unauthenticated("This staff account is disabled.")
            await log.refused(StoreNotYours(), resident_id=resident_id, claims=claims)
            raise StoreNotYours()
        tier = row["tier"]
        # Deposit-free benefits suspended (an unpaid deposit-free order): read in the same INSERT.
        waiver_suspended = row["waiver_suspended"]
    count_scan(ACCEPTED)
    if tier is None:  # no score row yet (bound before the credit engine ran): the engine makes one
        tier = await live_tier(resident_id)
        async with rt.db.connection() as db:
            await db.execute(f"UPDATE {Scan._meta.db_table} SET tier = $1 WHERE id = $2", tier, scan_id)
    return {
        "scan_id": str(scan_id),
        "tier": tier,
        "resident_ref": rt.pseudonyms.resident_ref(party_id=access.merchant_id, resident_id=resident_id),
        "benefits": benefits_for_tier(without_suspended(candidates, waiver_suspended), tier),
        "expires_at": expires_at,
    }


def _spent_already(exc: IntegrityError) -> bool:
    """Whether the unique key that refused the insert is the spent pass's (not the scan's Idempotency-Key)."""
    cause: BaseException | None = exc
    while cause is not None:
        if SpentPass._meta.db_table in str(cause):
            return True
        cause = cause.__cause__ or (
            cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        )
    return False


async def purge_spent_passes(now: datetime) -> int:
    """Forget spent passes that can no longer verify (their expiry plus the leeway is past)."""
    return await SpentPass.filter(expires_at__lt=now).delete()


_HELD_COUPONS_SQL = (
    "SELECT offer_id, id, expires_at FROM coupons WHERE resident_id = $1 AND status = 'active'"
)


async def _held_coupons(
    db: RawConnection, resident_id: uuid.UUID, *, now: datetime
) -> dict[uuid.UUID, uuid.UUID]:
    """The resident's usable coupon per offer (the one expiring first), on the scan's own connection.

    The same answer as ``coupons.ledger.unused_coupons``, read here on the connection the scan
    already holds (SQLite has a single connection, so an ORM query from inside would wait on it).
    """
    rows = sorted(
        (as_datetime(r["expires_at"]), str(r["id"]), as_uuid(r["offer_id"]))
        for r in await db.fetch(_HELD_COUPONS_SQL, resident_id)
    )
    held: dict[uuid.UUID, uuid.UUID] = {}
    for expires_at, coupon_id, offer_id in rows:
        if expires_at is not None and expires_at > now and offer_id is not None:
            held.setdefault(offer_id, uuid.UUID(coupon_id))
    return held


def _resident_of(rt: PassRuntime, claims: PassClaims | None) -> uuid.UUID | None:
    if claims is None:
        return None
    try:
        return rt.pseudonyms.open_subject(claims.sub, claims.jti)
    except PassInvalid:
        return None


class _ScanLog:
    def __init__(
        self,
        db: RawConnection,
        *,
        merchant_id: uuid.UUID,
        store_id: uuid.UUID,
        staff_id: uuid.UUID,
        now: datetime,
    ):
        self.db, self.merchant_id, self.store_id, self.staff_id, self.now = (
            db,
            merchant_id,
            store_id,
            staff_id,
            now,
        )

    async def refused(
        self, error: AppError, *, resident_id: uuid.UUID | None, claims: PassClaims | None
    ) -> None:
        await self.db.execute(
            _INSERT_REFUSED_SQL,
            uuid.uuid4(),
            self.merchant_id,
            self.store_id,
            self.staff_id,
            resident_id,
            error.code,
            claims.jti if claims else None,
            self.now,
        )
        count_scan(REFUSED, error.code)


async def _replay(
    db: RawConnection, rt: PassRuntime, staff_id: uuid.UUID, key: str, request_hash: str | None
) -> dict[str, Any] | None:
    """The answer of the scan first made with this Idempotency-Key (None: no such scan yet)."""
    row = await db.fetchrow(_SCAN_BY_KEY_SQL, staff_id, key)
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise IdempotencyConflict()
    candidates = _json(row["offers"]) or []
    return {
        "scan_id": str(as_uuid(row["id"])),
        "tier": row["tier"],
        "resident_ref": rt.pseudonyms.resident_ref(
            party_id=as_uuid(row["merchant_id"]), resident_id=as_uuid(row["resident_id"])
        ),
        "benefits": benefits_for_tier(without_suspended(candidates, row["waiver_suspended"]), row["tier"]),
        "expires_at": as_datetime(row["expires_at"]),
    }


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


# --- scans for redemptions (issue 6) and for the logs ---------------------------------------


async def load_valid_scan(
    scan_id: uuid.UUID, *, merchant_id: uuid.UUID, now: datetime, using_db: Any = None
) -> Scan:
    """An accepted scan of this merchant that redemptions may still use.

    404 ``SCAN_NOT_FOUND`` (unknown, or another merchant's), 409 ``SCAN_REFUSED`` (a refused
    scan), 409 ``SCAN_EXPIRED`` (older than ``SCAN_TTL_S``).
    """
    scan = await Scan.filter(id=scan_id, merchant_id=merchant_id).using_db(using_db).first()
    if scan is None:
        raise ScanNotFound()
    if scan.outcome != ACCEPTED or scan.expires_at is None:
        raise ScanRefused()
    if scan.expires_at <= now:
        raise ScanExpired()
    return scan


def scan_out(scan: Scan, pseudonyms: Pseudonyms, *, with_merchant: bool = False) -> dict[str, Any]:
    item = {
        "id": str(scan.id),
        "store_id": str(scan.store_id),
        "staff_id": str(scan.staff_id),
        "outcome": scan.outcome,
        "reason": scan.reason,
        "tier": scan.tier,
        "resident_ref": (
            pseudonyms.resident_ref(party_id=scan.merchant_id, resident_id=scan.resident_id)
            if scan.resident_id
            else None
        ),
        "benefits": benefits_for_tier(scan.offers or [], scan.tier) if scan.outcome == ACCEPTED else [],
        "created_at": scan.created_at,
        "expires_at": scan.expires_at,
    }
    if with_merchant:
        item["merchant_id"] = str(scan.merchant_id)
    return item


async def list_scans(
    pseudonyms: Pseudonyms,
    *,
    merchant_id: uuid.UUID | None,
    store_ids: list[uuid.UUID] | None,
    outcome: str | None,
    limit: int,
    cursor: str | None,
    with_merchant: bool = False,
) -> dict[str, Any]:
    """Scans newest first: of one merchant (``store_ids`` limits them further), or all for a regulator."""
    query = Scan.all()
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    if store_ids is not None:
        query = query.filter(store_id__in=store_ids)
    if outcome is not None:
        query = query.filter(outcome=outcome)
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    return page([scan_out(s, pseudonyms, with_merchant=with_merchant) for s in rows], next_cursor)


def pass_runtime(app: Any) -> PassRuntime:
    """The worker's ``PassRuntime`` (``passes.lifecycle.start``, called by the app's start-up)."""
    runtime = getattr(app.ctx, "passes", None)
    if runtime is None:
        raise RuntimeError("the pass runtime did not start: see xinyi.app")
    return runtime
