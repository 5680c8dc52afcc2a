"""The revocation set of an offline bundle: a salted-hash set of (pass revocation handle, tier).

Why this shape (and not a bitstring status list indexed by a resident number):

- **Unlinkable passes.** A status-list index must travel in every pass, and a resident number
  there would be the same in every pass of a resident, at every merchant, for ever: merchants
  could join their logs through it, which the pass's one-time subject exists to prevent. The
  handle in a pass (``rv``, ``passes.subjects``) is a keyed hash of the resident and the CST day
  the pass was issued: passes of one resident link within one day only.
- **Revokes exactly what must be.** A device must refuse a pass whose tier (``t``) is above the
  resident's live tier. An entry is ``SHA-256(salt ‖ handle ‖ ":" ‖ tier)[:HASH_BYTES]`` for each
  tier above the live tier that the resident held during the window (the offline life of a
  pass before the bundle), for each day of that window. A fresh pass showing the lowered tier
  is not in the set and is accepted; a black-listed resident's pass showing ``A`` is refused;
  a pass issued while restricted says ``restricted`` and grants nothing, offline as online.
- **Small.** Only residents whose tier fell during the window appear (from ``TierMove`` rows that
  credit's tier-change hook writes), not every restricted resident: the set is sized by the
  day's downgrades, not by the population. ``HASH_BYTES`` = 8 keeps false hits below 1 in 10^12
  per lookup even with a million entries.
- **Unlinkable to a person without the pass**: a fresh random salt per bundle, and the handles are
  HMACs under a server key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from credit.scoring import LOCAL_TZ, TIERS, tier_rank
from credit.service import tier_for_residents
from offline.models import TierMove
from passes.subjects import Pseudonyms

HASH_BYTES = 8
SALT_BYTES = 16
SCHEME = "xinyi-rv-sha256"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def entry(salt: bytes, handle: str, tier: str, *, size: int = HASH_BYTES) -> bytes:
    """One member of the set: the revoked (handle, tier) pair, salted and truncated."""
    return hashlib.sha256(salt + f"{handle}:{tier}".encode()).digest()[:size]


def days_between(start: datetime, end: datetime) -> list[date]:
    """The CST days from ``start``'s to ``end``'s, both included."""
    first, last = start.astimezone(LOCAL_TZ).date(), end.astimezone(LOCAL_TZ).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def downgraded(since: datetime) -> dict[uuid.UUID, tuple[str, int]]:
    """Residents whose tier fell since ``since`` and is still below the highest held since: (live tier, highest rank)."""
    highest: dict[uuid.UUID, int] = {}
    for resident_id, from_tier, to_tier in await TierMove.filter(at__gte=since).values_list(
        "resident_id", "from_tier", "to_tier"
    ):
        rid = uuid.UUID(str(resident_id))
        highest[rid] = max(highest.get(rid, 0), _rank(from_tier), _rank(to_tier))
    live = await tier_for_residents(highest) if highest else {}
    return {rid: (live[rid], top) for rid, top in highest.items() if rid in live and _rank(live[rid]) < top}


def revoked_pairs(
    pseudonyms: Pseudonyms, residents: dict[uuid.UUID, tuple[str, int]], days: Iterable[date]
) -> list[tuple[str, str]]:
    """(handle, tier) pairs to revoke: each day's handle of each resident, with each tier above the live one."""
    days = list(days)
    pairs: list[tuple[str, str]] = []
    for resident_id, (live, top) in residents.items():
        tiers = TIERS[_rank(live) + 1 : top + 1]
        for day in days:
            handle = pseudonyms.revocation_handle(resident_id, day)
            pairs.extend((handle, tier) for tier in tiers)
    return pairs


def revocation_set(pairs: Iterable[tuple[str, str]], *, salt: bytes | None = None) -> dict[str, Any]:
    """The bundle's ``revocation`` object: the scheme, the salt, and the sorted entries concatenated (base64url)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    entries = sorted({entry(salt, handle, tier) for handle, tier in pairs})
    return {
        "scheme": SCHEME,
        "salt": b64url(salt),
        "hash_bytes": HASH_BYTES,
        "count": len(entries),
        "entries": b64url(b"".join(entries)),
    }


async def build(pseudonyms: Pseudonyms, *, now: datetime, window_s: int) -> dict[str, Any]:
    """The revocation set of a bundle made ``now``, for passes issued up to ``window_s`` before."""
    since = now - timedelta(seconds=window_s)
    pairs = revoked_pairs(pseudonyms, await downgraded(since), days_between(since, now))
    return revocation_set(pairs)


async def record_move(
    resident_id: uuid.UUID, previous_tier: str | None, tier: str, *, at: datetime, using_db: Any
) -> None:
    await TierMove.create(
        resident_id=resident_id, from_tier=previous_tier or tier, to_tier=tier, at=at, using_db=using_db
    )


def tier_at(moves: list[TierMove], *, issued_tier: str, at: datetime) -> str:
    """The resident's tier at ``at`` from the moves since the pass was issued (oldest first): the last move's
    before ``at``, else the tier the pass was issued with."""
    tier = issued_tier
    for move in moves:
        if move.at <= at:
            tier = move.to_tier
    return tier


def _rank(tier: str | None) -> int:
    try:
        return tier_rank(tier or "restricted")
    except ValueError:
        return 0
