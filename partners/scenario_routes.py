"""Partner routes of the other scenarios (/api/v1/partner): 信易批 commitments, 信易贷 reports, third-party scores."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from commitments import service as commitments
from partners import scenarios
from partners.models import PartnerScope
from partners.routes import signed
from partners.scenario_schemas import (
    CommitmentIn,
    CommitmentOut,
    ReportIn,
    ReportOut,
    ThirdPartyScoreIn,
    ThirdPartyScoreOut,
)
from partners.signing import signed_partner
from server.http import json, parse_body, parse_uuid
from server.openapi import Answer, documented

bp = Blueprint("partner_scenarios", url_prefix="/api/v1/partner")

REF_PARAM = {"type": "string", "description": "the resident's reference for this partner"}


@bp.post("/commitments")
@documented(
    "信易批: record a matter accepted on the resident's credit commitment (idempotent by external_id)",
    description=(
        "Allowed only when the resident's live tier reaches the active ruleset's green-channel floor "
        "(`commitments.green_channel_min_tier`). A commitment still pending at `due_at` becomes `broken` "
        "(checked by every server at least every minute, and by `xinyi advance-commitments`): a "
        "`commitment_breach` record is written, the resident is told and you get the webhook `commitment.broken`."
    ),
    body=CommitmentIn,
    answers={
        201: Answer(CommitmentOut, "accepted: status pending"),
        200: Answer(CommitmentOut, "the same external_id and body again: the first commitment"),
    },
    errors={
        403: "SCOPE_MISSING / GRANT_REQUIRED / TIER_TOO_LOW (below the green-channel floor)",
        409: "IDEMPOTENCY_CONFLICT: this external_id with another body",
        422: "VALIDATION_ERROR: a due_at in the past …",
    },
    security=signed(PartnerScope.COMMITMENT_WRITE),
)
@signed_partner(PartnerScope.COMMITMENT_WRITE)
async def create_commitment(request: Request) -> HTTPResponse:
    body = parse_body(request, CommitmentIn)
    accepted = await scenarios.accept_commitment(
        request.ctx.partner,
        ref=body.partner_user_ref,
        matter=body.matter,
        missing_items=body.missing_items,
        due_at=body.due_at,
        external_id=body.external_id,
        now=request.ctx.now,
    )
    return json(accepted.commitment, status=201 if accepted.created else 200)


@bp.post("/commitments/<commitment_id:str>/fulfil")
@documented(
    "信易批: the missing items arrived in time: the commitment is fulfilled (again: the same answer)",
    path={"commitment_id": "the commitment's id"},
    answers={200: CommitmentOut},
    errors={
        404: "COMMITMENT_NOT_FOUND (not yours)",
        409: "COMMITMENT_BROKEN: its deadline passed first",
    },
    security=signed(PartnerScope.COMMITMENT_WRITE),
)
@signed_partner(PartnerScope.COMMITMENT_WRITE)
async def fulfil_commitment(request: Request, commitment_id: str) -> HTTPResponse:
    result = await commitments.fulfil(
        partner_id=request.ctx.partner.id,
        commitment_id=parse_uuid(commitment_id, what="commitment"),
        now=request.ctx.now,
    )
    return json(result)


@bp.post("/reports")
@documented(
    "信易贷: a signed credit report of a resident who granted report:read (verify it offline with the JWKS)",
    description=(
        "A compact JWS signed with a report key (its `kid` is in `/.well-known/jwks.json`), valid 30 days. "
        "It holds no name and no ID number. The resident sees every report, to whom and why; after the "
        "resident revokes the grant later requests get 403 `GRANT_REQUIRED`, reports issued stay valid until `exp`."
    ),
    body=ReportIn,
    answers={201: ReportOut},
    errors={403: "SCOPE_MISSING / GRANT_REQUIRED"},
    security=signed(PartnerScope.REPORT_READ),
)
@signed_partner(PartnerScope.REPORT_READ)
async def create_report(request: Request) -> HTTPResponse:
    body = parse_body(request, ReportIn)
    result = await scenarios.issue_report(
        request.ctx.partner,
        ref=body.partner_user_ref,
        purpose=body.purpose,
        cipher=request.app.ctx.cipher,
        now=request.ctx.now,
    )
    return json(result, status=201)


@bp.put("/third-party-scores/<partner_user_ref:str>")
@documented(
    "Post a resident's score on your own scale: a bounded THIRD_PARTY factor until valid_until",
    description=(
        "The active ruleset maps the score linearly from [scale_min, scale_max] onto its `third_party` "
        "bounds. It counts from the day of `as_of` through the day of `valid_until` (China Standard Time), "
        "never past the resident's grant; revoking the grant removes it at once. A new post replaces the last."
    ),
    path={"partner_user_ref": REF_PARAM},
    body=ThirdPartyScoreIn,
    answers={200: ThirdPartyScoreOut},
    errors={
        403: "SCOPE_MISSING / GRANT_REQUIRED",
        422: "VALIDATION_ERROR: a score outside its scale, valid_until not after as_of or in the past …",
    },
    security=signed(PartnerScope.SCORE_WRITE),
)
@signed_partner(PartnerScope.SCORE_WRITE)
async def put_third_party_score(request: Request, partner_user_ref: str) -> HTTPResponse:
    body = parse_body(request, ThirdPartyScoreIn)
    result = await scenarios.post_third_party_score(
        request.ctx.partner,
        ref=partner_user_ref,
        score=float(body.score),
        scale_min=float(body.scale_min),
        scale_max=float(body.scale_max),
        as_of=body.as_of,
        valid_until=body.valid_until,
        now=request.ctx.now,
    )
    return json(result)
