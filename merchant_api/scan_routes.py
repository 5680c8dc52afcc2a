"""Merchant scanning routes (/api/v1/merchant): scan a pass, list scans, the store's entry code."""

from __future__ import annotations

import re
import uuid

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from merchants import service as merchants
from passes import service
from passes.schemas import ScanIn, ScanListQuery, ScanOut, ScanPage
from server.auth import Audience
from server.errors import Unauthenticated, ValidationFailed
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import IDEMPOTENCY_KEY, Answer, documented
from server.replica import on_replica

bp = Blueprint("merchant_scans", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def _staff_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.ctx.principal.subject_id)
    except ValueError:
        raise Unauthenticated() from None


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed({"Idempotency-Key": "1 to 128 printable ASCII characters"})
    return key


@bp.post("/scans")
@documented(
    "Scan a resident's pass at a store: live tier, benefits, a scan_id for redemptions",
    description=(
        "The pass is single-use everywhere. Every scan, accepted or refused, is logged with its reason. "
        "Optional `Idempotency-Key`: a retry with the same key and body answers the first scan again."
    ),
    body=ScanIn,
    params=[IDEMPOTENCY_KEY],
    answers={201: ScanOut},
    errors={
        400: "PASS_INVALID / PASS_EXPIRED",
        403: "STORE_NOT_YOURS",
        409: "PASS_ALREADY_USED / IDEMPOTENCY_CONFLICT",
        422: "VALIDATION_ERROR: a malformed Idempotency-Key",
        503: "SERVICE_UNAVAILABLE: the database cannot be reached (nothing was done)",
    },
)
@staff_only
async def scan(request: Request) -> HTTPResponse:
    body = parse_body(request, ScanIn)
    result = await service.scan_pass(
        service.pass_runtime(request.app),
        staff_id=_staff_id(request),
        store_id=body.store_id,
        token=body.pass_token,
        idempotency_key=_idempotency_key(request),
        now=request.app.ctx.clock(),
    )
    return json(result, status=201)


@bp.get("/scans")
@documented(
    "Scans of my stores, newest first; filter by store and outcome (refused scans carry the reason)",
    query=ScanListQuery,
    answers={200: ScanPage},
    errors={403: "STORE_NOT_YOURS"},
)
@staff_only
@on_replica  # a listing: the replica may serve it (server.replica)
async def list_scans(request: Request) -> HTTPResponse:
    query = parse_query(request, ScanListQuery)
    staff = await merchants.current_staff(request.ctx.principal)
    store_ids = await merchants.visible_store_ids(staff, query.store_id)
    result = await service.list_scans(
        service.pass_runtime(request.app).pseudonyms,
        merchant_id=staff.merchant_id,
        store_ids=store_ids,
        outcome=query.outcome,
        limit=query.limit,
        cursor=query.cursor,
    )
    return json(result)


@bp.get("/stores/<store_id:str>/entry-qrcode")
@documented(
    "The store's entry code (a mini-program code from wxacode getUnlimited), PNG",
    path={"store_id": "the store"},
    answers={
        200: Answer(media_type="image/png", schema={"type": "string", "format": "binary"}, description="PNG")
    },
    errors={403: "STORE_NOT_YOURS", 404: "NOT_FOUND: not a store id", 502: None},
)
@staff_only
async def entry_qrcode(request: Request, store_id: str) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    store = await merchants.require_store(staff, parse_uuid(store_id, what="store"))
    image = await merchants.store_entry_code(
        store, wechat=request.app.ctx.wechat, redis=request.app.ctx.redis
    )
    return raw(image, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"})
