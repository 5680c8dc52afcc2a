"""Request and response shapes of the credit endpoints, kept apart from the ORM models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema, field_validator, model_validator

from credit.scoring import LOCAL_TZ
from server.pagination import Limit

MAX_ITEMS_PER_REQUEST = 1000

Category = Literal[
    "admin_penalty",
    "commendation",
    "red_list",
    "black_list",
    "court_judgment",
    "arrears",
    "contract_breach",
    "commitment_breach",
]
Severity = Literal["minor", "general", "serious"]


def _to_date(value: Any) -> Any:
    """A date, or the China-calendar date of an ISO datetime with an offset."""
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value  # pydantic reports it
        if moment.tzinfo is None:
            raise ValueError("a date-time needs a UTC offset (or send a plain date)")
        return moment.astimezone(LOCAL_TZ).date()
    return value


class CreditRecordIn(BaseModel):
    """One public credit record as a source sends it (API item or one JSONL line)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(
        min_length=1, max_length=64, description="the issuing system, e.g. yn-credit-platform"
    )
    source_record_id: str = Field(min_length=1, max_length=128, description="the record's id in that system")
    subject_type: Literal["natural_person"] = "natural_person"
    id_number: str = Field(min_length=1, max_length=32, description="citizen ID number (hashed at intake)")
    name: str = Field(min_length=1, max_length=50)
    category: Category
    severity: Severity | None = None
    title: str = Field(min_length=1, max_length=255)
    decided_at: date
    publicity_until: date | None = None
    status: Literal["active", "revoked"] = Field(
        default="active", description="a source withdraws a record by sending it again as revoked"
    )
    profession: Literal["tour_guide"] | None = Field(
        default=None, description="a record of conduct in a key profession (seed 002 §10); needs licence_no"
    )
    licence_no: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="the licence number (导游证号)",
    )
    licence_status: Literal["valid", "suspended", "revoked"] | None = Field(
        default=None, description="the licence's status as the source knows it (a new licence: valid)"
    )

    _dates = field_validator("decided_at", "publicity_until", mode="before")(_to_date)

    @model_validator(mode="after")
    def _licence_with_profession(self) -> CreditRecordIn:
        if (self.profession is None) != (self.licence_no is None):
            raise ValueError("profession and licence_no go together")
        if self.licence_status is not None and self.profession is None:
            raise ValueError("licence_status needs profession and licence_no")
        return self


class CreditRecordsIn(BaseModel):
    """A batch of records; every item is validated on its own (a bad one is rejected alone, in the answer)."""

    items: list[Annotated[Any, WithJsonSchema(CreditRecordIn.model_json_schema(mode="validation"))]] = Field(
        max_length=MAX_ITEMS_PER_REQUEST
    )


class RejectedItem(BaseModel):
    index: int
    code: str
    message: str
    fields: dict[str, str] = {}


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectedItem]


class PageQuery(BaseModel):
    limit: Limit = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=500)


# --- resident views ---------------------------------------------------------------------


class FactorOut(BaseModel):
    code: str
    label: str
    points: int
    record_ids: list[str]


class NextTierOut(BaseModel):
    tier: str
    points_needed: int


class ScoreOut(BaseModel):
    score: int
    tier: str
    ruleset_version: str
    computed_at: datetime
    as_of: date
    factors: list[FactorOut]
    next_tier: NextTierOut | None


class HistoryItem(BaseModel):
    score: int
    tier: str
    previous_tier: str | None
    ruleset_version: str
    computed_at: datetime
    reason: str


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None


class RecordItem(BaseModel):
    id: str
    category: str
    severity: str | None
    title: str
    source: str
    occurred_at: date
    status: Literal[
        "notified", "active", "disputed", "repaired", "corrected", "withdrawn", "revoked", "exited"
    ]
    objection_until: datetime | None = Field(
        description="a list entry under notice: objections are accepted until then"
    )
    disputed_until: date | None = Field(description="an objection is open: the day it must be answered by")
    counts_until: date | None
    points: int


class RecordPage(BaseModel):
    items: list[RecordItem]
    next_cursor: str | None


class VolunteerItem(BaseModel):
    id: str
    activity: str
    organization: str
    started_at: datetime
    ended_at: datetime
    hours: float
    status: str
    counted: bool
    duplicate_of: str | None


class VolunteerPage(BaseModel):
    items: list[VolunteerItem]
    next_cursor: str | None
    total_hours: float


# --- rulesets (regulators) --------------------------------------------------------------


class RulesetIn(RootModel[dict[str, Any]]):
    """A whole ruleset document (see credit/rulesets/default-v1.json), ``version`` included."""


class RulesetOut(BaseModel):
    version: str
    status: str
    created_at: datetime
    activated_at: datetime | None
    data: dict[str, Any]


class RulesetPage(BaseModel):
    items: list[RulesetOut]
    next_cursor: str | None


class TierMove(BaseModel):
    from_tier: str = Field(alias="from")
    to_tier: str = Field(alias="to")
    count: int


class DryRunOut(BaseModel):
    version: str
    compared_with: str
    as_of: date
    residents: int
    up: int
    down: int
    same: int
    changes: list[TierMove]


class ActivateOut(BaseModel):
    ruleset: RulesetOut
    residents: int
    scores_changed: int
    tier_changes: int
