"""Resident credit routes (/api/v1/mp): my score, its history, my records, my volunteer hours."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from credit import service as credit
from credit.schemas import HistoryPage, PageQuery, RecordPage, ScoreOut, VolunteerPage
from residents.models import Resident
from residents.service import current_resident
from server.auth import Audience
from server.http import authenticated, json, parse_query

bp = Blueprint("miniprogram_credit", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


async def _me(request: Request) -> Resident:
    return await current_resident(request.ctx.principal, need_consent=True, need_identity=True)


@bp.get("/score")
@openapi.summary("My credit score, tier, the reasons behind it and what the next tier needs")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": ScoreOut})
@openapi.response(403, description="CONSENT_REQUIRED / IDENTITY_REQUIRED")
@resident_only
async def score(request: Request) -> HTTPResponse:
    return json(await credit.score_view(await _me(request), now=request.app.ctx.clock()))


@bp.get("/score/history")
@openapi.summary("How my score changed, newest first")
@openapi.secured("bearer")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@openapi.response(200, {"application/json": HistoryPage})
@openapi.response(403, description="CONSENT_REQUIRED / IDENTITY_REQUIRED")
@resident_only
async def score_history(request: Request) -> HTTPResponse:
    resident = await _me(request)
    query = parse_query(request, PageQuery)
    return json(await credit.history_page(resident, limit=query.limit, cursor=query.cursor))


@bp.get("/records")
@openapi.summary("My public credit records, with the last day each one counts and its points")
@openapi.secured("bearer")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@openapi.response(200, {"application/json": RecordPage})
@openapi.response(403, description="CONSENT_REQUIRED / IDENTITY_REQUIRED")
@resident_only
async def records(request: Request) -> HTTPResponse:
    resident = await _me(request)
    query = parse_query(request, PageQuery)
    return json(
        await credit.records_page(
            resident, limit=query.limit, cursor=query.cursor, now=request.app.ctx.clock()
        )
    )


@bp.get("/volunteer-hours")
@openapi.summary("My volunteer service hours (an activity posted by two platforms counts once)")
@openapi.secured("bearer")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@openapi.response(200, {"application/json": VolunteerPage})
@openapi.response(403, description="CONSENT_REQUIRED / IDENTITY_REQUIRED")
@resident_only
async def volunteer_hours(request: Request) -> HTTPResponse:
    resident = await _me(request)
    query = parse_query(request, PageQuery)
    return json(await credit.volunteer_page(resident, limit=query.limit, cursor=query.cursor))
