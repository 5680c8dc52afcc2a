"""Shapes of the offer endpoints and the contract's offer vocabulary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from coupons.pilots import prefix_problem
from server.pagination import Limit

SCENARIOS = ("travel", "transport", "rental", "approval", "loan")
OFFER_TYPES = (
    "percent_off",
    "amount_off",
    "deposit_waiver",
    "priority_lane",
    "express_checkout",
    "free_ride",
)
VALUED_TYPES = ("percent_off", "amount_off", "deposit_waiver")
OFFER_TIERS = ("C", "B", "A", "AA", "AAA")  # `restricted` gets no benefit, so no offer can target it
PERIODS = ("day", "month", "total")
OFFER_STATUSES = ("pending_approval", "active", "paused", "rejected")

MAX_FEN = 100_000_000  # ¥1,000,000: more is a typo, not a benefit
MAX_STOCK = 10_000_000

Scenario = Literal["travel", "transport", "rental", "approval", "loan"]
OfferType = Literal[
    "percent_off", "amount_off", "deposit_waiver", "priority_lane", "express_checkout", "free_ride"
]
OfferTier = Literal["C", "B", "A", "AA", "AAA"]
Period = Literal["day", "month", "total"]
OfferStatus = Literal["pending_approval", "active", "paused", "rejected"]

# The terms a regulator approves; changing any of them (except ending the window earlier) needs a new approval.
TERMS = (
    "scenario",
    "type",
    "label",
    "value",
    "min_tier",
    "requires_claim",
    "valid_from",
    "valid_until",
    "per_resident_limit",
    "per_resident_period",
    "store_ids",
)


def _label(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _store_ids(values: list[str]) -> list[str]:
    for index, raw in enumerate(values):
        try:
            uuid.UUID(raw)
        except (ValueError, TypeError):
            raise ValueError(f"item {index} is not a store id") from None
    return values


class OfferIn(BaseModel):
    """A new offer. ``store_ids`` empty or absent: every store of the merchant, also future ones."""

    model_config = ConfigDict(extra="forbid")

    scenario: Scenario
    type: OfferType
    label: str = Field(min_length=1, max_length=64)
    value: StrictInt | None = None
    min_tier: OfferTier
    requires_claim: StrictBool = False
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    total_stock: StrictInt | None = Field(default=None, ge=0, le=MAX_STOCK)
    per_resident_limit: StrictInt | None = Field(default=None, ge=1, le=1000)
    per_resident_period: Period | None = None
    store_ids: list[str] = Field(default_factory=list, max_length=500)

    _check_label = field_validator("label")(_label)
    _check_stores = field_validator("store_ids")(_store_ids)


class OfferPatch(BaseModel):
    """Any subset of the offer's fields, plus ``status`` to pause an active offer or resume a paused one."""

    model_config = ConfigDict(extra="forbid")

    scenario: Scenario | None = None
    type: OfferType | None = None
    label: str | None = Field(default=None, min_length=1, max_length=64)
    value: StrictInt | None = None
    min_tier: OfferTier | None = None
    requires_claim: StrictBool | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    total_stock: StrictInt | None = Field(default=None, ge=0, le=MAX_STOCK)
    per_resident_limit: StrictInt | None = Field(default=None, ge=1, le=1000)
    per_resident_period: Period | None = None
    store_ids: list[str] | None = Field(default=None, max_length=500)
    status: Literal["active", "paused"] | None = None

    _check_label = field_validator("label")(lambda v: v if v is None else _label(v))
    _check_stores = field_validator("store_ids")(lambda v: v if v is None else _store_ids(v))

    # Fields that may be set to null on purpose (null stock: unlimited; null limit: none).
    NULLABLE: ClassVar[tuple[str, ...]] = (
        "value",
        "total_stock",
        "per_resident_limit",
        "per_resident_period",
    )

    def changes(self) -> dict[str, Any]:
        """The fields the client sent; a null is kept only where null means something."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        return {k: v for k, v in sent.items() if v is not None or k in self.NULLABLE}

    def null_problems(self) -> dict[str, str]:
        return {
            name: "must not be null"
            for name in self.model_fields_set
            if getattr(self, name) is None and name not in self.NULLABLE
        }


def term_problems(terms: dict[str, Any], *, now: datetime, window_changed: bool) -> dict[str, str]:
    """What is wrong with a complete set of offer terms, field by field (empty: nothing)."""
    problems: dict[str, str] = {}
    offer_type, value = terms["type"], terms["value"]
    if offer_type == "percent_off":
        if value is None or not 1 <= value <= 100:
            problems["value"] = "percent_off needs the percent off, 1 to 100"
    elif offer_type in ("amount_off", "deposit_waiver"):
        if value is None or not 0 < value <= MAX_FEN:
            problems["value"] = f"{offer_type} needs an amount in fen, 1 to {MAX_FEN}"
    elif value is not None:
        problems["value"] = f"{offer_type} takes no value"
    if terms["valid_from"] >= terms["valid_until"]:
        problems["valid_until"] = "must be after valid_from"
    elif window_changed and terms["valid_until"] <= now:
        problems["valid_until"] = "must be in the future"
    limit, period = terms["per_resident_limit"], terms["per_resident_period"]
    if limit is not None and period is None:
        problems["per_resident_period"] = "required with per_resident_limit: day, month or total"
    if limit is None and period is not None:
        problems["per_resident_limit"] = "required with per_resident_period"
    return problems


class OfferListQuery(BaseModel):
    status: OfferStatus | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class AdminOfferListQuery(OfferListQuery):
    merchant_id: uuid.UUID | None = None


def _region_prefix(value: str | None) -> str | None:
    if value is not None and (why := prefix_problem(value)):
        raise ValueError(why)
    return value


class BenefitsQuery(BaseModel):
    scenario: Scenario | None = None
    merchant_id: uuid.UUID | None = None
    region: str | None = Field(
        default=None,
        description="offers at a store in this region: a GB/T 2260 code whose trailing zeros roll up "
        "(530000 the province, 532900 大理州, 532901 one county)",
    )
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None

    _check_region = field_validator("region")(_region_prefix)


class RejectIn(BaseModel):
    note: str = Field(min_length=1, max_length=500)


class OfferOut(BaseModel):
    id: str
    merchant_id: str
    status: OfferStatus
    scenario: Scenario
    type: OfferType
    label: str
    value: int | None
    min_tier: OfferTier
    requires_claim: bool
    valid_from: datetime
    valid_until: datetime
    total_stock: int | None
    redeemed_count: int
    remaining: int | None
    per_resident_limit: int | None
    per_resident_period: Period | None
    store_ids: list[str]
    all_stores: bool
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    review_note: str | None


class BenefitOut(BaseModel):
    offer_id: str
    merchant: dict[str, str]
    scenario: Scenario
    type: OfferType
    label: str
    value: int | None
    min_tier: OfferTier
    requires_claim: bool
    valid_from: datetime
    valid_until: datetime
    remaining: int | None
    eligible: bool


class BenefitPage(BaseModel):
    items: list[BenefitOut]
    next_cursor: str | None
    tier: str | None = Field(
        description="my live tier (null until an identity is bound: nothing is eligible)"
    )


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None


class PilotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regions: list[str] = Field(
        min_length=1,
        max_length=500,
        description="GB/T 2260 codes; trailing zeros roll up (530000 the province, 532900 大理州, 532901 one county)",
    )


class PilotOut(BaseModel):
    scenario: Scenario
    regions: list[str]
    started_at: datetime
    updated_at: datetime


class PilotList(BaseModel):
    items: list[PilotOut]
