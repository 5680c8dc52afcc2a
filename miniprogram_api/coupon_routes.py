"""Resident coupon routes (/api/v1/mp): claim a coupon, my wallet, my redemption history."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from redemptions import reports, wallet
from redemptions.schemas import (
    ClaimOut,
    CouponListQuery,
    CouponPage,
    HistoryQuery,
    ResidentRedemptionPage,
    parse_idempotency_key,
)
from residents.service import current_resident
from server.auth import Audience
from server.http import authenticated, json, parse_query, parse_uuid
from server.openapi import IDEMPOTENCY_KEY, Answer, documented

bp = Blueprint("mp_coupons", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


@bp.post("/offers/<offer_id:str>/claim")
@documented(
    "Claim a coupon for an offer that needs one (my live tier, the stock and my limit are checked)",
    description=(
        "The claim takes a unit of the offer's stock and counts against my limit for its period. The coupon "
        "expires with the offer or 30 days after the claim. Send `Idempotency-Key`: a retry with the same key "
        "gets the same coupon (`Idempotency-Replayed: true`)."
    ),
    path={"offer_id": "the offer"},
    params=[IDEMPOTENCY_KEY],
    answers={201: Answer(ClaimOut, headers={"Idempotency-Replayed": {"type": "string", "enum": ["true"]}})},
    errors={
        403: "TIER_TOO_LOW / TIER_RESTRICTED / CONSENT_REQUIRED / IDENTITY_REQUIRED / DEPOSIT_FREE_SUSPENDED",
        404: "OFFER_NOT_FOUND",
        409: "OUT_OF_STOCK / LIMIT_REACHED / OFFER_NOT_ACTIVE / OFFER_NOT_CLAIMABLE / OFFER_OUTSIDE_PILOT / "
        "IDEMPOTENCY_CONFLICT",
        422: "VALIDATION_ERROR: a malformed Idempotency-Key",
    },
)
@resident_only
async def claim(request: Request, offer_id: str) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal, need_consent=True, need_identity=True)
    result = await wallet.claim_coupon(
        resident_id=resident.id,
        offer_id=parse_uuid(offer_id, what="offer"),
        idempotency_key=parse_idempotency_key(request.headers.get("idempotency-key")),
        now=request.app.ctx.clock(),
    )
    headers = {"Idempotency-Replayed": "true"} if result.replayed else None
    return json(result.body, status=result.status_code, headers=headers)


@bp.get("/coupons")
@documented(
    "My wallet: claimed coupons, newest first, as active, used or expired",
    query=CouponListQuery,
    answers={200: CouponPage},
)
@resident_only
async def coupons(request: Request) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal)
    query = parse_query(request, CouponListQuery)
    result = await wallet.list_coupons(
        resident.id, status=query.status, now=request.app.ctx.clock(), limit=query.limit, cursor=query.cursor
    )
    return json(result)


@bp.get("/redemptions")
@documented(
    "My benefits history: every redemption, newest first, with the merchant and whether it was reversed",
    query=HistoryQuery,
    answers={200: ResidentRedemptionPage},
)
@resident_only
async def redemptions(request: Request) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal)
    query = parse_query(request, HistoryQuery)
    return json(await reports.resident_redemptions(resident.id, limit=query.limit, cursor=query.cursor))
