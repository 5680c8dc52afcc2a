"""Merchant offline scanning routes (/api/v1/merchant): a store's offline bundle, and the upload of offline scans."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from merchants import service as merchants
from offline import service
from offline.schemas import (
    BundleOut,
    BundleQuery,
    OfflineScanListQuery,
    OfflineScanPage,
    OfflineUploadIn,
    OfflineUploadOut,
)
from passes.service import pass_runtime
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query
from server.openapi import documented

bp = Blueprint("merchant_offline", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)


@bp.get("/offline-bundle")
@documented(
    "A store's offline bundle: what its device needs to verify passes with no network until expires_at",
    description=(
        "A compact JWS signed by a key of `/.well-known/jwks.json` (typ `xinyi-offline-bundle+jwt`): the store's "
        "offers that can be granted offline with their terms, the pass keys (JWK), a revocation set (salted "
        "hashes of the passes' `rv` handle and tier, for residents whose tier fell below the tier in their "
        "passes), `issued_at` and `expires_at` (now + OFFLINE_BUNDLE_TTL_S). A device accepts a pass until its "
        "`iat + o` (its offline life). See tools/offline_verifier.py."
    ),
    query=BundleQuery,
    answers={200: BundleOut},
    errors={403: "STORE_NOT_YOURS", 422: "VALIDATION_ERROR: store_id missing or not a UUID"},
)
@staff_only
async def offline_bundle(request: Request) -> HTTPResponse:
    query = parse_query(request, BundleQuery)
    staff = await merchants.current_staff(request.ctx.principal)
    store = await merchants.require_store(staff, query.store_id)
    ctx = request.app.ctx
    result = await service.build_bundle(
        pass_runtime(request.app), ctx.cipher, store, now=ctx.clock(), ttl_s=ctx.settings.offline_bundle_ttl_s
    )
    return json(result, headers={"Cache-Control": "no-store"})


@bp.post("/offline-scans")
@documented(
    "Upload what a store's device did offline: each scan (with the time it happened) and its redemptions",
    description=(
        "Idempotent by `device_id` + `seq`: an item uploaded again answers its stored result and changes nothing. "
        "Each item is `accepted` (the pass was not used before: its scan is logged at `scanned_at` and its "
        "redemptions go through the ledger as of then), `duplicate` (the pass was used online or uploaded by "
        "another device first: recorded and counted in the store's signals), `refused` with the pass codes "
        "(PASS_INVALID, PASS_EXPIRED beyond its offline life, PASS_REVOKED, SCAN_TIME_INVALID) or `over_limit` "
        "(a redemption the stock or the resident's limit no longer allowed: recorded for the merchant to settle, "
        "not in the ledger). `redemptions` details each redemption (`redeemed`, `over_limit`, `refused` with the "
        "ledger's code)."
    ),
    body=OfflineUploadIn,
    answers={200: OfflineUploadOut},
    errors={
        403: "STORE_NOT_YOURS",
        409: "UPLOAD_IN_PROGRESS: another upload of the same items is still running (retry)",
        422: "VALIDATION_ERROR",
    },
)
@staff_only
async def offline_scans(request: Request) -> HTTPResponse:
    body = parse_body(request, OfflineUploadIn)
    staff = await merchants.current_staff(request.ctx.principal)
    store = await merchants.require_store(staff, body.store_id)
    ctx = request.app.ctx
    result = await service.upload(
        pass_runtime(request.app),
        ctx.cipher,
        ledger=ctx.ledger,
        staff=staff,
        store=store,
        device_id=body.device_id,
        items=body.items,
        now=ctx.clock(),
    )
    return json(result)


@bp.get("/offline-scans")
@documented(
    "Uploaded offline scans of my stores, newest upload first; `?outcome=over_limit`: what is left to settle",
    query=OfflineScanListQuery,
    answers={200: OfflineScanPage},
    errors={403: "STORE_NOT_YOURS"},
)
@staff_only
async def list_offline_scans(request: Request) -> HTTPResponse:
    query = parse_query(request, OfflineScanListQuery)
    staff = await merchants.current_staff(request.ctx.principal)
    store_ids = await merchants.visible_store_ids(staff, query.store_id)
    result = await service.list_offline_scans(
        merchant_id=staff.merchant_id,
        store_ids=store_ids,
        outcome=query.outcome,
        limit=query.limit,
        cursor=query.cursor,
    )
    return json(result)
