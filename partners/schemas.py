"""Shapes of the partner endpoints: admin accounts, signed volunteer intake, grants, webhooks."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    field_validator,
)

from partners.models import PartnerKind, PartnerScope
from partners.webhook_url import MAX_LENGTH, webhook_url_problem
from server.pagination import Limit

EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def external_id_problem(value: str) -> str | None:
    """Why a path ``external_id`` is unacceptable (1–128 of A-Z a-z 0-9 . _ : -), or None."""
    return None if EXTERNAL_ID.match(value) else "must be 1–128 characters of A-Z a-z 0-9 . _ : -"


# --- admin: partner accounts -------------------------------------------------------------


class PartnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    kind: PartnerKind
    scopes: list[PartnerScope] = Field(min_length=1, max_length=len(PartnerScope))
    webhook_url: str | None = Field(default=None, max_length=MAX_LENGTH)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("scopes")
    @classmethod
    def _unique_scopes(cls, value: list[PartnerScope]) -> list[PartnerScope]:
        return sorted(set(value))

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        # The shape only; the prod rules (https, no internal address) need settings and DNS
        # and are checked by the service.
        if value is not None and (why := webhook_url_problem(value, https_only=False)):
            raise ValueError(why)
        return value


class PartnerOut(BaseModel):
    id: str
    name: str
    kind: str
    scopes: list[str]
    key: str
    webhook_url: str | None
    created_at: datetime
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None


class PartnerCreatedOut(PartnerOut):
    secret: str = Field(description="Shown once: store it now, it cannot be read again.")


class PartnerListOut(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None


class PartnerListQuery(BaseModel):
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)


class RotatedSecretOut(BaseModel):
    id: str
    key: str
    secret: str = Field(
        description="Shown once. The previous secret keeps working until previous_secret_expires_at."
    )
    previous_secret_expires_at: datetime


# --- partner: volunteer intake -----------------------------------------------------------


def _a_number(value: Any) -> Any:
    # JSON numbers only: "1.5" or true are not hours.
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


class VolunteerHoursIn(BaseModel):
    id_number: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    activity: str = Field(min_length=1, max_length=255)
    organization: str = Field(min_length=1, max_length=255)
    started_at: Annotated[AwareDatetime, Strict()] = Field(description="ISO 8601 with offset")
    hours: Annotated[
        Decimal,
        WithJsonSchema(
            {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 24,
                "description": "a JSON number of hours, at most 2 decimals, e.g. 2.5",
            }
        ),
    ] = Field(decimal_places=2)

    _hours_is_a_number = field_validator("hours", mode="before")(_a_number)


class VolunteerRecordOut(BaseModel):
    """The stored record, as the credit service keeps it."""

    id: str
    external_id: str
    activity: str
    organization: str
    started_at: datetime
    ended_at: datetime
    hours: float
    status: Literal["active", "revoked"]
    counted: bool = Field(
        description="false when revoked, or when it duplicates an activity another platform posted"
    )
    duplicate_of: str | None
    created_at: datetime
    updated_at: datetime


class VolunteerRevokedOut(BaseModel):
    external_id: str
    status: Literal["revoked"]


# --- residents: grants and the access log ------------------------------------------------


class GrantIn(BaseModel):
    partner_id: uuid.UUID
    scopes: list[PartnerScope] = Field(min_length=1, max_length=len(PartnerScope))

    @field_validator("scopes")
    @classmethod
    def _unique_scopes(cls, value: list[PartnerScope]) -> list[PartnerScope]:
        return sorted(set(value))


class GrantPartnerOut(BaseModel):
    id: str
    name: str


class GrantOut(BaseModel):
    id: str
    partner: GrantPartnerOut
    scopes: list[str]
    status: str = Field(description="pending | active | expired | revoked | replaced")
    created_at: datetime
    code_expires_at: datetime
    activated_at: datetime | None
    expires_at: datetime | None = Field(
        description="when the grant ends (in the creation answer: when the code ends)"
    )
    revoked_at: datetime | None


class GrantCreatedOut(GrantOut):
    authorization_code: str = Field(
        description="Shown once; hand it to the partner. Single use, valid until expires_at (10 minutes)."
    )


class GrantListOut(BaseModel):
    items: list[GrantOut]
    next_cursor: str | None


class PageQuery(BaseModel):
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)


class AccessLogItem(BaseModel):
    at: datetime
    actor_type: str = Field(description="partner | merchant | regulator")
    actor_name: str
    purpose: str = Field(
        description="tier_read | pass_verify | online_redemption | pass_scan | case_read | credit_report | "
        "commitment | third_party_score"
    )
    purpose_label: str
    store_name: str | None = None
    outcome: str | None = Field(default=None, description="scans: accepted | refused")
    case_kind: str | None = Field(default=None, description="a regulator's read: which kind of case")


class AccessLogOut(BaseModel):
    items: list[AccessLogItem]
    next_cursor: str | None


# --- partners: grants, tiers, passes, online redemptions ---------------------------------


class ExchangeIn(BaseModel):
    authorization_code: str = Field(min_length=1, max_length=128)


class ExchangeOut(BaseModel):
    partner_user_ref: str
    scopes: list[str]
    expires_at: datetime


class TierOut(BaseModel):
    tier: str
    as_of: datetime


class PassVerifyIn(BaseModel):
    pass_token: str = Field(min_length=1, max_length=2048)
    consume: StrictBool = Field(
        default=False, description="true spends the pass, exactly as a merchant scan does"
    )


class PassVerifyOut(BaseModel):
    valid: bool
    tier: str | None = None
    resident_ref: str | None = Field(default=None, description="the resident's partner_user_ref for you")
    expires_at: datetime | None = None
    reason: str | None = Field(default=None, description="PASS_INVALID | PASS_EXPIRED | PASS_ALREADY_USED")


class OnlineRedemptionIn(BaseModel):
    partner_user_ref: str = Field(min_length=1, max_length=64)
    offer_id: uuid.UUID
    external_order_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    order_amount_fen: StrictInt = Field(ge=0, le=100_000_000_00)


# --- regulators ---------------------------------------------------------------------------


class PartnerMerchantsIn(BaseModel):
    merchant_ids: list[uuid.UUID] = Field(max_length=1000)


class PartnerMerchantsOut(BaseModel):
    partner_id: str
    merchant_ids: list[str]


class DeliveryListQuery(PageQuery):
    status: Literal["pending", "delivering", "delivered", "failed"] | None = None


class DeliveryOut(BaseModel):
    id: str
    partner_id: str
    type: str
    status: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    payload: dict[str, Any]


class DeliveryListOut(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
