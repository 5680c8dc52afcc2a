"""Resident deposit-free order routes (/api/v1/mp): my orders, disputing their charges."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from deposits import service
from deposits.schemas import DisputeIn, DisputeOut, ResidentOrderPage, ResidentOrderQuery
from residents.service import current_resident
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import documented

bp = Blueprint("mp_deposits", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


@bp.get("/deposit-free-orders")
@documented(
    "My deposit-free orders, newest first: the merchant, the charges, what is owed and by when",
    description="`deposit_free_suspended`: my deposit-free benefits are suspended (an overdue order is unpaid).",
    query=ResidentOrderQuery,
    answers={200: ResidentOrderPage},
)
@resident_only
async def my_orders(request: Request) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal)
    query = parse_query(request, ResidentOrderQuery)
    result = await service.list_for_resident(
        resident.id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return json(result)


@bp.post("/deposit-free-orders/<order_id:str>/dispute")
@documented(
    "Dispute the charges of one of my orders: a case for a regulator (the order waits on the ladder meanwhile)",
    path={"order_id": "the order"},
    body=DisputeIn,
    answers={201: DisputeOut},
    errors={404: "ORDER_NOT_FOUND", 409: "ORDER_NOT_DISPUTABLE / DISPUTE_OPEN"},
)
@resident_only
async def dispute(request: Request, order_id: str) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal)
    body = parse_body(request, DisputeIn)
    result = await service.dispute_charges(
        resident.id, parse_uuid(order_id, what="order"), reason=body.reason, now=request.app.ctx.clock()
    )
    return json(result, status=201)
