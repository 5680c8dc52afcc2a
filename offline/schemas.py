"""Shapes of the offline scanning endpoints (contract: "Merchants: offline scanning")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from coupons.schemas import MAX_FEN
from server.pagination import Limit

MAX_ITEMS = 500
MAX_REDEMPTIONS = 20
OUTCOMES = ("accepted", "duplicate", "refused", "over_limit")


class BundleQuery(BaseModel):
    store_id: uuid.UUID


class BundleOut(BaseModel):
    bundle: str = Field(
        description="Compact JWS (EdDSA, typ `xinyi-offline-bundle+jwt`, kid in the JWKS): store_id, offers, "
        "pass keys (JWK), revocation (salted-hash set), issued_at, expires_at (unix seconds)"
    )
    expires_at: datetime
    revocation_entries: int
    bytes: int


class OfflineRedemptionIn(BaseModel):
    offer_id: uuid.UUID
    order_amount_fen: StrictInt | None = Field(default=None, ge=0, le=MAX_FEN)


class OfflineItemIn(BaseModel):
    seq: StrictInt = Field(ge=0, le=2**62)
    pass_token: str = Field(min_length=1, max_length=2048)
    scanned_at: AwareDatetime
    redemptions: list[OfflineRedemptionIn] = Field(default_factory=list, max_length=MAX_REDEMPTIONS)


class OfflineUploadIn(BaseModel):
    store_id: uuid.UUID
    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
    items: list[OfflineItemIn] = Field(min_length=1, max_length=MAX_ITEMS)


class OfflineRedemptionResult(BaseModel):
    offer_id: str
    outcome: Literal["redeemed", "over_limit", "refused"]
    reason: str | None = None
    redemption_id: str | None = None


class OfflineItemResult(BaseModel):
    seq: int
    outcome: Literal["accepted", "duplicate", "refused", "over_limit"]
    reason: str | None = None
    scan_id: str | None = None
    redemption_ids: list[str] | None = None
    redemptions: list[OfflineRedemptionResult] | None = None


class OfflineUploadOut(BaseModel):
    results: list[OfflineItemResult]


class OfflineScanListQuery(BaseModel):
    store_id: uuid.UUID | None = None
    outcome: Literal["accepted", "duplicate", "refused", "over_limit"] | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class OfflineScanOut(OfflineItemResult):
    id: str
    store_id: str
    device_id: str
    scanned_at: datetime
    uploaded_at: datetime


class OfflineScanPage(BaseModel):
    items: list[OfflineScanOut]
    next_cursor: str | None
