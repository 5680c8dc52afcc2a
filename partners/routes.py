"""Partner routes (/api/v1/partner): signed requests from partner platforms.

Every route is wrapped in ``signed_partner(scope)``; handlers find the caller on
``request.ctx.partner`` and the verification instant on ``request.ctx.now``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from credit import service as credit_service
from partners import grants
from partners.exceptions import VolunteerRecordNotFound
from partners.models import PartnerScope
from partners.schemas import (
    ExchangeIn,
    ExchangeOut,
    OnlineRedemptionIn,
    PassVerifyIn,
    PassVerifyOut,
    TierOut,
    VolunteerHoursIn,
    VolunteerRecordOut,
    external_id_problem,
)
from partners.service import SECRET_GRACE
from partners.signing import (
    KEY_HEADER,
    MAX_SKEW_S,
    NONCE_HEADER,
    NONCE_TTL_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signed_partner,
)
from passes.service import pass_runtime
from server.errors import ValidationFailed
from server.http import json, parse_body

bp = Blueprint("partner", url_prefix="/api/v1/partner")
SECRET_GRACE_HOURS = int(SECRET_GRACE.total_seconds() // 3600)

SIGNING_DOC = f"""Signed partner request. Send four headers:

* `{KEY_HEADER}`: your public key (`pk_…`).
* `{TIMESTAMP_HEADER}`: unix seconds, within ±{MAX_SKEW_S} s of the server's clock, else 401 `TIMESTAMP_SKEW`.
* `{NONCE_HEADER}`: 8–128 characters of `A-Z a-z 0-9 . _ ~ -`, never reused within {NONCE_TTL_S // 60} minutes, else 401 `NONCE_REUSED`.
* `{SIGNATURE_HEADER}`: lowercase hex HMAC-SHA256 keyed with your secret (its UTF-8 bytes) over
  `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))`, where PATH?QUERY is the request
  target exactly as sent (no `?` without a query) and the body hash is over the raw bytes sent
  (the empty string's hash when there is no body).

A missing or malformed header, an unknown key or a wrong signature is 401 `SIGNATURE_INVALID`;
a key without the route's scope is 403 `SCOPE_MISSING`; 503 `SERVICE_UNAVAILABLE` with
`Retry-After` when the replay guard cannot be reached (nothing was done: retry with a new nonce).
After a secret rotation the previous secret keeps working for {SECRET_GRACE_HOURS} hours."""


def signed_docs(scope: str | None) -> Callable[[Any], Any]:
    """OpenAPI for a signed route: the four headers, the recipe and the failure answers."""

    def decorate(handler: Any) -> Any:
        for name, text in (
            (KEY_HEADER, "the partner's public key"),
            (TIMESTAMP_HEADER, f"unix seconds, ±{MAX_SKEW_S} s"),
            (NONCE_HEADER, f"single use within {NONCE_TTL_S} s"),
            (SIGNATURE_HEADER, "hex HMAC-SHA256, see the description"),
        ):
            handler = openapi.parameter(name, str, "header", required=True, description=text)(handler)
        needs = f"Needs the scope `{scope}`.\n\n" if scope else "Any partner may call this.\n\n"
        handler = openapi.description(needs + SIGNING_DOC)(handler)
        handler = openapi.tag("partner")(handler)
        handler = openapi.response(401, description="SIGNATURE_INVALID / TIMESTAMP_SKEW / NONCE_REUSED")(
            handler
        )
        handler = openapi.response(403, description="SCOPE_MISSING")(handler)
        return openapi.response(503, description="SERVICE_UNAVAILABLE (replay guard down), with Retry-After")(
            handler
        )

    return decorate


def _external_id(value: str) -> str:
    if why := external_id_problem(value):
        raise ValidationFailed({"external_id": why})
    return value


@bp.put("/volunteer-hours/<external_id:str>")
@openapi.summary("Create or correct a volunteer record (idempotent by external_id)")
@signed_docs(PartnerScope.VOLUNTEER_WRITE)
@openapi.body({"application/json": VolunteerHoursIn})
@openapi.response(201, {"application/json": VolunteerRecordOut}, description="created")
@openapi.response(200, {"application/json": VolunteerRecordOut}, description="replaced by this correction")
@openapi.response(
    422, description="VALIDATION_ERROR / ID_NUMBER_INVALID: hours ≤ 0 or > 24, a start in the future …"
)
@signed_partner(PartnerScope.VOLUNTEER_WRITE)
async def put_volunteer_hours(request: Request, external_id: str) -> HTTPResponse:
    external_id = _external_id(external_id)
    body = parse_body(request, VolunteerHoursIn)
    ctx = request.app.ctx
    record, created = await credit_service.upsert_volunteer_record(
        partner_id=request.ctx.partner.id,
        external_id=external_id,
        id_number=body.id_number,
        name=body.name,
        activity=body.activity,
        organization=body.organization,
        started_at=body.started_at,
        hours=body.hours,
        hasher=ctx.hasher,
        cipher=ctx.cipher,
        now=request.ctx.now,
    )
    return json(record, status=201 if created else 200)


@bp.delete("/volunteer-hours/<external_id:str>")
@openapi.summary("Revoke a volunteer record: it stops counting towards the resident's score")
@signed_docs(PartnerScope.VOLUNTEER_WRITE)
@openapi.response(200, description='{"external_id", "status": "revoked"}')
@openapi.response(404, description="VOLUNTEER_RECORD_NOT_FOUND")
@signed_partner(PartnerScope.VOLUNTEER_WRITE)
async def delete_volunteer_hours(request: Request, external_id: str) -> HTTPResponse:
    external_id = _external_id(external_id)
    revoked = await credit_service.revoke_volunteer_record(
        partner_id=request.ctx.partner.id, external_id=external_id, now=request.ctx.now
    )
    if not revoked:
        raise VolunteerRecordNotFound()
    return json({"external_id": external_id, "status": "revoked"})


# --- grants, tiers, passes ------------------------------------------------------------------


@bp.post("/grants/exchange")
@openapi.summary("Exchange a resident's authorization code for the resident's reference (single use)")
@signed_docs(None)
@openapi.body({"application/json": ExchangeIn})
@openapi.response(200, {"application/json": ExchangeOut})
@openapi.response(
    400, description="GRANT_CODE_INVALID: unknown, expired, already used, or issued to another partner"
)
@signed_partner(None)
async def exchange_grant_code(request: Request) -> HTTPResponse:
    body = parse_body(request, ExchangeIn)
    return json(await grants.exchange_code(request.ctx.partner, body.authorization_code, now=request.ctx.now))


@bp.get("/residents/<partner_user_ref:str>/tier")
@openapi.summary("A resident's live tier (needs the resident's active grant with tier:read)")
@signed_docs(PartnerScope.TIER_READ)
@openapi.response(200, {"application/json": TierOut})
@openapi.response(
    403, description="SCOPE_MISSING / GRANT_REQUIRED (never granted, revoked, expired, not your reference)"
)
@signed_partner(PartnerScope.TIER_READ)
async def resident_tier(request: Request, partner_user_ref: str) -> HTTPResponse:
    return json(await grants.read_tier(request.ctx.partner, partner_user_ref, now=request.ctx.now))


@bp.post("/passes/verify")
@openapi.summary("Verify a resident's pass (and with consume: true spend it, as a merchant scan does)")
@signed_docs(PartnerScope.PASS_VERIFY)
@openapi.body({"application/json": PassVerifyIn})
@openapi.response(
    200,
    {"application/json": PassVerifyOut},
    description='{"valid": true, "tier", "resident_ref", "expires_at"} or {"valid": false, "reason"}',
)
@signed_partner(PartnerScope.PASS_VERIFY)
async def verify_pass(request: Request) -> HTTPResponse:
    body = parse_body(request, PassVerifyIn)
    ctx = request.app.ctx
    result = await grants.verify_pass(
        request.ctx.partner,
        body.pass_token,
        consume=body.consume,
        runtime=pass_runtime(request.app),
        hasher=ctx.hasher,
        now=request.ctx.now,
    )
    return json(result)


# --- online redemptions ----------------------------------------------------------------------


@bp.post("/redemptions")
@openapi.summary(
    "Redeem an offer online for a resident who granted redemption:write (idempotent by external_order_id)"
)
@signed_docs(PartnerScope.REDEMPTION_WRITE)
@openapi.body({"application/json": OnlineRedemptionIn})
@openapi.response(
    201, description="the redemption: id, offer_id, discount_fen, deposit_waived_fen, status, created_at …"
)
@openapi.response(200, description="the same order (external_order_id and body) again: the first redemption")
@openapi.response(
    403, description="SCOPE_MISSING / GRANT_REQUIRED / OFFER_NOT_AVAILABLE / TIER_TOO_LOW / TIER_RESTRICTED"
)
@openapi.response(
    409,
    description="IDEMPOTENCY_CONFLICT (this order with another body) / OUT_OF_STOCK / LIMIT_REACHED / "
    "OFFER_NOT_ACTIVE / COUPON_REQUIRED",
)
@signed_partner(PartnerScope.REDEMPTION_WRITE)
async def redeem_online(request: Request) -> HTTPResponse:
    body = parse_body(request, OnlineRedemptionIn)
    result = await grants.redeem_online(
        request.ctx.partner,
        ref=body.partner_user_ref,
        offer_id=body.offer_id,
        external_order_id=body.external_order_id,
        order_amount_fen=body.order_amount_fen,
        now=request.ctx.now,
        db=request.app.ctx.ledger,
    )
    return json(result.redemption, status=result.status_code)
