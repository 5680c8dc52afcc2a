"""Resident routes for the pass and benefits (/api/v1/mp): ``POST /pass``, ``GET /benefits``."""

from __future__ import annotations

import uuid

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from coupons import service as coupons
from coupons.schemas import BenefitOut, BenefitsQuery
from passes import service as passes
from passes.schemas import PassIn, PassOut
from residents import service as residents
from residents.exceptions import ResidentGone
from server.auth import Audience
from server.errors import ValidationFailed
from server.http import authenticated, json, parse_body, parse_query

bp = Blueprint("mp_passes", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _want_image(request: Request) -> bool:
    """``?image=false`` or a body ``{"image": false}``: the client draws the code itself, no PNG."""
    raw = request.args.get("image")
    if raw is not None:
        if raw.lower() not in _FLAGS:
            raise ValidationFailed({"image": "true or false"})
        return _FLAGS[raw.lower()]
    if request.body and request.body.strip():
        return parse_body(request, PassIn).image
    return True


@bp.post("/pass")
@openapi.summary("A fresh pass: a short-lived signed token for the QR code (consent and identity required)")
@openapi.description(
    "The token lives `expires_at`; ask again after `refresh_after_s`. It carries a pseudonymous subject and "
    "the tier as a hint, nothing else. `?image=false` skips `qr_png_base64` for clients that draw the code."
)
@openapi.secured("bearer")
@openapi.parameter("image", bool, "query")
@openapi.response(200, {"application/json": PassOut})
@openapi.response(403, description="CONSENT_REQUIRED / IDENTITY_REQUIRED")
@resident_only
async def issue_pass(request: Request) -> HTTPResponse:
    image = _want_image(request)
    try:
        resident_id = uuid.UUID(request.ctx.principal.subject_id)
    except ValueError:
        raise ResidentGone() from None
    result = await passes.issue_pass(
        passes.pass_runtime(request.app), resident_id=resident_id, now=request.app.ctx.clock(), image=image
    )
    return json(result)


@bp.get("/benefits")
@openapi.summary("Active offers, with `eligible` for my live tier; filter by scenario and merchant")
@openapi.secured("bearer")
@openapi.parameter("scenario", str, "query", description="travel | transport | rental | approval | loan")
@openapi.parameter("merchant_id", str, "query")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@openapi.response(200, {"application/json": {"items": [BenefitOut], "next_cursor": str, "tier": str}})
@openapi.response(403, description="CONSENT_REQUIRED")
@resident_only
async def benefits(request: Request) -> HTTPResponse:
    query = parse_query(request, BenefitsQuery)
    resident = await residents.current_resident(request.ctx.principal, need_consent=True)
    result = await coupons.list_benefits(
        resident,
        scenario=query.scenario,
        merchant_id=query.merchant_id,
        now=request.app.ctx.clock(),
        limit=query.limit,
        cursor=query.cursor,
    )
    return json(result)
