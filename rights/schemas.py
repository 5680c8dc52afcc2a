"""What residents and regulators send and get about list entries, objections, repairs and self-reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from merchants.vocabulary import region_problem
from server.pagination import Limit

Severity = Literal["minor", "general", "serious"]
MAX_ATTACHMENTS = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- list entries (regulators) -------------------------------------------------------------------


class ListEntryIn(_Strict):
    kind: Literal["red", "black"]
    id_number: str = Field(min_length=15, max_length=18, description="GB 11643 ID number of the person")
    name: str = Field(min_length=1, max_length=64)
    category: str = Field(
        min_length=1,
        max_length=48,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="which list: tourism, transport, tax, court_dishonest_debtor (repaired only by the court), …",
    )
    severity: Severity | None = None
    title: str = Field(min_length=1, max_length=255)
    basis: str = Field(
        min_length=1, max_length=4000, description="认定依据: the decision and the rule it applies"
    )
    decided_at: date
    publicity_until: date | None = None
    region: str | None = Field(
        default=None,
        description="where it was decided (6-digit GB/T 2260 code, e.g. 532900): the public lists filter by it",
        json_schema_extra={"pattern": r"^[1-9][0-9]{5}$"},
    )

    @field_validator("region")
    @classmethod
    def _region_code(cls, value: str | None) -> str | None:
        if value is not None and (why := region_problem(value)):
            raise ValueError(why)
        return value

    @model_validator(mode="after")
    def _publicity_after_decision(self) -> ListEntryIn:
        if self.publicity_until is not None and self.publicity_until < self.decided_at:
            raise ValueError("publicity_until must not be before decided_at")
        return self


class ListEntryCreated(BaseModel):
    id: uuid.UUID
    record_id: str
    state: Literal["notified", "active", "exited"]
    objection_until: datetime | None


class Transition(BaseModel):
    from_: str | None = Field(alias="from")
    to: str
    at: datetime
    actor: str
    reason: str


class ListEntryOut(BaseModel):
    id: uuid.UUID
    record_id: str
    kind: Literal["red", "black"]
    category: str
    state: Literal["notified", "active", "exited"]
    title: str
    basis: str
    severity: Severity | None
    decided_at: date
    publicity_until: date | None
    objection_until: datetime | None
    record_status: str
    resident_bound: bool
    region: str | None = None
    created_at: datetime
    transitions: list[Transition] | None = None


class ListEntryPage(BaseModel):
    items: list[ListEntryOut]
    next_cursor: str | None


class ListEntryQuery(_Strict):
    state: Literal["notified", "active", "exited"] | None = None
    kind: Literal["red", "black"] | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class ExitIn(_Strict):
    reason: str = Field(min_length=1, max_length=2000)


class AdvanceOut(BaseModel):
    adopted: int = Field(
        description="entries made for list records that arrived decided from the provincial platform"
    )
    activated: int
    exited: int
    publicity_notices: int
    overdue_objections: int


# --- objections ----------------------------------------------------------------------------------


class ObjectionIn(_Strict):
    record_id: str | None = Field(default=None, max_length=20, description="one of my records")
    target: Literal["record", "score"] = Field(
        default="record", description="score: ask a person to review the score itself (PIPL art. 24)"
    )
    reason: str = Field(min_length=1, max_length=4000)
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)

    @model_validator(mode="after")
    def _record_for_a_record(self) -> ObjectionIn:
        if self.target == "record" and not self.record_id:
            raise ValueError("record_id is required unless target is score")
        if self.target == "score" and self.record_id:
            raise ValueError("a review of the score names no record")
        return self


class ObjectionOut(BaseModel):
    id: uuid.UUID
    target: Literal["record", "score"]
    record_id: str | None
    status: Literal["open", "upheld", "rejected", "withdrawn"] = Field(
        description="withdrawn: the resident erased the account while it was open"
    )
    reason: str
    attachment_ids: list[uuid.UUID]
    due_at: datetime
    overdue: bool
    created_at: datetime
    decided_at: datetime | None
    note: str | None
    correction: dict | None


class ObjectionPage(BaseModel):
    items: list[ObjectionOut]
    next_cursor: str | None


class Correction(_Strict):
    action: Literal["withdraw", "regrade"]
    severity: Severity | None = None

    @model_validator(mode="after")
    def _regrade_names_severity(self) -> Correction:
        if self.action == "regrade" and self.severity is None:
            raise ValueError("a regrade names the new severity")
        return self


class ObjectionDecisionIn(_Strict):
    outcome: Literal["upheld", "rejected"]
    note: str = Field(min_length=1, max_length=4000, description="what the resident reads")
    correction: Correction | None = Field(
        default=None, description="upheld objections to a record: withdraw it (default) or regrade it"
    )


class CaseQuery(_Strict):
    status: str | None = Field(default=None, max_length=16)
    overdue: bool | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class MyCaseQuery(_Strict):
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


# --- repairs -------------------------------------------------------------------------------------


class RepairIn(_Strict):
    record_id: str = Field(min_length=1, max_length=20)
    commitment: str = Field(min_length=1, max_length=4000, description="信用承诺: what I commit to")
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class RepairOut(BaseModel):
    id: uuid.UUID
    record_id: str
    status: Literal["under_review", "approved", "rejected", "withdrawn"] = Field(
        description="withdrawn: the resident erased the account while it was under review"
    )
    commitment: str
    attachment_ids: list[uuid.UUID]
    created_at: datetime
    decided_at: datetime | None
    note: str | None


class RepairPage(BaseModel):
    items: list[RepairOut]
    next_cursor: str | None


class RepairDecisionIn(_Strict):
    outcome: Literal["approved", "rejected"]
    note: str = Field(min_length=1, max_length=4000)


# --- attachments and self-reports ----------------------------------------------------------------


class AttachmentOut(BaseModel):
    id: uuid.UUID
    content_type: Literal["image/jpeg", "image/png", "application/pdf"] = Field(
        description="judged from the file's bytes, not its name"
    )
    size: int = Field(description="bytes")
    created_at: datetime


SelfReportCategory = Literal["volunteering", "donation", "blood_donation", "award", "rescue", "other"]


class SelfReportIn(_Strict):
    category: SelfReportCategory
    title: str = Field(min_length=1, max_length=120)
    description: str = Field(min_length=1, max_length=4000)
    occurred_at: date = Field(description="the day it happened, not in the future")
    attachment_ids: list[uuid.UUID] = Field(
        max_length=MAX_ATTACHMENTS, description="up to 3 of my uploads (POST /attachments) as evidence"
    )


class SelfReportOut(BaseModel):
    id: uuid.UUID
    category: SelfReportCategory
    title: str
    description: str
    occurred_at: date
    attachment_ids: list[uuid.UUID]
    status: Literal["under_review", "approved", "rejected", "withdrawn"] = Field(
        description="withdrawn: the resident erased the account while it was under review"
    )
    created_at: datetime
    decided_at: datetime | None
    note: str | None
    record_id: str | None = Field(description="the commendation record an approval created")


class SelfReportPage(BaseModel):
    items: list[SelfReportOut]
    next_cursor: str | None


class SelfReportQuery(_Strict):
    status: Literal["under_review", "approved", "rejected"] | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class SelfReportDecisionIn(_Strict):
    outcome: Literal["approved", "rejected"]
    note: str = Field(min_length=1, max_length=4000, description="what the resident reads")
    points: int | None = Field(
        default=None,
        ge=1,
        description="approved: at most the active ruleset's commendation points (422 above them). The "
        "scoring engine counts every commendation record at the ruleset's points (up to its cap), so "
        "that is what the record is worth whatever is given here",
    )
