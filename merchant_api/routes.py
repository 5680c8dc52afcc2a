"""Merchant staff routes (/api/v1/merchant): login, refresh, staff management."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from merchants import service
from merchants.schemas import RefreshIn, StaffIn, StaffLoginIn, StaffOut
from server.auth import Audience
from server.http import authenticated, json, parse_body
from server.throttle import client_address

bp = Blueprint("merchant", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)


@bp.post("/auth/login")
@openapi.summary("Staff login (locked for a while after repeated failures)")
@openapi.body({"application/json": StaffLoginIn})
@openapi.response(401, description="INVALID_CREDENTIALS")
@openapi.response(429, description="TOO_MANY_REQUESTS")
async def login(request: Request) -> HTTPResponse:
    body = parse_body(request, StaffLoginIn)
    ctx = request.app.ctx
    pair, staff = await service.staff_login(
        tokens=ctx.tokens,
        throttle=ctx.throttle,
        username=body.username,
        password=body.password,
        address=client_address(request),
    )
    return json({**pair.as_dict(), "staff": _staff_view(staff)})


@bp.post("/auth/refresh")
@openapi.summary("Rotate a staff refresh token")
@openapi.body({"application/json": RefreshIn})
async def refresh(request: Request) -> HTTPResponse:
    body = parse_body(request, RefreshIn)
    async with request.app.ctx.throttle.token_attempt(client_address(request)):
        pair, staff = await service.staff_refresh(
            tokens=request.app.ctx.tokens, refresh_token=body.refresh_token
        )
    return json({**pair.as_dict(), "staff": _staff_view(staff)})


@bp.post("/staff")
@openapi.summary("Owner: create a staff account for my merchant")
@openapi.secured("bearer")
@openapi.body({"application/json": StaffIn})
@openapi.response(201, {"application/json": StaffOut})
@staff_only
async def create_staff(request: Request) -> HTTPResponse:
    staff = await service.current_staff(request.ctx.principal)
    service.require_owner(staff)
    body = parse_body(request, StaffIn)
    return json(await service.create_staff(staff.merchant_id, body), status=201)


def _staff_view(staff: dict) -> dict:
    return {
        "id": staff["id"],
        "merchant_id": staff["merchant_id"],
        "role": staff["role"],
        "store_ids": staff["store_ids"],
    }
