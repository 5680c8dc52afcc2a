"""Resident routes: login, refresh, consent, identity, profile."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

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
from server.openapi import documented
from server.throttle import client_address

bp = Blueprint("miniprogram", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


@bp.post("/auth/login")
@documented(
    "Log in with a wx.login code",
    body=LoginIn,
    answers={200: LoginOut},
    errors={
        401: "WECHAT_CODE_INVALID: the code is unknown, expired or already used",
        429: "TOO_MANY_REQUESTS: too many failed logins or refreshes from this address; wait `Retry-After` seconds",
        502: None,
    },
)
async def login(request: Request) -> HTTPResponse:
    body = parse_body(request, LoginIn)
    ctx = request.app.ctx
    async with ctx.throttle.token_attempt(client_address(request)):
        session = await ctx.wechat.code_to_session(body.code)
    resident, pair = await service.login(tokens=ctx.tokens, openid=session.openid, unionid=session.unionid)
    return json({**pair.as_dict(), "resident": service.summary(resident)})


@bp.post("/auth/refresh")
@documented(
    "Exchange a refresh token for a new pair (the old one stops working)",
    body=RefreshIn,
    answers={200: LoginOut},
    errors={
        401: "UNAUTHENTICATED: the refresh token is invalid, expired or already used",
        429: "TOO_MANY_REQUESTS: too many failed logins or refreshes from this address; wait `Retry-After` seconds",
    },
)
async def refresh(request: Request) -> HTTPResponse:
    body = parse_body(request, RefreshIn)
    async with request.app.ctx.throttle.token_attempt(client_address(request)):
        resident, pair = await service.refresh(
            tokens=request.app.ctx.tokens, refresh_token=body.refresh_token
        )
    return json({**pair.as_dict(), "resident": service.summary(resident)})


@bp.get("/consent")
@documented("The current privacy terms and whether I accepted them", answers={200: ConsentOut})
@resident_only
async def get_consent(request: Request) -> HTTPResponse:
    resident = await service.current_resident(request.ctx.principal)
    return json(service.consent_view(resident))


@bp.post("/consent")
@documented(
    "Accept a version of the privacy terms",
    body=ConsentIn,
    answers={200: ConsentOut},
    errors={409: "CONSENT_VERSION_OUTDATED: only the current version can be accepted"},
)
@resident_only
async def accept_consent(request: Request) -> HTTPResponse:
    body = parse_body(request, ConsentIn)
    resident = await service.current_resident(request.ctx.principal)
    return json(await service.accept_consent(resident, version=body.version))


@bp.delete("/consent")
@documented(
    "Withdraw consent (credit endpoints answer 403 CONSENT_REQUIRED afterwards)", answers={200: ConsentOut}
)
@resident_only
async def withdraw_consent(request: Request) -> HTTPResponse:
    resident = await service.current_resident(request.ctx.principal)
    return json(await service.withdraw_consent(resident))


@bp.post("/identity")
@documented(
    "Bind my real-name identity (name + ID number, optional phone via getPhoneNumber)",
    body=IdentityIn,
    answers={200: IdentityOut},
    errors={
        403: "CONSENT_REQUIRED",
        409: "IDENTITY_TAKEN / IDENTITY_ALREADY_BOUND",
        422: "ID_NUMBER_INVALID (GB 11643 checksum) / PHONE_CODE_INVALID",
        502: None,
    },
)
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
@documented("My profile, masked", answers={200: MeOut})
@resident_only
async def me(request: Request) -> HTTPResponse:
    resident = await service.current_resident(request.ctx.principal)
    tier = await live_tier(resident.id) if resident.identity_bound else None
    return json(service.profile(resident, cipher=request.app.ctx.cipher, tier=tier))
