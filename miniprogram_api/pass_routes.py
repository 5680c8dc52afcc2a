"""Resident routes for the pass and benefits (/api/v1/mp): ``POST /pass``, ``GET /benefits``."""

from __future__ import annotations

import uuid

from sanic import Blueprint, HTTPResponse, Request

from coupons import service as coupons
from coupons.schemas import BenefitPage, BenefitsQuery
from passes import service as passes
from passes.schemas import PassIn, PassOut
from residents import service as residents
from residents.exceptions import ResidentGone
from server.auth import Audience
from server.errors import ValidationFailed
from server.http import authenticated, json, parse_body, parse_query
from server.openapi import Param, documented

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
@documented(
    "A fresh pass: a short-lived signed token for the QR code (consent and identity required)",
    description=(
        "The token lives until `expires_at`; ask again after `refresh_after_s`. It carries a pseudonymous "
        'subject and the tier as a hint, nothing else. `?image=false` (or a body `{"image": false}`) skips '
        "`qr_png_base64` for clients that draw the code."
    ),
    body=PassIn,
    body_required=False,
    params=[Param("image", {"type": "boolean", "default": True}, "false: no PNG in the answer", "query")],
    answers={200: PassOut},
    errors={
        403: "CONSENT_REQUIRED / IDENTITY_REQUIRED",
        422: "VALIDATION_ERROR: `image` is not true or false",
        503: "SERVICE_UNAVAILABLE / PASS_KEYS_UNAVAILABLE",
    },
)
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
@documented(
    "Active offers, with `eligible` for my live tier; filter by scenario, merchant and store region",
    query=BenefitsQuery,
    answers={200: BenefitPage},
    errors={403: "CONSENT_REQUIRED"},
)
@resident_only
async def benefits(request: Request) -> HTTPResponse:
    query = parse_query(request, BenefitsQuery)
    resident = await residents.current_resident(request.ctx.principal, need_consent=True)
    result = await coupons.list_benefits(
        resident,
        scenario=query.scenario,
        merchant_id=query.merchant_id,
        region=query.region,
        now=request.app.ctx.clock(),
        limit=query.limit,
        cursor=query.cursor,
    )
    return json(result)
