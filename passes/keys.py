"""Pass signing keys: stored encrypted in the database, cached briefly by every worker.

Every worker reads the keys from the ``pass_keys`` table and keeps them for ``KEY_CACHE_S``,
so all workers sign with the same key within seconds of a rotation, and a worker that meets a
``kid`` it does not know yet (a key another worker just created) reloads at once, at most once
a second so that tokens with made-up ``kid``s cannot hammer the database.

Rotation (``xinyi rotate-pass-key``) retires the current key and creates a new one in one
transaction. A retired key keeps verifying, and stays in the published JWK Set, for
``RETIRED_KEY_VERIFIES_S``: a worker may go on signing with it for one cache period, and its
last passes then live ``MAX_TTL_S`` plus the verification leeway. After that it is deleted.

In ``prod`` the keys must exist before the server starts (``xinyi rotate-pass-key`` creates the
first one); in dev and test the first use creates one.

**Report keys.** Partners' signed credit reports (信易贷) are signed by keys of the same table
with ``purpose = 'report'``: their own ``kid`` (``rpt-…``), their own current key and rotation
(``xinyi rotate-report-key``, or the first report creates one), published in the same JWK Set.
A report lives 30 days, so a retired report key stays published (and is kept) for
``RETIRED_REPORT_KEY_VERIFIES_S``. Pass keys and report keys never verify each other's tokens:
everything above reads only ``purpose = 'pass'``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import orjson
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from passes.exceptions import PassKeysUnavailable
from passes.models import PassKey
from passes.tokens import (
    MAX_TTL_S,
    PassClaims,
    PassSigningKey,
    generate_signing_key,
    private_key_from_bytes,
    private_key_to_bytes,
    verify_pass_token,
)
from server.crypto import FieldCipher

KEY_CACHE_S = 10.0
VERIFY_LEEWAY_S = 5
RETIRED_KEY_VERIFIES_S = (
    int(KEY_CACHE_S) + MAX_TTL_S + VERIFY_LEEWAY_S + 30
)  # 30 s for clock skew between hosts
_UNKNOWN_KID_RELOAD_S = 1.0
PASS_PURPOSE = "pass"
REPORT_PURPOSE = "report"
REPORT_TTL_S = 30 * 86400
RETIRED_REPORT_KEY_VERIFIES_S = REPORT_TTL_S + 86400  # a day for clocks and late verifications


def _aad(kid: str) -> str:
    return f"pass_keys:{kid}"


def seal_key(cipher: FieldCipher, key: PassSigningKey) -> str:
    return cipher.encrypt(base64.b64encode(private_key_to_bytes(key)).decode(), aad=_aad(key.kid))


def open_key(cipher: FieldCipher, row: PassKey) -> PassSigningKey:
    seed = base64.b64decode(cipher.decrypt(row.seed_enc, aad=_aad(row.kid)))
    return private_key_from_bytes(row.kid, seed, row.created_at)


async def create_key(cipher: FieldCipher, *, now: datetime, retire_others: bool) -> PassSigningKey:
    """A new signing key; with ``retire_others`` every current key is retired in the same transaction."""
    key = generate_signing_key(now=now)
    async with in_transaction() as conn:
        if retire_others:
            await (
                PassKey.filter(retired_at__isnull=True, purpose=PASS_PURPOSE)
                .using_db(conn)
                .update(retired_at=now)
            )
        await (
            PassKey.filter(
                retired_at__lt=now - timedelta(seconds=RETIRED_KEY_VERIFIES_S), purpose=PASS_PURPOSE
            )
            .using_db(conn)
            .delete()
        )
        await PassKey.create(
            kid=key.kid, seed_enc=seal_key(cipher, key), created_at=now, purpose=PASS_PURPOSE, using_db=conn
        )
    return key


async def rotate_pass_key(cipher: FieldCipher, *, now: datetime | None = None) -> PassSigningKey:
    """``xinyi rotate-pass-key``: a new key signs from now on, the previous ones verify until their passes expired."""
    return await create_key(cipher, now=now or datetime.now(UTC), retire_others=True)


async def signing_key_exists() -> bool:
    return await PassKey.exists(retired_at__isnull=True, purpose=PASS_PURPOSE)


# --- report keys ------------------------------------------------------------------------------


def _report_key(now: datetime) -> PassSigningKey:
    key = generate_signing_key(now=now)
    return PassSigningKey(kid="rpt-" + key.kid, private_key=key.private_key, created_at=now)


async def rotate_report_key(cipher: FieldCipher, *, now: datetime | None = None) -> PassSigningKey:
    """``xinyi rotate-report-key``: a new report key signs from now on; earlier ones verify until their reports expired."""
    now = now or datetime.now(UTC)
    key = _report_key(now)
    async with in_transaction() as conn:
        await (
            PassKey.filter(retired_at__isnull=True, purpose=REPORT_PURPOSE)
            .using_db(conn)
            .update(retired_at=now)
        )
        await (
            PassKey.filter(
                retired_at__lt=now - timedelta(seconds=RETIRED_REPORT_KEY_VERIFIES_S), purpose=REPORT_PURPOSE
            )
            .using_db(conn)
            .delete()
        )
        await PassKey.create(
            kid=key.kid, seed_enc=seal_key(cipher, key), created_at=now, purpose=REPORT_PURPOSE, using_db=conn
        )
    return key


async def report_signing_key(cipher: FieldCipher, *, now: datetime) -> PassSigningKey:
    """The newest current report key (the first one is created on first use, as a first pass key is in dev)."""
    row = (
        await PassKey.filter(retired_at__isnull=True, purpose=REPORT_PURPOSE)
        .order_by("-created_at", "-kid")
        .first()
    )
    if row is None:
        return await rotate_report_key(cipher, now=now)
    return open_key(cipher, row)


async def report_keys(cipher: FieldCipher, *, now: datetime) -> list[PassSigningKey]:
    """The report keys to publish: the current ones and those retired less than a report's life ago."""
    cutoff = now - timedelta(seconds=RETIRED_REPORT_KEY_VERIFIES_S)
    rows = await PassKey.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=cutoff), purpose=REPORT_PURPOSE)
    return [open_key(cipher, row) for row in rows]


