"""Resident credit routes (/api/v1/mp): my score, its history, my records, my volunteer hours."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from credit import service as credit
from credit.schemas import HistoryPage, PageQuery, RecordPage, ScoreOut, VolunteerPage
from residents.models import Resident
from residents.service import current_resident
from server.auth import Audience
from server.http import authenticated, json, parse_query
from server.openapi import documented

bp = Blueprint("miniprogram_credit", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


async def _me(request: Request) -> Resident:
    return await current_resident(request.ctx.principal, need_consent=True, need_identity=True)


@bp.get("/score")
@documented(
    "My credit score, tier, the reasons behind it and what the next tier needs",
    answers={200: ScoreOut},
    errors={403: "CONSENT_REQUIRED / IDENTITY_REQUIRED", 503: "SERVICE_UNAVAILABLE / NO_ACTIVE_RULESET"},
)
@resident_only
async def score(request: Request) -> HTTPResponse:
    return json(await credit.score_view(await _me(request), now=request.app.ctx.clock()))


@bp.get("/score/history")
@documented(
    "How my score changed, newest first",
    query=PageQuery,
    answers={200: HistoryPage},
    errors={403: "CONSENT_REQUIRED / IDENTITY_REQUIRED"},
)
@resident_only
async def score_history(request: Request) -> HTTPResponse:
    resident = await _me(request)
    query = parse_query(request, PageQuery)
    return json(await credit.history_page(resident, limit=query.limit, cursor=query.cursor))


@bp.get("/records")
@documented(
    "My public credit records, with the last day each one counts and its points",
    query=PageQuery,
    answers={200: RecordPage},
    errors={403: "CONSENT_REQUIRED / IDENTITY_REQUIRED", 503: "SERVICE_UNAVAILABLE / NO_ACTIVE_RULESET"},
)
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
@documented(
    "My volunteer service hours (an activity posted by two platforms counts once)",
    query=PageQuery,
    answers={200: VolunteerPage},
    errors={403: "CONSENT_REQUIRED / IDENTITY_REQUIRED"},
)
@resident_only
async def volunteer_hours(request: Request) -> HTTPResponse:
    resident = await _me(request)
    query = parse_query(request, PageQuery)
    return json(await credit.volunteer_page(resident, limit=query.limit, cursor=query.cursor))
