"""Offers: a merchant's benefit for residents of a tier, live once a regulator approved it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from uuid import UUID

    from merchants.models import Merchant, Store


class Offer(Model):
    """A benefit a merchant grants at some of its stores to residents of ``min_tier`` or better.

    Stock is ``total_stock`` (null: unlimited) minus ``redeemed_count``. The redemption ledger
    takes a unit with one conditional UPDATE (``redeemed_count = redeemed_count + 1 WHERE
    total_stock IS NULL OR redeemed_count < total_stock``) and gives it back on reversal, so
    the two columns are the single source of truth for what is left. ``all_stores`` offers
    apply at every store of the merchant, present and future, otherwise at ``stores``.
    """

    id = fields.UUIDField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "merchants.Merchant", related_name="offers", on_delete=fields.RESTRICT
    )
    merchant_id: UUID
    status = fields.CharField(max_length=20)  # pending_approval | active | paused | rejected
    scenario = fields.CharField(max_length=16)
    type = fields.CharField(max_length=20)
    label = fields.CharField(max_length=64)
    value = fields.IntField(null=True)  # percent for percent_off, fen for amount_off and deposit_waiver
    min_tier = fields.CharField(max_length=8)
    requires_claim = fields.BooleanField(default=False)
    valid_from = fields.DatetimeField()
    valid_until = fields.DatetimeField()
    total_stock = fields.IntField(null=True)
    redeemed_count = fields.IntField(default=0)
    per_resident_limit = fields.IntField(null=True)
    per_resident_period = fields.CharField(max_length=8, null=True)  # day | month | total
    all_stores = fields.BooleanField(default=False)
    stores: fields.ManyToManyRelation[Store] = fields.ManyToManyField(
        "merchants.Store",
        related_name="offers",
        through="offer_stores",
        forward_key="store_id",
        backward_key="offer_id",
    )
    created_by_id = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    approved_at = fields.DatetimeField(null=True)
    approved_by_id = fields.UUIDField(null=True)
    review_note = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "offers"
        indexes = (("merchant_id", "status"), ("status", "valid_until"))

    @property
    def remaining(self) -> int | None:
        return None if self.total_stock is None else max(self.total_stock - self.redeemed_count, 0)


class PilotRegion(Model):
    """One region of a scenario's pilot (政策试点): while a scenario has any, its offers apply only at
    stores inside one of them.

    ``code`` is the 6-digit GB/T 2260 code the regulator gave; ``prefix`` the same code without its
    trailing pairs of zeros (530000 → ``53``, the province; 532900 → ``5329``, 大理州; 532901 the
    county), so a store is inside when its region starts with the prefix. Every row of a scenario
    is replaced when the pilot changes, and deleted when it ends.
    """

    id = fields.BigIntField(primary_key=True)
    scenario = fields.CharField(max_length=16)
    code = fields.CharField(max_length=6)
    prefix = fields.CharField(max_length=6)
    started_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    started_by_id = fields.UUIDField(null=True)

    class Meta:
        table = "pilot_regions"
        unique_together = (("scenario", "code"),)
