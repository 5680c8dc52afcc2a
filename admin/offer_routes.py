"""Regulator routes for benefits (/api/v1/admin): review offers, read the scan log."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin import service as admins
from coupons import service
from coupons.schemas import AdminOfferListQuery, OfferOut, OfferPage, RejectIn
from passes import service as passes
from passes.schemas import AdminScanListQuery, AdminScanPage
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import documented
from server.replica import on_replica

bp = Blueprint("admin_offers", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.get("/offers")
@documented(
    "Offers of every merchant, newest first (e.g. ?status=pending_approval)",
    query=AdminOfferListQuery,
    answers={200: OfferPage},
)
@admin_only
@on_replica  # a listing: the replica may serve it (server.replica)
async def list_offers(request: Request) -> HTTPResponse:
    query = parse_query(request, AdminOfferListQuery)
    await admins.current_admin(request.ctx.principal)
    return json(
        await service.list_offers(
            merchant_id=query.merchant_id, status=query.status, limit=query.limit, cursor=query.cursor
        )
    )


@bp.post("/offers/<offer_id:str>/approve")
@documented(
    "Approve an offer waiting for approval: it becomes active",
    path={"offer_id": "the offer"},
    answers={200: OfferOut},
    errors={404: "OFFER_NOT_FOUND", 409: "OFFER_NOT_PENDING / OFFER_OUTSIDE_PILOT (with the stores outside)"},
)
@admin_only
async def approve_offer(request: Request, offer_id: str) -> HTTPResponse:
    admin = await admins.current_admin(request.ctx.principal)
    offer = await service.approve_offer(
        parse_uuid(offer_id, what="offer"),
        admin_id=admin.id,
        now=request.app.ctx.clock(),
        cache=passes.pass_runtime(request.app).store_offers,
    )
    return json(offer)


@bp.post("/offers/<offer_id:str>/reject")
@documented(
    "Reject an offer waiting for approval, with a note to the merchant",
    path={"offer_id": "the offer"},
    body=RejectIn,
    answers={200: OfferOut},
    errors={404: "OFFER_NOT_FOUND", 409: "OFFER_NOT_PENDING"},
)
@admin_only
async def reject_offer(request: Request, offer_id: str) -> HTTPResponse:
    body = parse_body(request, RejectIn)
    admin = await admins.current_admin(request.ctx.principal)
    offer = await service.reject_offer(
        parse_uuid(offer_id, what="offer"),
        admin_id=admin.id,
        note=body.note,
        now=request.app.ctx.clock(),
        cache=passes.pass_runtime(request.app).store_offers,
    )
    return json(offer)


@bp.get("/scans")
@documented(
    "The scan log of every merchant, newest first; filter by merchant, store and outcome",
    query=AdminScanListQuery,
    answers={200: AdminScanPage},
)
@admin_only
@on_replica  # a listing: the replica may serve it (server.replica)
async def list_scans(request: Request) -> HTTPResponse:
    query = parse_query(request, AdminScanListQuery)
    await admins.current_admin(request.ctx.principal)
    result = await passes.list_scans(
        passes.pass_runtime(request.app).pseudonyms,
        merchant_id=query.merchant_id,
        store_ids=[query.store_id] if query.store_id else None,
        outcome=query.outcome,
        limit=query.limit,
        cursor=query.cursor,
        with_merchant=True,
    )
    return json(result)
