"""Shapes of the case queue and the overview (``admin/casework_routes.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.pagination import Limit

CaseKind = Literal["objection", "repair", "self_report", "breach", "list_notice", "charge_dispute"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseQueueQuery(_Strict):
    kind: CaseKind | None = None
    status: str | None = Field(
        default=None,
        max_length=16,
        description=(
            "open (the default: the queue is open work): every kind's open statuses; all: open and decided "
            "alike; or a kind's own status (e.g. under_review, rejected)"
        ),
    )
    overdue: bool | None = Field(default=None, description="true: open cases past due_at; false: the others")
    assignee: uuid.UUID | None = Field(default=None, description="only the cases given to this regulator")
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class CaseItem(BaseModel):
    kind: CaseKind
    id: str
    resident_ref: str | None = Field(description="the resident's pseudonymous id (null: no resident account)")
    opened_at: datetime
    due_at: datetime = Field(description="the answer deadline: ruleset data per kind")
    overdue: bool
    assignee: str | None = Field(description="the regulator's admin id")
    assignee_name: str | None
    assigned_at: datetime | None
    status: str
    title: str = Field(description="what kind of case, in Chinese, without personal data")
    summary: str | None


class CasePage(BaseModel):
    items: list[CaseItem]
    next_cursor: str | None


class CaseDetail(CaseItem):
    details: dict[str, Any] = Field(description="the case as the kind's own regulator route shows it")


class AssignIn(_Strict):
    admin_id: uuid.UUID


class OverviewOut(BaseModel):
    residents: int
    consented: int
    identity_bound: int
    tiers: dict[str, int]
    records_by_category: dict[str, int]
    cases_open: int
    cases_overdue: int
    offers_pending: int
