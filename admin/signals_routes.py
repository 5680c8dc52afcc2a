"""Regulator routes for fraud signals (/api/v1/admin): ``GET /signals``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin.service import current_admin
from redemptions.reports import window
from server.auth import Audience
from server.http import authenticated, json, parse_query
from server.openapi import documented
from signals import detect, service
from signals.schemas import SignalPage, SignalQuery

bp = Blueprint("admin_signals", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.get("/signals")
@documented(
    "Fraud signals (scan bursts, refusal spikes, impossible journeys, redemption patterns…), newest window first",
    description=(
        "Detection runs beside the scan path every `SIGNALS_INTERVAL_S`; this call first looks at what happened "
        "since the last run, so the answer is up to date. `from`/`to` select by the start of the signal's window. "
        "`resident_ref` is a pseudonym for regulators, the same for one resident across signals."
    ),
    query=SignalQuery,
    answers={200: SignalPage},
)
@admin_only
async def list_signals(request: Request) -> HTTPResponse:
    query = parse_query(request, SignalQuery)
    await current_admin(request.ctx.principal)
    since, until = window(query.from_, query.to)
    ctx = request.app.ctx
    await detect.detect_now(ctx.settings, now=ctx.clock())
    return json(
        await service.list_signals(
            kind=query.kind,
            since=since,
            until=until,
            merchant_id=query.merchant_id,
            limit=query.limit,
            cursor=query.cursor,
        )
    )
