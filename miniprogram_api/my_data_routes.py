"""My data (/api/v1/mp): a copy of everything held about me, and the erasure of my account."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import empty

from miniprogram_api import my_data
from miniprogram_api.my_data import ExportOut, ExportQuery
from residents.service import current_resident
from server.auth import Audience
from server.http import authenticated, json, parse_query
from server.openapi import Answer, documented
from server.replica import on_replica

bp = Blueprint("miniprogram_my_data", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


@bp.get("/export")
@documented(
    "Everything held about me, as one JSON document (?download=1: as a file)",
    description=(
        "Identity masked as in `GET /me`; every list complete. Needs no consent: a resident who "
        "withdrew it may still have a copy."
    ),
    query=ExportQuery,
    answers={
        200: Answer(
            ExportOut,
            headers={"Content-Disposition": {"type": "string", "description": "with ?download=1 only"}},
        )
    },
)
@resident_only
@on_replica  # a listing: the replica may serve it (server.replica)
async def export(request: Request) -> HTTPResponse:
    query = parse_query(request, ExportQuery)
    resident = await current_resident(request.ctx.principal)
    now = request.app.ctx.clock()
    document = await my_data.export(resident, cipher=request.app.ctx.cipher, now=now)
    headers = None
    if query.download:
        headers = {"Content-Disposition": f'attachment; filename="{my_data.export_filename(now)}"'}
    return json(document, headers=headers)


@bp.delete("/me")
@documented(
    "Erase my account: identity, phone, name and WeChat openid; tokens and partner grants revoked",
    description=(
        "One request, no consent needed. Partners I had authorised hear `grant.revoked`. Ledgers "
        "(scans, redemptions, decided cases) keep my account's id as a pseudonym; public credit "
        "records stay with the authority and attach again if I bind the same ID number later. "
        "Logging in again with the same WeChat account starts a new account."
    ),
    answers={204: Answer(description="erased; every token of the account is refused from now on")},
)
@resident_only
async def erase(request: Request) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal)
    ctx = request.app.ctx
    await my_data.erase(resident, tokens=ctx.tokens, blobs=ctx.blobs, now=ctx.clock())
    return empty()
