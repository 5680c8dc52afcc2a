"""Shapes of the deposit-free order endpoints (merchants, residents, regulators)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from coupons.schemas import MAX_FEN
from server.pagination import Limit

ChargeKind = Literal["room", "minibar", "damage", "late_return", "other"]
OrderStatus = Literal["open", "completed_no_charge", "awaiting_payment", "overdue", "settled", "cancelled"]
DisputeStatus = Literal["open", "upheld", "rejected"]


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- merchants -----------------------------------------------------------------------------------


class OrderIn(_Strict):
    """Open a deposit-free order from a live scan: ``risk_amount_fen`` at most the offer's value."""

    scan_id: uuid.UUID
    offer_id: uuid.UUID
    risk_amount_fen: StrictInt = Field(ge=1, le=MAX_FEN)
    expected_end_at: AwareDatetime
    external_order_id: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")


class ChargeIn(_Strict):
    kind: ChargeKind
    amount_fen: StrictInt = Field(ge=1, le=MAX_FEN)
    note: str | None = Field(default=None, max_length=200)


class CompleteIn(_Strict):
    """The stay or rental ended: itemised charges, or none (nothing owed: express check-out).

    Charges above the order's risk amount are refused unless ``regulator_review`` is true: the
    order is then flagged for a regulator (and shows in the merchant's signals).
    """

    charges: list[ChargeIn] = Field(max_length=50)
    regulator_review: StrictBool = False


class SettleIn(_Strict):
    paid_fen: StrictInt = Field(ge=0, le=MAX_FEN)


class OrderListQuery(_Strict):
    status: OrderStatus | None = None
    store_id: uuid.UUID | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class ChargeOut(BaseModel):
    id: int
    kind: ChargeKind
    amount_fen: int
    note: str | None
    waived: bool


class OrderOpened(BaseModel):
    id: str
    status: OrderStatus
    risk_amount_fen: int
    redemption_id: str | None
    expected_end_at: datetime
    external_order_id: str
    created_at: datetime


class OrderCompleted(BaseModel):
    id: str
    status: OrderStatus
    amount_due_fen: int
    settle_by: datetime | None
    over_risk: bool
    charges: list[ChargeOut]


class OrderStatusOut(BaseModel):
    id: str
    status: OrderStatus


class MerchantOrderOut(BaseModel):
    id: str
    store_id: str
    offer_id: str
    resident_ref: str
    external_order_id: str
    status: OrderStatus
    risk_amount_fen: int
    amount_due_fen: int | None
    paid_fen: int | None
    over_risk: bool
    settle_by: datetime | None
    expected_end_at: datetime
    created_at: datetime
    completed_at: datetime | None
    settled_at: datetime | None
    cancelled_at: datetime | None
    overdue_at: datetime | None
    suspended_at: datetime | None
    charges: list[ChargeOut]


class MerchantOrderPage(BaseModel):
    items: list[MerchantOrderOut]
    next_cursor: str | None


# --- residents -----------------------------------------------------------------------------------


class MerchantRef(BaseModel):
    id: str
    name: str


class DisputeRef(BaseModel):
    id: str
    status: DisputeStatus
    created_at: datetime
    decided_at: datetime | None
    note: str | None


class ResidentOrderOut(BaseModel):
    id: str
    merchant: MerchantRef
    store_id: str
    status: OrderStatus
    risk_amount_fen: int
    amount_due_fen: int | None
    paid_fen: int | None
    settle_by: datetime | None
    expected_end_at: datetime
    created_at: datetime
    completed_at: datetime | None
    settled_at: datetime | None
    charges: list[ChargeOut]
    dispute: DisputeRef | None


class ResidentOrderPage(BaseModel):
    items: list[ResidentOrderOut]
    next_cursor: str | None
    deposit_free_suspended: bool


class ResidentOrderQuery(_Strict):
    status: OrderStatus | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class DisputeIn(_Strict):
    reason: str = Field(min_length=1, max_length=1000)

    _check_reason = field_validator("reason")(_text)


class DisputeOut(BaseModel):
    id: str
    order_id: str
    status: DisputeStatus
    amount_due_before_fen: int
    amount_due_after_fen: int | None
    created_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decision_note: str | None


# --- regulators ----------------------------------------------------------------------------------


class DisputeDecisionIn(_Strict):
    """``upheld`` waives the charges, or reduces what is owed to ``amount_due_fen``; ``rejected`` changes nothing."""

    outcome: Literal["upheld", "rejected"]
    note: str = Field(min_length=1, max_length=500)
    amount_due_fen: StrictInt | None = Field(default=None, ge=0, le=MAX_FEN)

    _check_note = field_validator("note")(_text)


class AdminDisputeOut(DisputeOut):
    resident_id: str
    merchant_id: str
    merchant_name: str
    reason: str
    order: ResidentOrderOut


class AdminDisputeQuery(_Strict):
    status: DisputeStatus | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class AdminDisputePage(BaseModel):
    items: list[AdminDisputeOut]
    next_cursor: str | None


class AdvanceOut(BaseModel):
    overdue: int = Field(description="orders whose payment deadline passed (the resident was told)")
    suspended: int = Field(description="residents' deposit-free benefits suspended (grace period over)")
