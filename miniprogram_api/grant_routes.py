"""Resident routes for partner grants and the access log (/api/v1/mp/grants, /api/v1/mp/access-log)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from partners import access_log, grants
from partners.schemas import AccessLogOut, GrantCreatedOut, GrantIn, GrantListOut, GrantOut, PageQuery
from residents import service as residents
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import documented

bp = Blueprint("mp_grants", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


@bp.post("/grants")
@documented(
    "Authorise a partner platform for some scopes: a one-time code to hand to the partner",
    description=(
        "The code is single use and lives 10 minutes; the partner exchanges it for your reference "
        "(`POST /api/v1/partner/grants/exchange`). Scopes must be among the partner's own."
    ),
    body=GrantIn,
    answers={201: GrantCreatedOut},
    errors={
        403: "CONSENT_REQUIRED / IDENTITY_REQUIRED",
        422: "VALIDATION_ERROR: unknown partner, a scope the partner does not have",
    },
)
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
@documented(
    "My grants to partner platforms, newest first (partner, scopes, dates, status)",
    query=PageQuery,
    answers={200: GrantListOut},
)
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
@documented(
    "Revoke a grant at once (the partner is told with a grant.revoked webhook)",
    path={"grant_id": "the grant"},
    answers={200: GrantOut},
    errors={404: "GRANT_NOT_FOUND"},
)
@resident_only
async def revoke_grant(request: Request, grant_id: str) -> HTTPResponse:
    resident = await residents.current_resident(request.ctx.principal)
    return json(
        await grants.revoke_grant(resident, parse_uuid(grant_id, what="grant"), now=request.app.ctx.clock())
    )


@bp.get("/access-log")
@documented(
    "Who read my data: partners' reads and verifications, merchants' scans, newest first",
    query=PageQuery,
    answers={200: AccessLogOut},
)
@resident_only
async def get_access_log(request: Request) -> HTTPResponse:
    query = parse_query(request, PageQuery)
    resident = await residents.current_resident(request.ctx.principal)
    return json(await access_log.resident_access_log(resident.id, limit=query.limit, cursor=query.cursor))
