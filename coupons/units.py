"""The units of offers without a stock limit not yet added to ``offers.redeemed_count`` (see ``coupons.stock``).

Coupons own this table; it lives in the Tortoise app ``redemptions`` because that is where its
migration (``migrations/redemptions/0003``) created it.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class PendingUnit(Model):
    """A unit of an offer without a stock limit: redeemed, not yet added to the offer's redeemed_count.

    Written by the redemption, deleted by the fold that adds it to the count (coupons.stock.fold_counts)
    or by the reversal of the redemption, whichever comes first: the row lock decides, so the
    unit is counted once or never. A stock check of the offer counts these too.
    """

    redemption_id = fields.UUIDField(primary_key=True)
    offer_id = fields.UUIDField(db_index=True)

    class Meta:
        table = "redemption_pending_units"
