"""Merchant staff routes (/api/v1/merchant): login, refresh, staff management."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from merchants import service
from merchants.schemas import RefreshIn, StaffIn, StaffLoginIn, StaffLoginOut, StaffOut
from server.auth import Audience
from server.http import authenticated, json, parse_body
from server.openapi import documented
from server.throttle import client_address

bp = Blueprint("merchant", url_prefix="/api/v1/merchant")
staff_only = authenticated(Audience.MERCHANT)


@bp.post("/auth/login")
@documented(
    "Staff login (slowed down after repeated failures)",
    body=StaffLoginIn,
    answers={200: StaffLoginOut},
    errors={401: "INVALID_CREDENTIALS", 429: None},
)
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
@documented(
    "Rotate a staff refresh token (the old one stops working)",
    body=RefreshIn,
    answers={200: StaffLoginOut},
    errors={401: "UNAUTHENTICATED: the refresh token is invalid, expired or already used", 429: None},
)
async def refresh(request: Request) -> HTTPResponse:
    body = parse_body(request, RefreshIn)
    async with request.app.ctx.throttle.token_attempt(client_address(request)):
        pair, staff = await service.staff_refresh(
            tokens=request.app.ctx.tokens, refresh_token=body.refresh_token
        )
    return json({**pair.as_dict(), "staff": _staff_view(staff)})


@bp.post("/staff")
@documented(
    "Owner: create a staff account for my merchant",
    body=StaffIn,
    answers={201: StaffOut},
    errors={
        403: "FORBIDDEN: owners only",
        409: "USERNAME_TAKEN",
        422: "VALIDATION_ERROR: stores not of this merchant",
    },
)
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