class PassKeyRing:
    """The keys of one worker: the key that signs, the keys that verify, the JWK Set to publish."""

    def __init__(
        self, cipher: FieldCipher, *, create_if_missing: bool, clock: Callable[[], float] = time.monotonic
    ):
        self._cipher = cipher
        self._create_if_missing = create_if_missing
        self._clock = clock
        self._lock = asyncio.Lock()
        self._opened: dict[str, PassSigningKey] = {}  # kid -> key, decrypted once
        self._verifying: dict[str, PassSigningKey] = {}
        self._signing: PassSigningKey | None = None
        self._loaded_at = float("-inf")

    async def signing_key(self) -> PassSigningKey:
        if self._stale():
            await self.reload()
        if self._signing is None:
            raise PassKeysUnavailable()
        return self._signing

    async def verify_keys(self, kid: str | None = None) -> Mapping[str, PassSigningKey]:
        """Keys that verify passes now; reloads first when stale, or when ``kid`` is unknown."""
        if self._stale() or (
            kid is not None
            and kid not in self._verifying
            and self._clock() - self._loaded_at >= _UNKNOWN_KID_RELOAD_S
        ):
            await self.reload()
        return self._verifying

    async def verify(self, token: str, *, now: int) -> PassClaims:
        """``verify_pass_token`` against the current keys (PassInvalid / PassExpired)."""
        return verify_pass_token(
            token, keys=await self.verify_keys(_peek_kid(token)), now=now, leeway_s=VERIFY_LEEWAY_S
        )

    async def published(self) -> list[PassSigningKey]:
        return list((await self.verify_keys()).values())

    def _stale(self) -> bool:
        return self._clock() - self._loaded_at >= KEY_CACHE_S

    async def reload(self) -> None:
        loaded_before = self._loaded_at
        async with self._lock:
            if self._loaded_at != loaded_before:
                return  # another task reloaded while this one waited
            now = datetime.now(UTC)
            rows = await self._rows(now)
            if not any(row.retired_at is None for row in rows) and self._create_if_missing:
                await create_key(self._cipher, now=now, retire_others=False)
                rows = await self._rows(now)
            verifying: dict[str, PassSigningKey] = {}
            for row in rows:
                key = self._opened.get(row.kid)
                if key is None:
                    key = self._opened[row.kid] = open_key(self._cipher, row)
                verifying[row.kid] = key
            current = [row for row in rows if row.retired_at is None]
            # Two dev workers may each create a first key at once: the newest one signs everywhere.
            newest = max(current, key=lambda row: (row.created_at, row.kid), default=None)
            self._verifying = verifying
            self._signing = verifying[newest.kid] if newest else None
            self._loaded_at = self._clock()

    @staticmethod
    async def _rows(now: datetime) -> list[PassKey]:
        cutoff = now - timedelta(seconds=RETIRED_KEY_VERIFIES_S)
        return await PassKey.filter(
            Q(retired_at__isnull=True) | Q(retired_at__gt=cutoff), purpose=PASS_PURPOSE
        )


def _peek_kid(token: str) -> str | None:
    """The ``kid`` of a compact JWS header, without verifying anything (None if unreadable)."""
    header = token.partition(".")[0] if isinstance(token, str) else ""
    if not header or len(header) > 200:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        return None
    kid = value.get("kid") if isinstance(value, dict) else None
    return kid if isinstance(kid, str) else None
