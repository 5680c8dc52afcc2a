"""Merchant deposit-free order routes (/api/v1/merchant): open from a scan, complete, settle, cancel, list."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from deposits import service
from deposits.schemas import (
    CompleteIn,
    MerchantOrderPage,
    OrderCompleted,
    OrderIn,
    OrderListQuery,
    OrderOpened,
    OrderStatusOut,
    SettleIn,
)
from merchants import service as merchants
from passes.service import pass_runtime
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import documented

bp = Blueprint("merchant_deposits", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)


@bp.post("/deposit-free-orders")
@documented(
    "Open a deposit-free order (先免后付) for the resident of a live scan: the deposit is waived up to the offer's value",
    description=(
        "The offer must be a `deposit_waiver` of the `travel` or `rental` scenario; `risk_amount_fen` at most its "
        "value. The waiver is redeemed in the ledger (stock, limits and the live tier are checked as at a "
        "redemption). One open order per resident and merchant, and none while the resident has an overdue one "
        "anywhere. Idempotent by `external_order_id`: the same body again answers 200 with the same order."
    ),
    body=OrderIn,
    answers={201: OrderOpened, 200: OrderOpened},
    errors={
        403: "TIER_TOO_LOW / TIER_RESTRICTED / DEPOSIT_FREE_SUSPENDED / STORE_NOT_YOURS",
        404: "SCAN_NOT_FOUND / OFFER_NOT_FOUND",
        409: "DEPOSIT_FREE_BLOCKED / SCAN_EXPIRED / SCAN_REFUSED / OUT_OF_STOCK / LIMIT_REACHED / OFFER_NOT_ACTIVE / "
        "OFFER_NOT_AT_STORE / ALREADY_REDEEMED / COUPON_REQUIRED / COUPON_INVALID / COUPON_USED / COUPON_EXPIRED / "
        "IDEMPOTENCY_CONFLICT / CONFLICT",
        422: "VALIDATION_ERROR: risk above the offer's value, not a deposit-free offer, an end in the past",
    },
)
@staff_only
async def open_order(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    body = parse_body(request, OrderIn)
    ctx = request.app.ctx
    result, status = await service.open_order(staff, body, now=ctx.clock(), db=ctx.ledger)
    return json(result, status=status)


@bp.post("/deposit-free-orders/<order_id:str>/complete")
@documented(
    "Complete an open order: itemised charges (awaiting payment by settle_by) or none (express check-out, nothing owed)",
    description=(
        "Charges above the risk amount are refused unless `regulator_review` is true: the order is then flagged "
        "for a regulator's review and counts in the merchant's signals."
    ),
    path={"order_id": "the order"},
    body=CompleteIn,
    answers={200: OrderCompleted},
    errors={403: "STORE_NOT_YOURS", 404: "ORDER_NOT_FOUND", 409: "ORDER_NOT_OPEN", 422: "VALIDATION_ERROR"},
)
@staff_only
async def complete(request: Request, order_id: str) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    body = parse_body(request, CompleteIn)
    ctx = request.app.ctx
    result = await service.complete_order(
        staff, parse_uuid(order_id, what="order"), body, now=ctx.clock(), settings=ctx.settings
    )
    return json(result)


@bp.post("/deposit-free-orders/<order_id:str>/settle")
@documented(
    "Mark an order settled: the guest paid (a suspension of deposit-free benefits it caused is lifted at once)",
    path={"order_id": "the order"},
    body=SettleIn,
    answers={200: OrderStatusOut},
    errors={403: "STORE_NOT_YOURS", 404: "ORDER_NOT_FOUND", 409: "ORDER_NOT_PAYABLE"},
)
@staff_only
async def settle(request: Request, order_id: str) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    body = parse_body(request, SettleIn)
    result = await service.settle_order(
        staff, parse_uuid(order_id, what="order"), paid_fen=body.paid_fen, now=request.app.ctx.clock()
    )
    return json(result)


@bp.post("/deposit-free-orders/<order_id:str>/cancel")
@documented(
    "Cancel an open order (its deposit waiver is reversed in the ledger: stock and limits come back)",
    path={"order_id": "the order"},
    answers={200: OrderStatusOut},
    errors={403: "STORE_NOT_YOURS", 404: "ORDER_NOT_FOUND", 409: "ORDER_NOT_OPEN"},
)
@staff_only
async def cancel(request: Request, order_id: str) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    result = await service.cancel_order(
        staff, parse_uuid(order_id, what="order"), now=request.app.ctx.clock()
    )
    return json(result)


@bp.get("/deposit-free-orders")
@documented(
    "My merchant's deposit-free orders, newest first (owners: all stores; others: theirs), e.g. ?status=overdue",
    query=OrderListQuery,
    answers={200: MerchantOrderPage},
    errors={403: "STORE_NOT_YOURS"},
)
@staff_only
async def list_orders(request: Request) -> HTTPResponse:
    staff = await merchants.current_staff(request.ctx.principal)
    query = parse_query(request, OrderListQuery)
    result = await service.list_orders(
        staff,
        pass_runtime(request.app).pseudonyms,
        status=query.status,
        store_id=query.store_id,
        limit=query.limit,
        cursor=query.cursor,
    )
    return json(result)
