"""Regulator routes (/api/v1/admin): login, merchants, stores, staff."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin import service
from admin.schemas import AdminLoginIn, TokensOut
from merchants import service as merchants
from merchants.schemas import MerchantIn, MerchantOut, RefreshIn, StaffIn, StaffOut, StoreIn, StoreOut
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_uuid
from server.openapi import documented
from server.throttle import client_address

bp = Blueprint("admin", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.post("/auth/login")
@documented(
    "Regulator login (slowed down after repeated failures)",
    body=AdminLoginIn,
    answers={200: TokensOut},
    errors={401: "INVALID_CREDENTIALS", 429: None},
)
async def login(request: Request) -> HTTPResponse:
    body = parse_body(request, AdminLoginIn)
    ctx = request.app.ctx
    pair = await service.admin_login(
        tokens=ctx.tokens,
        throttle=ctx.throttle,
        username=body.username,
        password=body.password,
        address=client_address(request),
    )
    return json(pair.as_dict())


@bp.post("/auth/refresh")
@documented(
    "Rotate a regulator refresh token (the old one stops working)",
    body=RefreshIn,
    answers={200: TokensOut},
    errors={401: "UNAUTHENTICATED: the refresh token is invalid, expired or already used", 429: None},
)
async def refresh(request: Request) -> HTTPResponse:
    body = parse_body(request, RefreshIn)
    async with request.app.ctx.throttle.token_attempt(client_address(request)):
        pair = await service.admin_refresh(tokens=request.app.ctx.tokens, refresh_token=body.refresh_token)
    return json(pair.as_dict())


@bp.post("/merchants")
@documented("Register a merchant", body=MerchantIn, answers={201: MerchantOut})
@admin_only
async def create_merchant(request: Request) -> HTTPResponse:
    await service.current_admin(request.ctx.principal)
    body = parse_body(request, MerchantIn)
    return json(merchants.merchant_out(await merchants.create_merchant(body)), status=201)


@bp.post("/merchants/<merchant_id:str>/stores")
@documented(
    "Add a store to a merchant",
    path={"merchant_id": "the merchant"},
    body=StoreIn,
    answers={201: StoreOut},
    errors={404: "MERCHANT_NOT_FOUND"},
)
@admin_only
async def create_store(request: Request, merchant_id: str) -> HTTPResponse:
    await service.current_admin(request.ctx.principal)
    body = parse_body(request, StoreIn)
    store = await merchants.create_store(parse_uuid(merchant_id, what="merchant"), body)
    return json(merchants.store_out(store), status=201)


@bp.post("/merchants/<merchant_id:str>/staff")
@documented(
    "Create a staff account of a merchant",
    path={"merchant_id": "the merchant"},
    body=StaffIn,
    answers={201: StaffOut},
    errors={
        404: "MERCHANT_NOT_FOUND",
        409: "USERNAME_TAKEN",
        422: "VALIDATION_ERROR: stores not of this merchant",
    },
)
@admin_only
async def create_staff(request: Request, merchant_id: str) -> HTTPResponse:
    await service.current_admin(request.ctx.principal)
    body = parse_body(request, StaffIn)
    return json(await merchants.create_staff(parse_uuid(merchant_id, what="merchant"), body), status=201)
