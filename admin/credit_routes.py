"""Regulator credit routes (/api/v1/admin): record intake and scoring rulesets."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from admin.service import current_admin
from credit import service as credit
from credit.schemas import (
    ActivateOut,
    CreditRecordsIn,
    DryRunOut,
    ImportOut,
    PageQuery,
    RulesetIn,
    RulesetOut,
    RulesetPage,
)
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query

bp = Blueprint("admin_credit", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.post("/credit-records")
@openapi.summary("Import public credit records (bulk, idempotent by source + source_record_id)")
@openapi.description(
    "A bad item is rejected alone, with its index and code; the others are stored. "
    "Records attach to the resident of the ID number whenever that resident binds it."
)
@openapi.secured("bearer")
@openapi.body({"application/json": CreditRecordsIn})
@openapi.response(200, {"application/json": ImportOut})
@openapi.response(422, description="VALIDATION_ERROR (not a list of items, more than 1000 items)")
@admin_only
async def import_records(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    body = parse_body(request, CreditRecordsIn, text_checked_by_service=True)  # items rejected one by one
    ctx = request.app.ctx
    result = await credit.import_records(
        body.items, hasher=ctx.hasher, cipher=ctx.cipher, now=request.app.ctx.clock()
    )
    return json(result.as_dict())


@bp.get("/rulesets")
@openapi.summary("Scoring rulesets, newest first")
@openapi.secured("bearer")
@openapi.parameter("limit", int, "query")
@openapi.parameter("cursor", str, "query")
@openapi.response(200, {"application/json": RulesetPage})
@admin_only
async def list_rulesets(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, PageQuery)
    return json(await credit.list_rulesets(limit=query.limit, cursor=query.cursor))


@bp.post("/rulesets")
@openapi.summary("Create a new ruleset version (a draft until activated)")
@openapi.secured("bearer")
@openapi.body({"application/json": RulesetIn})
@openapi.response(201, {"application/json": RulesetOut})
@openapi.response(409, description="RULESET_VERSION_EXISTS")
@openapi.response(422, description="VALIDATION_ERROR with a reason per field path")
@admin_only
async def create_ruleset(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    body = parse_body(request, RulesetIn)
    return json(await credit.create_ruleset(body.root), status=201)


@bp.post("/rulesets/<version:str>/dry-run")
@openapi.summary("How many residents would change tier, and in which direction, under this version")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": DryRunOut})
@openapi.response(404, description="RULESET_NOT_FOUND")
@admin_only
async def dry_run(request: Request, version: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await credit.dry_run_ruleset(version, now=request.app.ctx.clock()))


@bp.post("/rulesets/<version:str>/activate")
@openapi.summary("Activate a version: every score moves to it, with history rows")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": ActivateOut})
@openapi.response(404, description="RULESET_NOT_FOUND")
@openapi.response(409, description="RULESET_ACTIVATION_CONFLICT")
@admin_only
async def activate(request: Request, version: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await credit.activate_ruleset(version, now=request.app.ctx.clock()))
