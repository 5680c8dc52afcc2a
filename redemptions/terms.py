"""An offer's terms as a redemption prices them, and the per-worker cache that saves reading them each time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from time import monotonic


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


class TermsCache:
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


terms_cache = TermsCache()
"""This worker's cache (a cache, not a resource: nothing to open or close)."""
