"""Merchant redemption routes (/api/v1/merchant): redeem after a scan, reverse, the ledger, statistics, breaches."""

from __future__ import annotations

import uuid

from sanic import Blueprint, HTTPResponse, Request

from deposits import service as deposits
from merchants import service as merchants
from passes.service import pass_runtime
from redemptions import breaches, reports, reversal
from redemptions import service as ledger
from redemptions.schemas import (
    BreachIn,
    BreachListQuery,
    BreachOut,
    BreachPage,
    MerchantRedemptionPage,
    RedemptionIn,
    RedemptionListQuery,
    RedemptionOut,
    ReverseIn,
    ReverseOut,
    StatsOut,
    StatsQuery,
    parse_idempotency_key,
)
from server.auth import Audience
from server.errors import Unauthenticated
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import IDEMPOTENCY_KEY, Answer, documented
from server.replica import on_replica
from server.spreadsheet import also_csv, csv_response

bp = Blueprint("merchant_redemptions", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)


def _staff_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.ctx.principal.subject_id)
    except ValueError:
        raise Unauthenticated() from None


@bp.post("/redemptions")
@documented(
    "Redeem an offer for the resident of a scan (live tier, window, stock, limits and coupon re-checked)",
    description=(
        "Send `Idempotency-Key`: a retry with the same key and body answers the stored redemption again (same "
        "status, `Idempotency-Replayed: true`), also after a restart; another body is 409 IDEMPOTENCY_CONFLICT. "
        "Keys are kept 48 h, per staff account. `order_amount_fen` is required for percent_off (discount rounded "
        "down to the fen); amount_off is capped at the order; deposit_waiver reports `deposit_waived_fen`."
    ),
    body=RedemptionIn,
    params=[IDEMPOTENCY_KEY],
    answers={
        201: Answer(RedemptionOut, headers={"Idempotency-Replayed": {"type": "string", "enum": ["true"]}})
    },
    errors={
        403: "TIER_TOO_LOW / TIER_RESTRICTED / STORE_NOT_YOURS / DEPOSIT_FREE_SUSPENDED",
        404: "SCAN_NOT_FOUND (unknown or another merchant's) / OFFER_NOT_FOUND",
        409: "OUT_OF_STOCK / LIMIT_REACHED / SCAN_EXPIRED / SCAN_REFUSED / OFFER_NOT_ACTIVE / OFFER_NOT_AT_STORE / "
        "OFFER_OUTSIDE_PILOT / ALREADY_REDEEMED / COUPON_REQUIRED / COUPON_INVALID / COUPON_USED / COUPON_EXPIRED / IDEMPOTENCY_CONFLICT",
        422: "VALIDATION_ERROR: order_amount_fen required for percent_off, a malformed Idempotency-Key",
    },
)
@staff_only
async def redeem(request: Request) -> HTTPResponse:
    body = parse_body(request, RedemptionIn)
    result = await ledger.redeem_at_store(
        staff_id=_staff_id(request),
        scan_id=body.scan_id,
        offer_id=body.offer_id,
        coupon_id=body.coupon_id,
        order_amount_fen=body.order_amount_fen,
        idempotency_key=parse_idempotency_key(request.headers.get("idempotency-key")),
        now=request.app.ctx.clock(),
        db=request.app.ctx.ledger,
    )
    headers = {"Idempotency-Replayed": "true"} if result.replayed else None
    return json(result.redemption, status=result.status_code, headers=headers)


@bp.post("/redemptions/<redemption_id:str>/reverse")
@documented(
    "Reverse a redemption (once): the stock, the resident's limit and the coupon come back",
    path={"redemption_id": "the redemption"},
    body=ReverseIn,
    answers={200: ReverseOut},
    errors={
        403: "STORE_NOT_YOURS / FORBIDDEN (online redemptions: owner only)",
        404: "REDEMPTION_NOT_FOUND",
        409: "ALREADY_REVERSED",
    },
)
@staff_only
async def reverse(request: Request, redemption_id: str) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    body = parse_body(request, ReverseIn)
    result = await reversal.reverse_redemption(
        staff, parse_uuid(redemption_id, what="redemption"), reason=body.reason, now=request.app.ctx.clock()
    )
    return json(result)


@bp.get("/redemptions")
@documented(
    "My merchant's redemptions, newest first (owners: all; others: their stores)",
    query=RedemptionListQuery,
    answers={200: MerchantRedemptionPage},
    errors={403: "STORE_NOT_YOURS"},
)
@staff_only
@on_replica  # a listing: the replica may serve it (server.replica)
async def list_redemptions(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    query = parse_query(request, RedemptionListQuery)
    result = await reports.list_redemptions(
        staff,
        pass_runtime(request.app).pseudonyms,
        store_id=query.store_id,
        from_=query.from_,
        to=query.to,
        status=query.status,
        offer_id=query.offer_id,
        limit=query.limit,
        cursor=query.cursor,
    )
    return json(result)


@bp.get("/stats")
@also_csv
@documented(
    "Redemption counts and discount totals by offer and by day (default: the last 30 days)",
    description="`format=csv`: `text/csv; charset=utf-8` with a BOM and a header row; one row per offer "
    "(分组 按优惠), one per day (按日) and the total (合计).",
    query=StatsQuery,
    answers={200: StatsOut},
    errors={403: "STORE_NOT_YOURS"},
)
@staff_only
@on_replica  # a listing: the replica may serve it (server.replica)
async def stats(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    query = parse_query(request, StatsQuery)
    result = await reports.redemption_stats(
        staff, store_id=query.store_id, from_=query.from_, to=query.to, now=request.app.ctx.clock()
    )
    if query.format == "csv":
        header, rows = reports.redemption_stats_csv(result)
        return csv_response(header, rows, filename="redemption-stats.csv")
    return json(result)


@bp.post("/breaches")
@documented(
    "Report a breach of a benefit's terms (no-show, damage, unpaid) for one of my redemptions or overdue orders",
    description=(
        "The report is `under_review` and changes nothing until a regulator decides it. Give `redemption_id`, or "
        "`order_id` with kind `unpaid` for a deposit-free order overdue past its grace period."
    ),
    body=BreachIn,
    answers={201: BreachOut},
    errors={
        403: "STORE_NOT_YOURS / FORBIDDEN (online redemptions: owner only)",
        404: "REDEMPTION_NOT_FOUND / ORDER_NOT_FOUND",
        409: "BREACH_EXISTS / REDEMPTION_REVERSED / ORDER_NOT_OVERDUE",
    },
)
@staff_only
async def report_breach(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    body = parse_body(request, BreachIn)
    ctx = request.app.ctx
    return json(await deposits.report_breach(staff, body, now=ctx.clock(), settings=ctx.settings), status=201)


@bp.get("/breaches")
@documented(
    "My merchant's breach reports and their decisions, newest first",
    query=BreachListQuery,
    answers={200: BreachPage},
)
@staff_only
async def list_breaches(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    query = parse_query(request, BreachListQuery)
    result = await breaches.list_breaches(
        merchant_id=staff.merchant_id,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
        for_admin=False,
    )
    return json(result)
