"""Regulator routes for pilots (/api/v1/admin): a scenario offered only in chosen regions (政策试点)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import empty

from admin.service import current_admin
from coupons import pilots
from coupons.schemas import SCENARIOS, PilotIn, PilotList, PilotOut
from passes.service import pass_runtime
from server.auth import Audience
from server.errors import ValidationFailed
from server.http import authenticated, json, parse_body
from server.openapi import Answer, documented

bp = Blueprint("admin_pilots", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)

_SCENARIO = {"scenario": "travel | transport | rental | approval | loan"}


def _scenario(value: str) -> str:
    if value not in SCENARIOS:
        raise ValidationFailed({"scenario": "must be one of " + ", ".join(SCENARIOS)})
    return value


def _offers_changed(request: Request) -> None:
    """The scan lists a store's offers from a per-worker cache: this worker's forgets them at once
    (other workers' within a few seconds, ``coupons.service.StoreOfferCache``)."""
    pass_runtime(request.app).store_offers.clear()


@bp.put("/pilots/<scenario:str>")
@documented(
    "Put a scenario in pilot in these regions: its offers apply only at stores inside them",
    description=(
        "Region codes are GB/T 2260; trailing zeros roll up (530000 the province, 532900 大理州, 532901 one "
        "county). Replaces the regions of a running pilot. While in pilot, the scenario's offers are listed "
        "(benefits, scans), claimed and redeemed only at stores inside, and an offer with stores outside is "
        "refused at approval (409 OFFER_OUTSIDE_PILOT)."
    ),
    path=_SCENARIO,
    body=PilotIn,
    answers={200: PilotOut},
)
@admin_only
async def put_pilot(request: Request, scenario: str) -> HTTPResponse:
    scenario = _scenario(scenario)
    body = parse_body(request, PilotIn)
    admin = await current_admin(request.ctx.principal)
    result = await pilots.set_pilot(scenario, body.regions, admin_id=admin.id, now=request.app.ctx.clock())
    _offers_changed(request)
    return json(result)


@bp.get("/pilots")
@documented("Scenarios in pilot and their regions", answers={200: PilotList})
@admin_only
async def list_pilots(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await pilots.list_pilots())


@bp.delete("/pilots/<scenario:str>")
@documented(
    "End a scenario's pilot: its offers apply everywhere again",
    path=_SCENARIO,
    answers={204: Answer(description="the pilot ended")},
    errors={404: "PILOT_NOT_FOUND", 422: "VALIDATION_ERROR"},
)
@admin_only
async def end_pilot(request: Request, scenario: str) -> HTTPResponse:
    scenario = _scenario(scenario)
    await current_admin(request.ctx.principal)
    await pilots.end_pilot(scenario)
    _offers_changed(request)
    return empty()
