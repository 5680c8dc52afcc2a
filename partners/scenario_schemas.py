"""Shapes of the partner scenarios (信易批 commitments, 信易贷 reports, third-party scores) and the resident's views of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, Strict, field_validator

from partners.schemas import PageQuery

Ref = Annotated[
    str, Field(min_length=1, max_length=64, description="the resident's partner_user_ref for you")
]


def _a_number(value: Any) -> Any:
    # JSON numbers only: "700" or true are not scores.
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


Number = Annotated[float, BeforeValidator(_a_number), Field(allow_inf_nan=False)]


def _sane_year(value: datetime) -> datetime:
    # Years far from now overflow when moved to UTC (9999-12-31T23:59-23:59): refuse them here.
    if not 2000 <= value.year <= 2199:
        raise ValueError("must be a date-time between the years 2000 and 2199")
    return value


Moment = Annotated[AwareDatetime, Strict(), AfterValidator(_sane_year)]


def _stripped(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class CommitmentIn(BaseModel):
    partner_user_ref: Ref
    matter: str = Field(min_length=1, max_length=255, description="the matter accepted (事项名称)")
    missing_items: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1,
        max_length=50,
        description="the items still missing, which the resident committed to bring",
    )
    due_at: Moment = Field(description="the deadline, ISO 8601 with offset")
    external_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")

    _matter = field_validator("matter")(_stripped)


class CommitmentOut(BaseModel):
    id: str
    external_id: str
    matter: str
    missing_items: list[str]
    due_at: datetime
    status: Literal["pending", "fulfilled", "broken"]
    created_at: datetime
    fulfilled_at: datetime | None
    broken_at: datetime | None
    record_id: str | None = Field(description="the commitment_breach record of a broken commitment")


class CommitmentListOut(BaseModel):
    items: list[CommitmentOut]
    next_cursor: str | None


class ReportIn(BaseModel):
    partner_user_ref: Ref
    purpose: str = Field(
        min_length=1,
        max_length=64,
        description="why the report is asked for (e.g. loan_application); shown to the resident with the report",
    )

    _purpose = field_validator("purpose")(_stripped)


class ReportOut(BaseModel):
    id: str
    report: str = Field(
        description=(
            "compact JWS (EdDSA, typ credit-report+jwt, kid in /.well-known/jwks.json); payload: report_id, "
            "partner_user_ref, score, tier, ruleset_version, factors [{code, points}], records "
            "{<category>: {minor, general, serious}} within publicity, volunteer_hours_12m, iat, exp (30 days)"
        )
    )
    kid: str
    expires_at: datetime


class ReportPartnerOut(BaseModel):
    id: str
    name: str


class MyReportOut(BaseModel):
    id: str
    partner: ReportPartnerOut
    purpose: str
    issued_at: datetime
    expires_at: datetime
    valid: bool = Field(
        description="false once expired (a report stays valid until then, even after a revocation)"
    )
    disclosed: dict[str, Any] = Field(
        description="what the report said: score, tier, factors, record counts, hours"
    )


class MyReportListOut(BaseModel):
    items: list[MyReportOut]
    next_cursor: str | None


class ThirdPartyScoreIn(BaseModel):
    score: Number
    scale_min: Number
    scale_max: Number
    as_of: Moment = Field(description="when the provider computed the score")
    valid_until: Moment = Field(
        description="it stops counting after this day (and when the resident's grant ends or is revoked)"
    )


class ThirdPartyScoreOut(BaseModel):
    partner_user_ref: str
    provider: str
    score: float
    scale_min: float
    scale_max: float
    as_of: datetime
    valid_until: datetime = Field(description="as stored: never after the grant's end")
    status: Literal["active", "withdrawn"]
    points: int = Field(description="the points the active ruleset maps this score to (factor THIRD_PARTY)")
    counts: bool


class CommitmentQuery(PageQuery):
    pass
