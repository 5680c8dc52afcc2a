"""The redemption ledger (Tortoise app ``redemptions``): coupons, redemptions, per-resident
counters, stored idempotent responses, the audit trail and breach reports.

Offer, merchant, store, resident, scan, staff and partner ids are plain UUID columns, not
foreign keys, on purpose (as in ``passes.models.Scan``): on PostgreSQL every foreign key check
of an insert locks the referenced row FOR KEY SHARE, and the offer row is the hottest row of
the product (every redemption updates it). Share lockers plus updaters on one row turn its
locks into multixacts, which costs more than the redemption itself. The rows referenced are
never deleted (offers and merchants are RESTRICT), and the ledger must outlive an erased
resident account anyway. The integrity that matters here is enforced by unique constraints
and conditional updates (see ``redemptions.service``).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Coupon(Model):
    """A coupon in a resident wallet, claimed for an offer that needs one (requires_claim).

    Claiming takes the unit of stock and counts against the per-resident limit, so redeeming
    the coupon later takes neither again. A coupon is used once (a conditional update from
    active to used) and becomes active again if that redemption is reversed. It expires with
    the offer or at its own expires_at, whichever comes first.
    """

    id = fields.UUIDField(primary_key=True)
    offer_id = fields.UUIDField()
    merchant_id = fields.UUIDField()
    resident_id = fields.UUIDField()
    status = fields.CharField(max_length=16, default="active")  # active | used
    claimed_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    redemption_id = fields.UUIDField(null=True)

    class Meta:
        table = "coupons"
        indexes = (("resident_id", "claimed_at"), ("offer_id", "resident_id"))


class Redemption(Model):
    """One benefit granted to a resident, at a store (after a scan) or online through a partner.

    The terms that priced it are copied (offer type and value, the live tier), so the ledger
    reads the same after the offer changes. A completed redemption can be reversed once, which
    gives back the unit of stock, the per-resident count (period_key) and the coupon.
    At most one completed redemption per scan and offer (a partial unique index, migration
    0002), and one per partner order (partner_id, external_order_id).
    A unit of an offer without a stock limit is not taken from the offer row in the redemption
    transaction (that row would serialise every redemption of the offer) but noted as a
    PendingUnit and folded into redeemed_count shortly after, exactly once (coupons.stock.fold_counts).
    """

    id = fields.UUIDField(primary_key=True)
    channel = fields.CharField(max_length=8)  # store | partner
    merchant_id = fields.UUIDField()
    offer_id = fields.UUIDField()
    resident_id = fields.UUIDField()
    store_id = fields.UUIDField(null=True)
    scan_id = fields.UUIDField(null=True)
    staff_id = fields.UUIDField(null=True)
    partner_id = fields.UUIDField(null=True)
    external_order_id = fields.CharField(max_length=128, null=True)
    coupon_id = fields.UUIDField(null=True)
    offer_type = fields.CharField(max_length=20)
    offer_value = fields.IntField(null=True)
    tier = fields.CharField(max_length=16)
    order_amount_fen = fields.IntField(null=True)
    discount_fen = fields.IntField()
    deposit_waived_fen = fields.IntField()
    period_key = fields.CharField(max_length=10, null=True)  # the per-resident counter charged, if any
    took_stock = fields.BooleanField()
    request_hash = fields.CharField(max_length=64, null=True)  # partner orders: the body, for replays
    status = fields.CharField(max_length=12)  # completed | reversed
    created_at = fields.DatetimeField()
    business_day = fields.DateField()  # China Standard Time calendar day, for limits and stats
    reversed_at = fields.DatetimeField(null=True)
    reversed_by_id = fields.UUIDField(null=True)
    reversal_reason = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "redemptions"
        unique_together = (("partner_id", "external_order_id"),)
        indexes = (
            ("merchant_id", "created_at"),
            ("resident_id", "created_at"),
            ("offer_id", "business_day"),
            ("store_id", "created_at"),
        )


class RedemptionCounter(Model):
    """How many redemptions (claims, for offers that need a coupon) a resident used of an offer in a period.

    period_key is the China Standard Time day (2025-05-01), month (2025-05) or total. The row is
    incremented with a conditional upsert (used below the limit) and decremented by a reversal.
    """

    id = fields.BigIntField(primary_key=True)
    offer_id = fields.UUIDField()
    resident_id = fields.UUIDField()
    period_key = fields.CharField(max_length=10)
    used = fields.IntField(default=0)

    class Meta:
        table = "redemption_counters"
        unique_together = (("offer_id", "resident_id", "period_key"),)


class IdempotencyRecord(Model):
    """The stored answer of a POST made with an Idempotency-Key, replayed for a retry with the same body.

    scope is the caller (staff:ID, resident:ID), so two callers never share keys. Written in the
    same transaction as what it answers for, so it exists exactly when the write does. Kept at
    least 24 hours (expires_at), then purged.
    """

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharField(max_length=64)
    key = fields.CharField(max_length=128)
    request_hash = fields.CharField(max_length=64)
    status_code = fields.SmallIntField()
    response = fields.TextField()  # the JSON body exactly as first sent
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "idempotency_records"
        unique_together = (("scope", "key"),)
        indexes = (("expires_at",),)


class AuditEntry(Model):
    """Who did what to the ledger, and when: redemptions, reversals, claims, breach reports and decisions."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    actor_type = fields.CharField(max_length=16)  # staff | partner | resident | admin
    actor_id = fields.UUIDField(null=True)
    action = fields.CharField(max_length=32)  # redemption.completed, redemption.reversed, breach.upheld …
    target_type = fields.CharField(max_length=16)  # redemption | coupon | breach
    target_id = fields.UUIDField()
    merchant_id = fields.UUIDField(null=True)
    details: fields.JSONField[dict[str, Any]] = fields.JSONField()

    class Meta:
        table = "audit_entries"
        indexes = (("target_type", "target_id"), ("merchant_id", "at"))


class Breach(Model):
    """A merchant report that a resident broke the terms of a benefit (no-show, damage, unpaid).

    It changes nothing until a regulator decides: upheld creates a contract_breach credit
    record for the resident (and the score follows), rejected leaves everything as it was.
    One report per redemption, or per deposit-free order (``order_id``: an ``unpaid`` report of
    an overdue order, made through ``deposits``; its ``redemption_id`` is then null).
    """

    id = fields.UUIDField(primary_key=True)
    redemption_id = fields.UUIDField(unique=True, null=True)
    order_id = fields.UUIDField(unique=True, null=True)
    merchant_id = fields.UUIDField()
    store_id = fields.UUIDField(null=True)
    offer_id = fields.UUIDField()
    resident_id = fields.UUIDField()
    kind = fields.CharField(max_length=16)  # no_show | damage | unpaid
    description = fields.CharField(max_length=1000)
    amount_fen = fields.IntField(null=True)
    status = fields.CharField(max_length=16)  # under_review | upheld | rejected
    reported_by_id = fields.UUIDField()
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by_id = fields.UUIDField(null=True)
    decision_note = fields.CharField(max_length=500, null=True)
    severity = fields.CharField(max_length=16, null=True)
    credit_record_id = fields.BigIntField(null=True)

    class Meta:
        table = "breaches"
        indexes = (("status", "created_at"), ("merchant_id", "created_at"))
