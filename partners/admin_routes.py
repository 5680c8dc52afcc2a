"""Regulator routes for partner accounts, their merchants and their webhook deliveries (/api/v1/admin)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin.service import current_admin
from partners import grants, service, webhooks
from partners.schemas import (
    DeliveryListOut,
    DeliveryListQuery,
    DeliveryOut,
    PartnerCreatedOut,
    PartnerIn,
    PartnerListOut,
    PartnerListQuery,
    PartnerMerchantsIn,
    PartnerMerchantsOut,
    PartnerOut,
    RotatedSecretOut,
)
from server.auth import Audience
from server.http import authenticated, json, page, parse_body, parse_query, parse_uuid
from server.openapi import documented
from server.replica import on_replica

bp = Blueprint("admin_partners", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.post("/partners")
@documented(
    "Register a partner platform (its secret is shown once, in this answer)",
    body=PartnerIn,
    answers={201: PartnerCreatedOut},
    errors={422: "VALIDATION_ERROR: unknown kind or scope, bad webhook_url"},
)
@admin_only
async def create_partner(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    body = parse_body(request, PartnerIn)
    ctx = request.app.ctx
    partner, secret = await service.create_partner(body, cipher=ctx.cipher, prod=ctx.settings.is_prod)
    return json({**service.partner_out(partner), "secret": secret}, status=201)


@bp.get("/partners")
@documented(
    "List partner platforms, newest first (never their secrets)",
    query=PartnerListQuery,
    answers={200: PartnerListOut},
)
@admin_only
@on_replica  # a listing: the replica may serve it (server.replica)
async def list_partners(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, PartnerListQuery)
    partners, next_cursor = await service.list_partners(limit=query.limit, cursor=query.cursor)
    return json(page([service.partner_out(p) for p in partners], next_cursor))


@bp.get("/partners/<partner_id:str>")
@documented(
    "One partner platform (never its secret)",
    path={"partner_id": "the partner"},
    answers={200: PartnerOut},
    errors={404: "PARTNER_NOT_FOUND"},
)
@admin_only
async def get_partner(request: Request, partner_id: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    partner = await service.get_partner(parse_uuid(partner_id, what="partner"))
    return json(service.partner_out(partner))


@bp.post("/partners/<partner_id:str>/rotate-secret")
@documented(
    "Issue a new secret; the previous one keeps working for a grace period",
    path={"partner_id": "the partner"},
    answers={200: RotatedSecretOut},
    errors={404: "PARTNER_NOT_FOUND"},
)
@admin_only
async def rotate_secret(request: Request, partner_id: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    ctx = request.app.ctx
    partner, secret = await service.rotate_secret(
        parse_uuid(partner_id, what="partner"), cipher=ctx.cipher, now=request.app.ctx.clock()
    )
    return json(
        {
            "id": str(partner.id),
            "key": partner.key,
            "secret": secret,
            "previous_secret_expires_at": partner.previous_secret_expires_at,
        }
    )


@bp.put("/partners/<partner_id:str>/merchants")
@documented(
    "Set the merchants whose offers the partner may redeem online (replaces the list)",
    path={"partner_id": "the partner"},
    body=PartnerMerchantsIn,
    answers={200: PartnerMerchantsOut},
    errors={404: "PARTNER_NOT_FOUND", 422: "VALIDATION_ERROR: unknown merchants"},
)
@admin_only
async def set_partner_merchants(request: Request, partner_id: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    body = parse_body(request, PartnerMerchantsIn)
    return json(await grants.set_partner_merchants(parse_uuid(partner_id, what="partner"), body.merchant_ids))


@bp.get("/partners/<partner_id:str>/merchants")
@documented(
    "The merchants whose offers the partner may redeem online",
    path={"partner_id": "the partner"},
    answers={200: PartnerMerchantsOut},
    errors={404: "PARTNER_NOT_FOUND"},
)
@admin_only
async def get_partner_merchants(request: Request, partner_id: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await grants.partner_merchants(parse_uuid(partner_id, what="partner")))


@bp.get("/partners/<partner_id:str>/webhook-deliveries")
@documented(
    "The partner's webhook events, newest first: status, attempts, last error",
    path={"partner_id": "the partner"},
    query=DeliveryListQuery,
    answers={200: DeliveryListOut},
    errors={404: "PARTNER_NOT_FOUND"},
)
@admin_only
async def list_webhook_deliveries(request: Request, partner_id: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, DeliveryListQuery)
    return json(
        await webhooks.list_deliveries(
            parse_uuid(partner_id, what="partner"),
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )
    )


@bp.post("/webhook-deliveries/<delivery_id:str>/redeliver")
@documented(
    "Send a failed (or waiting) webhook event again now, with a fresh retry window",
    path={"delivery_id": "the webhook delivery"},
    answers={200: DeliveryOut},
    errors={404: "WEBHOOK_DELIVERY_NOT_FOUND", 409: "WEBHOOK_ALREADY_DELIVERED / WEBHOOK_DELIVERY_IN_FLIGHT"},
)
@admin_only
async def redeliver_webhook(request: Request, delivery_id: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(
        await webhooks.redeliver(
            parse_uuid(delivery_id, what="webhook delivery"), now=request.app.ctx.clock()
        )
    )
