"""Shapes of the pass and scan endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from server.pagination import Limit


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
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class AdminScanListQuery(ScanListQuery):
    merchant_id: uuid.UUID | None = None


class PassJwk(BaseModel):
    """The public half of a pass signing key (RFC 8037 OKP, Ed25519)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="the public key, base64url")
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class JwksOut(BaseModel):
    keys: list[PassJwk]


class ScanItem(BaseModel):
    """One scan of the scan log, accepted or refused (refused ones carry the reason)."""

    id: str
    store_id: str
    staff_id: str
    outcome: Literal["accepted", "refused"]
    reason: str | None
    tier: str | None
    resident_ref: str | None
    benefits: list[BenefitItem]
    created_at: datetime
    expires_at: datetime | None


class ScanPage(BaseModel):
    items: list[ScanItem]
    next_cursor: str | None


class AdminScanItem(ScanItem):
    merchant_id: str


class AdminScanPage(BaseModel):
    items: list[AdminScanItem]
    next_cursor: str | None
