"""Merchant offer routes (/api/v1/merchant/offers): owners propose and change offers, staff list them."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from coupons import service
from coupons.schemas import OfferIn, OfferListQuery, OfferOut, OfferPage, OfferPatch
from merchants import service as merchants
from passes.service import pass_runtime
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import documented

bp = Blueprint("merchant_offers", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)


@bp.post("/offers")
@documented(
    "Owner: propose an offer; it is pending_approval until a regulator approves it",
    body=OfferIn,
    answers={201: OfferOut},
    errors={403: "FORBIDDEN: owners only", 422: "VALIDATION_ERROR: with a reason per field"},
)
@staff_only
async def create_offer(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    merchants.require_owner(staff)
    body = parse_body(request, OfferIn)
    offer = await service.create_offer(staff, body, now=request.app.ctx.clock())
    return json(offer, status=201)


@bp.patch("/offers/<offer_id:str>")
@documented(
    "Owner: change an offer (changed terms need a new approval; stock, an earlier end and pausing do not)",
    path={"offer_id": "the offer"},
    body=OfferPatch,
    answers={200: OfferOut},
    errors={
        403: "FORBIDDEN: owners only",
        404: "OFFER_NOT_FOUND",
        409: "OFFER_NOT_RESUMABLE",
        422: "VALIDATION_ERROR: with a reason per field",
    },
)
@staff_only
async def update_offer(request: Request, offer_id: str) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    merchants.require_owner(staff)
    body = parse_body(request, OfferPatch)
    offer = await service.update_offer(
        staff,
        parse_uuid(offer_id, what="offer"),
        body,
        now=request.app.ctx.clock(),
        cache=pass_runtime(request.app).store_offers,
    )
    return json(offer)


@bp.get("/offers")
@documented(
    "My merchant's offers, newest first, optionally of one status",
    query=OfferListQuery,
    answers={200: OfferPage},
)
@staff_only
async def list_offers(request: Request) -> HTTPResponse:
    query = parse_query(request, OfferListQuery)
    staff = await merchants.current_staff(request.ctx.principal)
    result = await service.list_offers(
        merchant_id=staff.merchant_id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return json(result)
