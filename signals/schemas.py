"""Shapes of ``GET /api/v1/admin/signals``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from server.pagination import Limit
from signals.service import KNOWN_KINDS


class SignalQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    kind: str | None = Field(default=None, description="one of " + ", ".join(KNOWN_KINDS))
    from_: AwareDatetime | date | None = Field(
        default=None,
        alias="from",
        description="signals whose window starts from: a day (YYYY-MM-DD, China Standard Time) or an instant with its offset",
    )
    to: AwareDatetime | date | None = Field(
        default=None, description="a day (inclusive) or an instant (exclusive) with its offset"
    )
    merchant_id: uuid.UUID | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in KNOWN_KINDS:
            raise ValueError("must be one of " + ", ".join(KNOWN_KINDS))
        return value


class SignalOut(BaseModel):
    id: str
    kind: str
    merchant_id: str
    store_id: str
    resident_ref: str | None = Field(
        description="a pseudonym for regulators, never an id (null: about the store)"
    )
    window_start: datetime
    window_end: datetime
    count: int
    detail: dict[str, Any]


class SignalPage(BaseModel):
    items: list[SignalOut]
    next_cursor: str | None
