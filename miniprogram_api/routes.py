"""Resident routes: login, refresh, consent, identity, profile."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from credit.service import attach_resident, live_tier
from residents import service
from residents.schemas import (
    ConsentIn,
    ConsentOut,
    IdentityIn,
    IdentityOut,
    LoginIn,
    LoginOut,
    MeOut,
    RefreshIn,
)
from server.auth import Audience
from server.http import authenticated, json, parse_body
from server.throttle import client_address

bp = Blueprint("miniprogram", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


@bp.post("/auth/login")
@openapi.summary("Log in with a wx.login code")
@openapi.body({"application/json": LoginIn})
@openapi.response(200, {"application/json": LoginOut})
@openapi.response(401, description="WECHAT_CODE_INVALID")
async def login(request: Request) -> HTTPResponse:
    body = parse_body(request, LoginIn)
    ctx = request.app.ctx
    async with ctx.throttle.token_attempt(client_address(request)):
        session = await ctx.wechat.code_to_session(body.code)
    resident, pair = await service.login(tokens=ctx.tokens, openid=session.openid, unionid=session.unionid)
    return json({**pair.as_dict(), "resident": service.summary(resident)})


@bp.post("/auth/refresh")
@openapi.summary("Exchange a refresh token for a new pair (the old one stops working)")
@openapi.body({"application/json": RefreshIn})
@openapi.response(200, {"application/json": LoginOut})
async def refresh(request: Request) -> HTTPResponse:
    body = parse_body(request, RefreshIn)
    async with request.app.ctx.throttle.token_attempt(client_address(request)):
        resident, pair = await service.refresh(
            tokens=request.app.ctx.tokens, refresh_token=body.refresh_token
        )
    return json({**pair.as_dict(), "resident": service.summary(resident)})


@bp.get("/consent")
@openapi.summary("The current privacy terms and whether I accepted them")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": ConsentOut})
@resident_only
async def get_consent(request: Request) -> HTTPResponse:
    resident = await service.current_resident(request.ctx.principal)
    return json(service.consent_view(resident))


@bp.post("/consent")
@openapi.summary("Accept a version of the privacy terms")
@openapi.secured("bearer")
@openapi.body({"application/json": ConsentIn})
@openapi.response(200, {"application/json": ConsentOut})
@resident_only
async def accept_consent(request: Request) -> HTTPResponse:
    body = parse_body(request, ConsentIn)
    resident = await service.current_resident(request.ctx.principal)
    return json(await service.accept_consent(resident, version=body.version))


@bp.delete("/consent")
@openapi.summary("Withdraw consent (credit endpoints answer 403 CONSENT_REQUIRED afterwards)")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": ConsentOut})
@resident_only
async def withdraw_consent(request: Request) -> HTTPResponse:
    resident = await service.current_resident(request.ctx.principal)
    return json(await service.withdraw_consent(resident))


@bp.post("/identity")
@openapi.summary("Bind my real-name identity (name + ID number, optional phone via getPhoneNumber)")
@openapi.secured("bearer")
@openapi.body({"application/json": IdentityIn})
@openapi.response(200, {"application/json": IdentityOut})
@openapi.response(422, description="ID_NUMBER_INVALID / VALIDATION_ERROR / PHONE_CODE_INVALID")
@openapi.response(409, description="IDENTITY_TAKEN / IDENTITY_ALREADY_BOUND")
@resident_only
async def bind_identity(request: Request) -> HTTPResponse:
    body = parse_body(request, IdentityIn)
    ctx = request.app.ctx
    resident = await service.current_resident(request.ctx.principal, need_consent=True)
    phone = await ctx.wechat.phone_number(body.phone_code) if body.phone_code else None
    result = await service.bind_identity(
        resident,
        name=body.name,
        id_number=body.id_number,
        phone=phone,
        cipher=ctx.cipher,
        hasher=ctx.hasher,
        then=attach_resident,
    )
    return json(result)


@bp.get("/me")
@openapi.summary("My profile, masked")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": MeOut})
@resident_only
async def me(request: Request) -> HTTPResponse:
    resident = await service.current_resident(request.ctx.principal)
    tier = await live_tier(resident.id) if resident.identity_bound else None
    return json(service.profile(resident, cipher=request.app.ctx.cipher, tier=tier))
