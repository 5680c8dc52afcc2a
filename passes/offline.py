"""Passes used offline (issue 18): verify a pass as a device with an offline bundle did, spend it at upload, log it.

A store's device with no network accepts a pass for its offline life (claim ``o``: until
``iat + o``, ``OFFLINE_BUNDLE_TTL_S``) instead of its short online ``exp``. Single use is enforced
when the device uploads what it did: the pass id goes into ``spent_passes`` (the same authority
as online scans, kept until the pass's offline life is over) in the same statement as the scan
row, logged at the time the scan happened. A pass used online first, or uploaded by another
device first, fails on the spent pass's primary key: the upload item is a duplicate.

The keys that verify an upload are the ring's plus pass keys retired less than an offline life
ago that are still stored (a rotation deletes keys retired before the previous one, so a pass
signed two rotations ago can no longer be checked).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from coupons.service import scan_candidates
from passes.keys import PASS_PURPOSE, VERIFY_LEEWAY_S, open_key
from passes.models import PassKey, Scan
from passes.service import SCAN_COLUMNS, SCAN_TTL_S, SPEND_ALONE_SQL, SPEND_SQL, PassRuntime, spent_until_of
from passes.tokens import PassClaims, PassSigningKey, verify_pass_token
from server.crypto import FieldCipher

_SPEND = SPEND_SQL.format(jti="$7", until="$11")
_VALUES = "$1, $2, $3, $4, $5, 'accepted', NULL, $6, $7, $8, NULL, NULL, $9, $10"
_SPEND_AND_LOG_SQL = (
    f"WITH spent AS ({_SPEND} RETURNING jti)\n"
    f"INSERT INTO {Scan._meta.db_table} ({SCAN_COLUMNS}) SELECT {_VALUES} FROM spent"
)
_LOG_SQL = f"INSERT INTO {Scan._meta.db_table} ({SCAN_COLUMNS}) VALUES ({_VALUES})"
_REFUSED_SQL = f"""
INSERT INTO {Scan._meta.db_table} ({SCAN_COLUMNS})
VALUES ($1, $2, $3, $4, $5, 'refused', $6, NULL, $7, NULL, NULL, NULL, $8, NULL)
"""
_MINE_SQL = f"SELECT 1 AS mine FROM {Scan._meta.db_table} WHERE id = $1 AND jti = $2 AND outcome = 'accepted'"


@dataclass(frozen=True)
class OfflinePass:
    resident_id: uuid.UUID
    claims: PassClaims


async def offline_keys(
    rt: PassRuntime, cipher: FieldCipher, *, now: datetime
) -> Mapping[str, PassSigningKey]:
    """The keys that verify passes used offline: the ring's, and the stored pass keys, current or retired within
    an offline life (read from the table: the ring may be seconds behind a rotation)."""
    keys = dict(await rt.keys.verify_keys())
    cutoff = now - timedelta(seconds=rt.offline_ttl_s + VERIFY_LEEWAY_S)
    for row in await PassKey.filter(
        Q(retired_at__isnull=True) | Q(retired_at__gt=cutoff), purpose=PASS_PURPOSE
    ):
        if row.kid not in keys:
            keys[row.kid] = open_key(cipher, row)
    return keys


def verify_offline(
    rt: PassRuntime, token: str, *, keys: Mapping[str, PassSigningKey], scanned_at: datetime
) -> OfflinePass:
    """The pass as a device verified it at ``scanned_at``: signature, typ, claims, the offline life (PassInvalid,
    PassExpired). A pass without an offline life is held to its online ``exp``."""
    claims = verify_pass_token(
        token, keys=keys, now=int(scanned_at.timestamp()), leeway_s=VERIFY_LEEWAY_S, offline=True
    )
    return OfflinePass(resident_id=rt.pseudonyms.open_subject(claims.sub, claims.jti), claims=claims)


async def log_offline_scan(
    rt: PassRuntime,
    *,
    scan_id: uuid.UUID,
    merchant_id: uuid.UUID,
    store_id: uuid.UUID,
    staff_id: uuid.UUID,
    verified: OfflinePass,
    scanned_at: datetime,
) -> bool:
    """Spend the pass and log its accepted scan at ``scanned_at`` (redeemable as of then); False: spent before.

    ``scan_id`` is the caller's deterministic id for this upload item: if the pass was spent by
    this very scan (an upload resumed after a failure), it counts as spent now (True).
    """
    claims = verified.claims
    async with rt.db.connection() as db:
        offers = await rt.store_offers.offers(db, merchant_id=merchant_id, store_id=store_id, now=scanned_at)
        values = (
            scan_id,
            merchant_id,
            store_id,
            staff_id,
            verified.resident_id,
            claims.tier,
            claims.jti,
            orjson.dumps(scan_candidates(offers, now=scanned_at)).decode(),
            scanned_at,
            scanned_at + timedelta(seconds=SCAN_TTL_S),
        )
        try:
            if db.sqlite:
                await db.execute(SPEND_ALONE_SQL, claims.jti, spent_until_of(claims))
                await db.execute(_LOG_SQL, *values)
            else:
                await db.execute(_SPEND_AND_LOG_SQL, *values, spent_until_of(claims))
        except IntegrityError:
            return await db.fetchrow(_MINE_SQL, scan_id, claims.jti) is not None
    return True


async def log_refused_offline_scan(
    rt: PassRuntime,
    *,
    merchant_id: uuid.UUID,
    store_id: uuid.UUID,
    staff_id: uuid.UUID,
    code: str,
    resident_id: uuid.UUID | None,
    jti: str | None,
    scanned_at: datetime,
) -> None:
    """A refused (or duplicate) offline scan in the scan log, at the time it happened, with the code."""
    async with rt.db.connection() as db:
        await db.execute(
            _REFUSED_SQL, uuid.uuid4(), merchant_id, store_id, staff_id, resident_id, code, jti, scanned_at
        )
