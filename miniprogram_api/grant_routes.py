"""Resident routes for partner grants and the access log (/api/v1/mp/grants, /api/v1/mp/access-log)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from partners import access_log, grants
from partners.schemas import AccessLogOut, GrantCreatedOut, GrantIn, GrantListOut, GrantOut, PageQuery
from residents import service as residents
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid

bp = Blueprint("mp_grants", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


@bp.post("/grants")
@openapi.summary("Authorise a partner platform for some scopes: a one-time code to hand to the partner")
@openapi.description(
    "The code is single use and lives 10 minutes; the partner exchanges it for your reference "
    "(`POST /api/v1/partner/grants/exchange`). Scopes must be among the partner's own."
)
@openapi.secured("bearer")
@openapi.body({"application/json": GrantIn})
@openapi.response(201, {"application/json": GrantCreatedOut})
@openapi.response(403, description="CONSENT_REQUIRED / IDENTITY_REQUIRED")
@openapi.response(422, description="VALIDATION_ERROR: unknown partner, a scope the partner does not have")
@resident_only
async def create_grant(request: Request) -> HTTPResponse:
    body = parse_body(request, GrantIn)
    resident = await residents.current_resident(request.ctx.principal, need_consent=True, need_identity=True)
    result = await grants.create_grant(
        resident,
        partner_id=body.partner_id,
        scopes=[s.value for s in body.scopes],
        hasher=request.app.ctx.hasher,
        now=request.app.ctx.clock(),
    )
    return json(result, status=201)


@bp.get("/grants")
@openapi.summary("My grants to partner platforms, newest first (partner, scopes, dates, status)")
@openapi.secured("bearer")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@openapi.response(200, {"application/json": GrantListOut})
@resident_only
async def list_grants(request: Request) -> HTTPResponse:
    query = parse_query(request, PageQuery)
    resident = await residents.current_resident(request.ctx.principal)
    return json(
        await grants.list_grants(
            resident, now=request.app.ctx.clock(), limit=query.limit, cursor=query.cursor
        )
    )


@bp.delete("/grants/<grant_id:str>")
@openapi.summary("Revoke a grant at once (the partner is told with a grant.revoked webhook)")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": GrantOut})
@openapi.response(404, description="GRANT_NOT_FOUND")
@resident_only
async def revoke_grant(request: Request, grant_id: str) -> HTTPResponse:
    resident = await residents.current_resident(request.ctx.principal)
    return json(
        await grants.revoke_grant(resident, parse_uuid(grant_id, what="grant"), now=request.app.ctx.clock())
    )


@bp.get("/access-log")
@openapi.summary("Who read my data: partners' reads and verifications, merchants' scans, newest first")
@openapi.secured("bearer")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@openapi.response(200, {"application/json": AccessLogOut})
@resident_only
async def get_access_log(request: Request) -> HTTPResponse:
    query = parse_query(request, PageQuery)
    resident = await residents.current_resident(request.ctx.principal)
    return json(await access_log.resident_access_log(resident.id, limit=query.limit, cursor=query.cursor))
