"""Regulator routes (/api/v1/admin): login, merchants, stores, staff."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from admin import service
from admin.schemas import AdminLoginIn, TokensOut
from merchants import service as merchants
from merchants.schemas import MerchantIn, MerchantOut, RefreshIn, StaffIn, StaffOut, StoreIn, StoreOut
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_uuid
from server.throttle import client_address

bp = Blueprint("admin", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.post("/auth/login")
@openapi.summary("Regulator login")
@openapi.body({"application/json": AdminLoginIn})
@openapi.response(200, {"application/json": TokensOut})
@openapi.response(401, description="INVALID_CREDENTIALS")
@openapi.response(429, description="TOO_MANY_REQUESTS after repeated failures")
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
@openapi.summary("Rotate a regulator refresh token")
@openapi.body({"application/json": RefreshIn})
@openapi.response(200, {"application/json": TokensOut})
async def refresh(request: Request) -> HTTPResponse:
    body = parse_body(request, RefreshIn)
    async with request.app.ctx.throttle.token_attempt(client_address(request)):
        pair = await service.admin_refresh(tokens=request.app.ctx.tokens, refresh_token=body.refresh_token)
    return json(pair.as_dict())


@bp.post("/merchants")
@openapi.summary("Register a merchant")
@openapi.secured("bearer")
@openapi.body({"application/json": MerchantIn})
@openapi.response(201, {"application/json": MerchantOut})
@admin_only
async def create_merchant(request: Request) -> HTTPResponse:
    await service.current_admin(request.ctx.principal)
    body = parse_body(request, MerchantIn)
    return json(merchants.merchant_out(await merchants.create_merchant(body)), status=201)


@bp.post("/merchants/<merchant_id:str>/stores")
@openapi.summary("Add a store to a merchant")
@openapi.secured("bearer")
@openapi.body({"application/json": StoreIn})
@openapi.response(201, {"application/json": StoreOut})
@admin_only
async def create_store(request: Request, merchant_id: str) -> HTTPResponse:
    await service.current_admin(request.ctx.principal)
    body = parse_body(request, StoreIn)
    store = await merchants.create_store(parse_uuid(merchant_id, what="merchant"), body)
    return json(merchants.store_out(store), status=201)


@bp.post("/merchants/<merchant_id:str>/staff")
@openapi.summary("Create a staff account of a merchant")
@openapi.secured("bearer")
@openapi.body({"application/json": StaffIn})
@openapi.response(201, {"application/json": StaffOut})
@openapi.response(409, description="USERNAME_TAKEN")
@admin_only
async def create_staff(request: Request, merchant_id: str) -> HTTPResponse:
    await service.current_admin(request.ctx.principal)
    body = parse_body(request, StaffIn)
    return json(await merchants.create_staff(parse_uuid(merchant_id, what="merchant"), body), status=201)
