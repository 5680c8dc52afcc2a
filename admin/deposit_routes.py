"""Regulator deposit-free order routes (/api/v1/admin): the ladder's daily run, charge disputes and their decisions."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin.service import current_admin
from deposits import service
from deposits.schemas import (
    AdminDisputeOut,
    AdminDisputePage,
    AdminDisputeQuery,
    AdvanceOut,
    DisputeDecisionIn,
)
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import documented

bp = Blueprint("admin_deposits", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.post("/deposit-free-orders/advance")
@documented(
    "Run the breach ladder now (also `xinyi advance-orders`, daily): unpaid orders become overdue, then suspended",
    answers={200: AdvanceOut},
)
@admin_only
async def advance(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    ctx = request.app.ctx
    return json(await service.advance(now=ctx.clock(), settings=ctx.settings))


@bp.get("/charge-disputes")
@documented(
    "Residents' disputes of deposit-free order charges, newest first (also in the case queue as charge_dispute)",
    query=AdminDisputeQuery,
    answers={200: AdminDisputePage},
)
@admin_only
async def list_disputes(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, AdminDisputeQuery)
    return json(await service.list_disputes(status=query.status, limit=query.limit, cursor=query.cursor))


@bp.post("/charge-disputes/<dispute_id:str>/decision")
@documented(
    "Decide a charge dispute once: upheld waives the charges or reduces them to amount_due_fen, rejected changes nothing",
    path={"dispute_id": "the dispute"},
    body=DisputeDecisionIn,
    answers={200: AdminDisputeOut},
    errors={404: "DISPUTE_NOT_FOUND", 409: "DISPUTE_ALREADY_DECIDED", 422: "VALIDATION_ERROR"},
)
@admin_only
async def decide(request: Request, dispute_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, DisputeDecisionIn)
    ctx = request.app.ctx
    result = await service.decide_dispute(
        parse_uuid(dispute_id, what="dispute"),
        body,
        admin_id=admin.id,
        now=ctx.clock(),
        settings=ctx.settings,
    )
    return json(result)
