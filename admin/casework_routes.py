"""Regulator routes of the case queue and the overview (/api/v1/admin/cases, /api/v1/admin/overview)."""

from __future__ import annotations

import uuid
from typing import Any

from sanic import Blueprint, HTTPResponse, Request

from admin.models import AdminUser
from admin.service import current_admin
from casework import overview, queue
from casework.schemas import AssignIn, CaseDetail, CaseItem, CasePage, CaseQueueQuery, OverviewOut
from casework.sources import KINDS
from server.auth import Audience
from server.http import authenticated, json, parse_body, parse_query
from server.openapi import documented

bp = Blueprint("admin_casework", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


async def _is_active_admin(admin_id: uuid.UUID) -> bool:
    return await AdminUser.exists(id=admin_id, is_active=True)


async def _named(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each case with its assignee's user name (the regulators' accounts are this audience's)."""
    ids = {uuid.UUID(i["assignee"]) for i in items if i["assignee"]}
    names = dict(await AdminUser.filter(id__in=ids).values_list("id", "username")) if ids else {}
    return [
        {**i, "assignee_name": names.get(uuid.UUID(i["assignee"])) if i["assignee"] else None} for i in items
    ]


CASE_PATH: dict[str, str | dict[str, Any]] = {
    "kind": {"type": "string", "enum": list(KINDS), "description": "the kind of case"},
    "case_id": {"type": "string", "maxLength": 64, "description": "the case's id (as the queue shows it)"},
}


@bp.get("/cases")
@documented(
    "Every kind of case with its clock: overdue first, then by due date (?kind=&status=&overdue=&assignee=)",
    description=(
        "Open cases unless status says otherwise (all: decided ones too). due_at is ruleset data per kind "
        "(the active ruleset's rights section); overdue: still open and past due_at. A cursor keeps the first page's time, so that paging neither repeats nor skips a "
        "case falling due meanwhile."
    ),
    query=CaseQueueQuery,
    answers={200: CasePage},
)
@admin_only
async def cases(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, CaseQueueQuery)
    found = await queue.case_queue(
        kind=query.kind,
        status=query.status,
        overdue=query.overdue,
        assignee=query.assignee,
        limit=query.limit,
        cursor=query.cursor,
        now=request.app.ctx.clock(),
    )
    return json({**found, "items": await _named(found["items"])})


@bp.get("/cases/<kind:str>/<case_id:str>")
@documented(
    "One case with its details (the read shows in the resident's access log)",
    path=CASE_PATH,
    answers={200: CaseDetail},
    errors={404: "NOT_FOUND"},
)
@admin_only
async def case(request: Request, kind: str, case_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    found = await queue.read_case(kind, case_id, admin_id=admin.id, now=request.app.ctx.clock())
    return json((await _named([found]))[0])


@bp.post("/cases/<kind:str>/<case_id:str>/assign")
@documented(
    "Give a case to a regulator (replacing its assignee, if any)",
    path=CASE_PATH,
    body=AssignIn,
    answers={200: CaseItem},
    errors={404: "NOT_FOUND", 422: "VALIDATION_ERROR (no active regulator has this admin_id)"},
)
@admin_only
async def assign(request: Request, kind: str, case_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, AssignIn)
    given = await queue.assign(
        kind,
        case_id,
        admin_id=body.admin_id,
        by=admin.id,
        is_active_admin=_is_active_admin,
        now=request.app.ctx.clock(),
    )
    return json((await _named([given]))[0])


@bp.get("/overview")
@documented(
    "The regulator's cards: residents, consented, identity bound, tiers, counting records by category, "
    "open and overdue cases, offers pending approval",
    answers={200: OverviewOut},
)
@admin_only
async def admin_overview(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await overview.overview(now=request.app.ctx.clock()))
