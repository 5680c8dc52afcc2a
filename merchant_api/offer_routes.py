"""Merchant offer routes (/api/v1/merchant/offers): owners propose and change offers, staff list them."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from coupons import service
from coupons.schemas import OfferIn, OfferListQuery, OfferOut, OfferPatch
from merchants import service as merchants
from passes.service import pass_runtime
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid

bp = Blueprint("merchant_offers", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)


@bp.post("/offers")
@openapi.summary("Owner: propose an offer; it is pending_approval until a regulator approves it")
@openapi.secured("bearer")
@openapi.body({"application/json": OfferIn})
@openapi.response(201, {"application/json": OfferOut})
@openapi.response(403, description="FORBIDDEN (not the owner)")
@openapi.response(422, description="VALIDATION_ERROR with fields")
@staff_only
async def create_offer(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    merchants.require_owner(staff)
    body = parse_body(request, OfferIn)
    offer = await service.create_offer(staff, body, now=request.app.ctx.clock())
    return json(offer, status=201)


@bp.patch("/offers/<offer_id:str>")
@openapi.summary(
    "Owner: change an offer (changed terms need a new approval; stock, an earlier end and pausing do not)"
)
@openapi.secured("bearer")
@openapi.body({"application/json": OfferPatch})
@openapi.response(200, {"application/json": OfferOut})
@openapi.response(403, description="FORBIDDEN (not the owner)")
@openapi.response(409, description="OFFER_NOT_RESUMABLE")
@openapi.response(422, description="VALIDATION_ERROR with fields")
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
@openapi.summary("My merchant's offers, newest first, optionally of one status")
@openapi.secured("bearer")
@openapi.parameter("status", str, "query", description="pending_approval | active | paused | rejected")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@staff_only
async def list_offers(request: Request) -> HTTPResponse:
    query = parse_query(request, OfferListQuery)
    staff = await merchants.current_staff(request.ctx.principal)
    result = await service.list_offers(
        merchant_id=staff.merchant_id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return json(result)
