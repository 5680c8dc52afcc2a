"""The inbox's shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.pagination import Limit

Template = Literal["list_notice", "case_decision", "tier_changed", "publicity_ending"]


NoticeKind = Literal[
    "list_notice",
    "case_decision",
    "tier_changed",
    "publicity_ending",
    "deposit_free_overdue",
    "deposit_free_suspended",
    "commitment_broken",
]
"""What a notice is about: a subscribe template's kind, or an inbox-only kind (deposit-free orders' ladder)."""


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: NoticeKind
    title: str
    body: str
    case_kind: str | None
    case_id: str | None
    created_at: datetime
    read: bool
    read_at: datetime | None
    subscribe_message_sent: bool


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: bool | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class SubscriptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted: list[Template] = Field(max_length=20, description="the templates the user just accepted")


class AllowancesOut(BaseModel):
    allowances: dict[str, int]
