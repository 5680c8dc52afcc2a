"""Deposit-free orders (Tortoise app ``deposits``): a stay or a rental opened without a deposit, its charges, disputes.

Merchant, store, staff, resident, offer, scan and redemption ids are plain UUID columns, as in the
ledger (``redemptions.models``): the rows they name are never deleted, and an order must outlive
an erased resident account.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

OPEN = "open"
COMPLETED_NO_CHARGE = "completed_no_charge"
AWAITING_PAYMENT = "awaiting_payment"
OVERDUE = "overdue"
SETTLED = "settled"
CANCELLED = "cancelled"
STATUSES = (OPEN, COMPLETED_NO_CHARGE, AWAITING_PAYMENT, OVERDUE, SETTLED, CANCELLED)


class DepositFreeOrder(Model):
    """A stay or rental opened against a risk amount instead of a deposit (先免后付).

    open → completed_no_charge (nothing owed: express check-out) | awaiting_payment (itemised
    charges, due by ``settle_by``) → overdue (unpaid after ``settle_by``: the resident is told;
    ``suspended_at`` once the grace passed and deposit-free benefits were suspended) → settled;
    open → cancelled. At most one open order per resident and merchant (a partial unique index,
    migration 0001), one order per merchant and ``external_order_id``. The waiver is a ledger
    redemption (``redemption_id``), taken at the opening so stock and per-resident limits hold,
    and reversed if the order is cancelled.
    """

    id = fields.UUIDField(primary_key=True)
    merchant_id = fields.UUIDField()
    store_id = fields.UUIDField()
    resident_id = fields.UUIDField()
    offer_id = fields.UUIDField()
    scan_id = fields.UUIDField()
    redemption_id = fields.UUIDField(null=True)
    scenario = fields.CharField(max_length=16)
    external_order_id = fields.CharField(max_length=128)
    request_hash = fields.CharField(max_length=64)  # the opening body, for replays of external_order_id
    risk_amount_fen = fields.IntField()
    expected_end_at = fields.DatetimeField()
    status = fields.CharField(max_length=20)
    amount_due_fen = fields.IntField(null=True)
    paid_fen = fields.IntField(null=True)
    over_risk = fields.BooleanField(default=False)  # charges above the risk amount: for a regulator to review
    settle_by = fields.DatetimeField(null=True)
    opened_by_id = fields.UUIDField()
    created_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)
    completed_by_id = fields.UUIDField(null=True)
    settled_at = fields.DatetimeField(null=True)
    settled_by_id = fields.UUIDField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    cancelled_by_id = fields.UUIDField(null=True)
    overdue_at = fields.DatetimeField(null=True)
    suspended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "deposit_free_orders"
        unique_together = (("merchant_id", "external_order_id"),)
        indexes = (
            ("merchant_id", "status", "created_at"),
            ("resident_id", "status"),
            ("status", "settle_by"),
        )


class DepositFreeCharge(Model):
    """One itemised charge of a completed order, in fen (``waived`` when a regulator upheld a dispute of it)."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[DepositFreeOrder] = fields.ForeignKeyField(
        "deposits.DepositFreeOrder", related_name="charges", on_delete=fields.RESTRICT
    )
    kind = fields.CharField(max_length=16)  # room | minibar | damage | late_return | other
    amount_fen = fields.IntField()
    note = fields.CharField(max_length=200, null=True)
    waived = fields.BooleanField(default=False)

    class Meta:
        table = "deposit_free_charges"


class ChargeDispute(Model):
    """A resident disputes the charges of an order: a ``charge_dispute`` case for a regulator.

    While it is open the ladder does not move the order on (no overdue, no suspension). Upheld:
    the charges are waived or reduced to ``amount_due_after_fen``; rejected: nothing changes.
    One open dispute per order (a partial unique index, migration 0001).
    """

    id = fields.UUIDField(primary_key=True)
    order_id = fields.UUIDField()
    resident_id = fields.UUIDField()
    merchant_id = fields.UUIDField()
    reason = fields.CharField(max_length=1000)
    status = fields.CharField(max_length=12)  # open | upheld | rejected
    amount_due_before_fen = fields.IntField()
    amount_due_after_fen = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    due_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by_id = fields.UUIDField(null=True)
    decision_note = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "charge_disputes"
        indexes = (("status", "created_at"), ("order_id",), ("resident_id", "created_at"))
