"""Shapes of the pass and scan endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool


class PassIn(BaseModel):
    """Optional body of ``POST /pass``; ``image: false`` (or ``?image=false``) skips the PNG."""

    image: StrictBool = True


class PassOut(BaseModel):
    token: str
    expires_at: datetime
    refresh_after_s: int
    tier: str
    qr_png_base64: str | None


class ScanIn(BaseModel):
    pass_token: str = Field(min_length=1, max_length=2048)
    store_id: uuid.UUID


class BenefitItem(BaseModel):
    offer_id: str
    type: str
    label: str
    value: int | None
    coupon_id: str | None = None


class ScanOut(BaseModel):
    scan_id: str
    tier: str
    resident_ref: str
    benefits: list[BenefitItem]
    expires_at: datetime


class ScanListQuery(BaseModel):
    store_id: uuid.UUID | None = None
    outcome: Literal["accepted", "refused"] | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class AdminScanListQuery(ScanListQuery):
    merchant_id: uuid.UUID | None = None
