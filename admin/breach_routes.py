"""Regulator ledger routes (/api/v1/admin): breach reports and their decisions, the ledger's audit trail."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin.service import current_admin
from deposits import service as deposits
from redemptions import audit, breaches
from redemptions.schemas import (
    AdminBreachListQuery,
    AdminBreachOut,
    AdminBreachPage,
    AuditPage,
    AuditQuery,
    BreachDecisionIn,
)
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import documented

bp = Blueprint("admin_breaches", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.get("/breaches")
@documented(
    "Breach reports of every merchant, newest first (e.g. ?status=under_review)",
    query=AdminBreachListQuery,
    answers={200: AdminBreachPage},
)
@admin_only
async def list_breaches(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, AdminBreachListQuery)
    result = await breaches.list_breaches(
        merchant_id=query.merchant_id,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
        for_admin=True,
    )
    return json(result)


@bp.post("/breaches/<breach_id:str>/decision")
@documented(
    "Decide a breach report once: upheld creates a contract_breach record (the score follows), rejected changes nothing",
    path={"breach_id": "the breach report"},
    body=BreachDecisionIn,
    answers={200: AdminBreachOut},
    errors={404: "BREACH_NOT_FOUND", 409: "BREACH_ALREADY_DECIDED / RESIDENT_UNIDENTIFIED"},
)
@admin_only
async def decide(request: Request, breach_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, BreachDecisionIn)
    result = await deposits.decide_breach(
        parse_uuid(breach_id, what="breach report"), body, admin_id=admin.id, now=request.app.ctx.clock()
    )
    return json(result)


@bp.get("/ledger-audit")
@documented(
    "The ledger's audit trail, newest first: who redeemed, reversed, claimed, reported or decided what, and when",
    query=AuditQuery,
    answers={200: AuditPage},
)
@admin_only
async def ledger_audit(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, AuditQuery)
    result = await audit.list_audit(
        target_id=query.target_id, merchant_id=query.merchant_id, limit=query.limit, cursor=query.cursor
    )
    return json(result)
