"""Merchant scanning routes (/api/v1/merchant): scan a pass, list scans, the store's entry code."""

from __future__ import annotations

import re
import uuid

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw
from sanic_ext import openapi

from merchants import service as merchants
from passes import service
from passes.schemas import ScanIn, ScanListQuery, ScanOut
from server.auth import Audience
from server.errors import Unauthenticated, ValidationFailed
from server.http import authenticated, json, parse_body, parse_query, parse_uuid

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
@openapi.summary("Scan a resident's pass at a store: live tier, benefits, a scan_id for redemptions")
@openapi.description(
    "The pass is single-use everywhere. Every scan, accepted or refused, is logged with its reason. "
    "Optional `Idempotency-Key`: a retry with the same key and body answers the first scan again."
)
@openapi.secured("bearer")
@openapi.body({"application/json": ScanIn})
@openapi.response(201, {"application/json": ScanOut})
@openapi.response(400, description="PASS_INVALID / PASS_EXPIRED")
@openapi.response(403, description="STORE_NOT_YOURS")
@openapi.response(409, description="PASS_ALREADY_USED / IDEMPOTENCY_CONFLICT")
@openapi.response(
    503, description="SERVICE_UNAVAILABLE (the replay guard cannot be reached), with Retry-After"
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
@openapi.summary(
    "Scans of my stores, newest first; filter by store and outcome (refused scans carry the reason)"
)
@openapi.secured("bearer")
@openapi.parameter("store_id", str, "query")
@openapi.parameter("outcome", str, "query", description="accepted | refused")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@staff_only
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
@openapi.summary("The store's entry code (a mini-program code from wxacode getUnlimited), PNG")
@openapi.secured("bearer")
@openapi.response(200, {"image/png": bytes})
@openapi.response(403, description="STORE_NOT_YOURS")
@staff_only
async def entry_qrcode(request: Request, store_id: str) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    store = await merchants.require_store(staff, parse_uuid(store_id, what="store"))
    image = await merchants.store_entry_code(
        store, wechat=request.app.ctx.wechat, redis=request.app.ctx.redis
    )
    return raw(image, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"})
