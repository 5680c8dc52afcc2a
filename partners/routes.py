"""Partner routes (/api/v1/partner): signed requests from partner platforms.

Every route is wrapped in ``signed_partner(scope)``; handlers find the caller on
``request.ctx.partner`` and the verification instant on ``request.ctx.now``.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, HTTPResponse, Request

from credit import service as credit_service
from partners import grants
from partners.exceptions import VolunteerRecordNotFound
from partners.models import PartnerScope
from partners.schemas import (
    EXTERNAL_ID,
    ExchangeIn,
    ExchangeOut,
    OnlineRedemptionIn,
    PassVerifyIn,
    PassVerifyOut,
    TierOut,
    VolunteerHoursIn,
    VolunteerRecordOut,
    VolunteerRevokedOut,
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
from redemptions.schemas import RedemptionOut
from server.errors import ValidationFailed
from server.http import json, parse_body
from server.openapi import Answer, Security, documented

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


def _header_scheme(header: str, text: str) -> dict[str, Any]:
    return {"type": "apiKey", "in": "header", "name": header, "description": text}


# The four headers of a signed request, as four schemes that a call needs together.
PARTNER_SCHEMES = {
    "partnerKey": _header_scheme(KEY_HEADER, "The partner's public key (`pk_…`)."),
    "partnerTimestamp": _header_scheme(TIMESTAMP_HEADER, f"Unix seconds, within ±{MAX_SKEW_S} s."),
    "partnerNonce": _header_scheme(NONCE_HEADER, f"Single use within {NONCE_TTL_S // 60} minutes."),
    "partnerSignature": _header_scheme(SIGNATURE_HEADER, SIGNING_DOC),
}


def signed(scope: str | None) -> Security:
    """A signed partner request, with ``scope`` (None: any partner): the schemes, the recipe, the failures."""
    errors = {401: "SIGNATURE_INVALID / TIMESTAMP_SKEW / NONCE_REUSED"}
    if scope is not None:
        errors[403] = "SCOPE_MISSING"
    return Security(
        requirement={name: [] for name in PARTNER_SCHEMES},
        schemes=PARTNER_SCHEMES,
        errors={
            **errors,
            503: "SERVICE_UNAVAILABLE: the replay guard cannot be reached (nothing was done: retry with a new nonce)",
        },
        note=(f"Needs the scope `{scope}`." if scope else "Any partner may call this.")
        + "\n\n"
        + SIGNING_DOC,
    )


EXTERNAL_ID_PARAM = {
    "type": "string",
    "pattern": EXTERNAL_ID.pattern,
    "description": "the partner's own id of the record: 1–128 of A-Z a-z 0-9 . _ : -",
}


def _external_id(value: str) -> str:
    if why := external_id_problem(value):
        raise ValidationFailed({"external_id": why})
    return value


@bp.put("/volunteer-hours/<external_id:str>")
@documented(
    "Create or correct a volunteer record (idempotent by external_id)",
    path={"external_id": EXTERNAL_ID_PARAM},
    body=VolunteerHoursIn,
    answers={
        201: Answer(VolunteerRecordOut, "created"),
        200: Answer(VolunteerRecordOut, "replaced by this correction"),
    },
    errors={
        409: "VOLUNTEER_RECORD_CONFLICT: written concurrently; try again",
        422: "VALIDATION_ERROR / ID_NUMBER_INVALID: hours ≤ 0 or > 24, a start in the future …",
    },
    security=signed(PartnerScope.VOLUNTEER_WRITE),
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
@documented(
    "Revoke a volunteer record: it stops counting towards the resident's score",
    path={"external_id": EXTERNAL_ID_PARAM},
    answers={200: VolunteerRevokedOut},
    errors={404: "VOLUNTEER_RECORD_NOT_FOUND", 422: "VALIDATION_ERROR: a malformed external_id"},
    security=signed(PartnerScope.VOLUNTEER_WRITE),
)
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
@documented(
    "Exchange a resident's authorization code for the resident's reference (single use)",
    body=ExchangeIn,
    answers={200: ExchangeOut},
    errors={400: "GRANT_CODE_INVALID: unknown, expired, already used, or issued to another partner"},
    security=signed(None),
)
@signed_partner(None)
async def exchange_grant_code(request: Request) -> HTTPResponse:
    body = parse_body(request, ExchangeIn)
    return json(await grants.exchange_code(request.ctx.partner, body.authorization_code, now=request.ctx.now))


@bp.get("/residents/<partner_user_ref:str>/tier")
@documented(
    "A resident's live tier (needs the resident's active grant with tier:read)",
    path={"partner_user_ref": {"type": "string", "description": "the resident's reference for this partner"}},
    answers={200: TierOut},
    errors={403: "SCOPE_MISSING / GRANT_REQUIRED (never granted, revoked, expired, not your reference)"},
    security=signed(PartnerScope.TIER_READ),
)
@signed_partner(PartnerScope.TIER_READ)
async def resident_tier(request: Request, partner_user_ref: str) -> HTTPResponse:
    return json(await grants.read_tier(request.ctx.partner, partner_user_ref, now=request.ctx.now))


@bp.post("/passes/verify")
@documented(
    "Verify a resident's pass (and with consume: true spend it, as a merchant scan does)",
    body=PassVerifyIn,
    answers={
        200: Answer(
            PassVerifyOut,
            '{"valid": true, "tier", "resident_ref", "expires_at"} or {"valid": false, "reason"}',
        )
    },
    security=signed(PartnerScope.PASS_VERIFY),
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
@documented(
    "Redeem an offer online for a resident who granted redemption:write (idempotent by external_order_id)",
    body=OnlineRedemptionIn,
    answers={
        201: Answer(RedemptionOut, "the redemption"),
        200: Answer(RedemptionOut, "the same order (external_order_id and body) again: the first redemption"),
    },
    errors={
        403: "SCOPE_MISSING / GRANT_REQUIRED / OFFER_NOT_AVAILABLE / TIER_TOO_LOW / TIER_RESTRICTED",
        409: "IDEMPOTENCY_CONFLICT (this order with another body) / OUT_OF_STOCK / LIMIT_REACHED / "
        "OFFER_NOT_ACTIVE / COUPON_REQUIRED",
    },
    security=signed(PartnerScope.REDEMPTION_WRITE),
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
