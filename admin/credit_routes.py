"""Regulator credit routes (/api/v1/admin): record intake and scoring rulesets."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin.service import current_admin
from credit import service as credit
from credit.exceptions import RulesetNotFound
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
from credit.scoring import MAX_VERSION_LENGTH
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query
from server.openapi import documented

bp = Blueprint("admin_credit", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)
VERSION_PARAM = {"type": "string", "maxLength": MAX_VERSION_LENGTH, "description": "the ruleset's version"}


def _version(value: str) -> str:
    """A ruleset version from the path: one no ruleset can have (too long, a NUL) is not found, like any other."""
    if len(value) > MAX_VERSION_LENGTH or "\x00" in value:
        raise RulesetNotFound()
    return value


@bp.post("/credit-records")
@documented(
    "Import public credit records (bulk, idempotent by source + source_record_id)",
    description=(
        "A bad item is rejected alone, with its index and code; the others are stored. "
        "Records attach to the resident of the ID number whenever that resident binds it."
    ),
    body=CreditRecordsIn,
    answers={200: ImportOut},
    errors={422: "VALIDATION_ERROR: not a list of items, more than 1000 items"},
)
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
@documented("Scoring rulesets, newest first", query=PageQuery, answers={200: RulesetPage})
@admin_only
async def list_rulesets(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, PageQuery)
    return json(await credit.list_rulesets(limit=query.limit, cursor=query.cursor))


@bp.post("/rulesets")
@documented(
    "Create a new ruleset version (a draft until activated)",
    description="The body is a whole ruleset document (see `credit/rulesets/default-v1.json`), `version` included.",
    body=RulesetIn,
    answers={201: RulesetOut},
    errors={409: "RULESET_VERSION_EXISTS", 422: "VALIDATION_ERROR: with a reason per field path"},
)
@admin_only
async def create_ruleset(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    body = parse_body(request, RulesetIn)
    return json(await credit.create_ruleset(body.root), status=201)


@bp.post("/rulesets/<version:str>/dry-run")
@documented(
    "How many residents would change tier, and in which direction, under this version",
    path={"version": VERSION_PARAM},
    answers={200: DryRunOut},
    errors={404: "RULESET_NOT_FOUND", 503: "SERVICE_UNAVAILABLE / NO_ACTIVE_RULESET"},
)
@admin_only
async def dry_run(request: Request, version: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await credit.dry_run_ruleset(_version(version), now=request.app.ctx.clock()))


@bp.post("/rulesets/<version:str>/activate")
@documented(
    "Activate a version: every score moves to it, with history rows",
    path={"version": VERSION_PARAM},
    answers={200: ActivateOut},
    errors={404: "RULESET_NOT_FOUND", 409: "RULESET_ACTIVATION_CONFLICT"},
)
@admin_only
async def activate(request: Request, version: str) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await credit.activate_ruleset(_version(version), now=request.app.ctx.clock()))
