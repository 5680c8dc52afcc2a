"""Shapes of the coupon, redemption, reversal, statistics and breach endpoints."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator
from pydantic_core import PydanticCustomError

from coupons.schemas import MAX_FEN, OfferType
from server.errors import ValidationFailed
from server.pagination import Limit

BreachKind = Literal["no_show", "damage", "unpaid"]
BREACH_KINDS = ("no_show", "damage", "unpaid")
Severity = Literal["minor", "general", "serious"]


_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def parse_idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: absent, or 1 to 128 printable ASCII characters (422 otherwise)."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.match(value):
        raise ValidationFailed({"Idempotency-Key": "1 to 128 printable ASCII characters"})
    return value


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


# --- redemptions (merchants) -------------------------------------------------------------------


class RedemptionIn(BaseModel):
    """A redemption at the store of an accepted scan; ``order_amount_fen`` is required for ``percent_off``."""

    model_config = ConfigDict(extra="forbid")

    scan_id: uuid.UUID
    offer_id: uuid.UUID
    coupon_id: uuid.UUID | None = None
    order_amount_fen: StrictInt | None = Field(default=None, ge=0, le=MAX_FEN)


class RedemptionOut(BaseModel):
    id: str
    offer_id: str
    discount_fen: int
    deposit_waived_fen: int
    order_amount_fen: int | None
    coupon_id: str | None
    store_id: str | None
    status: Literal["completed", "reversed"]
    created_at: datetime


class ReverseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=255)

    _check_reason = field_validator("reason")(_text)


class ReverseOut(BaseModel):
    id: str
    status: Literal["reversed"]
    reversed_at: datetime
    reason: str


class _Window(BaseModel):
    """``from`` and ``to``: a day (China Standard Time, ``to`` inclusive) or an instant with its offset."""

    model_config = ConfigDict(populate_by_name=True)

    store_id: uuid.UUID | None = None
    from_: AwareDatetime | date | None = Field(
        default=None,
        alias="from",
        description="a day (YYYY-MM-DD, China Standard Time) or an instant with its offset",
    )
    to: AwareDatetime | date | None = Field(
        default=None, description="a day (inclusive) or an instant (exclusive) with its offset"
    )


class RedemptionListQuery(_Window):
    status: Literal["completed", "reversed"] | None = None
    offer_id: uuid.UUID | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class StatsQuery(_Window):
    format: Literal["json", "csv"] = Field(
        default="json",
        description="csv: a spreadsheet (UTF-8 with BOM, a header row, one row per offer and per day)",
    )


class MerchantRedemptionOut(RedemptionOut):
    channel: Literal["store", "partner"]
    type: OfferType
    staff_id: str | None
    scan_id: str | None
    resident_ref: str
    tier: str
    reversed_at: datetime | None
    reversal_reason: str | None


class MerchantRedemptionPage(BaseModel):
    items: list[MerchantRedemptionOut]
    next_cursor: str | None


class StatsTotals(BaseModel):
    redemptions: int
    reversed: int
    discount_fen: int
    deposit_waived_fen: int


class OfferStats(StatsTotals):
    offer_id: str
    label: str
    type: OfferType


class DayStats(StatsTotals):
    day: date


class StatsOut(BaseModel):
    """Completed redemptions (``redemptions``, money totals) and reversed ones, by offer and by day."""

    from_: datetime = Field(alias="from")
    to: datetime
    totals: StatsTotals
    by_offer: list[OfferStats]
    by_day: list[DayStats]


# --- coupons and history (residents) -----------------------------------------------------------


class CouponView(BaseModel):
    id: str
    offer_id: str
    status: Literal["active", "used", "expired"]
    expires_at: datetime


class ClaimOut(BaseModel):
    coupon: CouponView


class WalletCoupon(CouponView):
    merchant: dict[str, str]
    type: OfferType
    label: str
    value: int | None
    claimed_at: datetime
    used_at: datetime | None


class CouponPage(BaseModel):
    items: list[WalletCoupon]
    next_cursor: str | None


class CouponListQuery(BaseModel):
    status: Literal["active", "used", "expired"] | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class HistoryQuery(BaseModel):
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class ResidentRedemptionOut(BaseModel):
    id: str
    offer_id: str
    merchant: dict[str, str]
    type: OfferType
    label: str
    discount_fen: int
    deposit_waived_fen: int
    order_amount_fen: int | None
    status: Literal["completed", "reversed"]
    created_at: datetime
    reversed_at: datetime | None


class ResidentRedemptionPage(BaseModel):
    items: list[ResidentRedemptionOut]
    next_cursor: str | None


# --- breaches ---------------------------------------------------------------------------------


class BreachIn(BaseModel):
    """A report about one redemption (``redemption_id``) or one overdue deposit-free order (``order_id``, kind ``unpaid``)."""

    model_config = ConfigDict(extra="forbid")

    redemption_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None
    kind: BreachKind
    description: str = Field(min_length=1, max_length=1000)
    amount_fen: StrictInt | None = Field(default=None, ge=1, le=MAX_FEN)

    _check_description = field_validator("description")(_text)

    @model_validator(mode="after")
    def _one_target(self) -> BreachIn:
        if (self.redemption_id is None) == (self.order_id is None):
            raise PydanticCustomError("one_target", "give exactly one of redemption_id and order_id")
        if self.order_id is not None and self.kind != "unpaid":
            raise PydanticCustomError("order_kind", "a deposit-free order's breach is of kind unpaid")
        return self


class BreachDecisionIn(BaseModel):
    """``upheld`` creates a ``contract_breach`` record of ``severity`` (default ``minor``); ``rejected`` changes nothing."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["upheld", "rejected"]
    note: str = Field(min_length=1, max_length=500)
    severity: Severity = "minor"

    _check_note = field_validator("note")(_text)


class BreachOut(BaseModel):
    id: str
    redemption_id: str | None
    order_id: str | None = None
    merchant_id: str
    store_id: str | None
    offer_id: str
    kind: BreachKind
    description: str
    amount_fen: int | None
    status: Literal["under_review", "upheld", "rejected"]
    created_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    severity: Severity | None


class AdminBreachOut(BreachOut):
    resident_id: str
    merchant_name: str
    credit_record_id: int | None


class BreachListQuery(BaseModel):
    status: Literal["under_review", "upheld", "rejected"] | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class AdminBreachListQuery(BreachListQuery):
    merchant_id: uuid.UUID | None = None


class AdminBreachPage(BaseModel):
    items: list[AdminBreachOut]
    next_cursor: str | None


# --- audit (regulators) -------------------------------------------------------------------------


class AuditQuery(BaseModel):
    target_id: uuid.UUID | None = None
    merchant_id: uuid.UUID | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_type: Literal["staff", "partner", "resident", "admin"]
    actor_id: str | None
    action: str
    target_type: Literal["redemption", "coupon", "breach"]
    target_id: str
    merchant_id: str | None
    details: dict


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


class BreachPage(BaseModel):
    items: list[BreachOut]
    next_cursor: str | None
