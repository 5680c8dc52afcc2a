"""Regulator case routes (/api/v1/admin): list entries and their lifecycle, objections, repairs, self-reports."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, HTTPResponse, Request

from admin.service import current_admin
from rights import attachments, lists, objections, repairs, self_reports
from rights.schemas import (
    AdvanceOut,
    CaseQuery,
    ExitIn,
    ListEntryCreated,
    ListEntryIn,
    ListEntryOut,
    ListEntryPage,
    ListEntryQuery,
    ObjectionDecisionIn,
    ObjectionOut,
    ObjectionPage,
    RepairDecisionIn,
    RepairOut,
    RepairPage,
    SelfReportDecisionIn,
    SelfReportOut,
    SelfReportPage,
    SelfReportQuery,
)
from server.auth import Audience
from server.files import stored_file
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import Answer, documented

bp = Blueprint("admin_rights", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


def _now(request: Request) -> Any:
    return request.app.ctx.clock()


@bp.post("/list-entries")
@documented(
    "Identify a red or black list entry: it starts notified (the person is told and may object until objection_until)",
    body=ListEntryIn,
    answers={201: ListEntryCreated},
)
@admin_only
async def identify(request: Request) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, ListEntryIn)
    ctx = request.app.ctx
    result = await lists.identify(
        body, admin_id=admin.id, hasher=ctx.hasher, cipher=ctx.cipher, now=_now(request)
    )
    return json(result, status=201)


@bp.get("/list-entries")
@documented("List entries, newest first (?state=&kind=)", query=ListEntryQuery, answers={200: ListEntryPage})
@admin_only
async def entries(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, ListEntryQuery)
    return json(
        await lists.entries_page(state=query.state, kind=query.kind, limit=query.limit, cursor=query.cursor)
    )


@bp.post("/list-entries/advance")
@documented(
    "Move entries whose objection window or publicity ended (also `xinyi advance-lists`, run daily)",
    answers={200: AdvanceOut},
)
@admin_only
async def advance(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    return json(await lists.advance(now=_now(request)))


@bp.get("/list-entries/<entry_id:str>")
@documented(
    "One list entry with every transition (actor, reason, time)",
    path={"entry_id": "the list entry"},
    answers={200: ListEntryOut},
    errors={404: "NOT_FOUND"},
)
@admin_only
async def entry(request: Request, entry_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    return json(
        await lists.entry_view(parse_uuid(entry_id, what="list entry"), admin_id=admin.id, now=_now(request))
    )


@bp.post("/list-entries/<entry_id:str>/exit")
@documented(
    "Revoke a list entry (its record stops counting)",
    path={"entry_id": "the list entry"},
    body=ExitIn,
    answers={200: None},
    errors={404: "NOT_FOUND", 409: "LIST_ENTRY_EXITED"},
)
@admin_only
async def exit_entry(request: Request, entry_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, ExitIn)
    result = await lists.exit_entry(
        parse_uuid(entry_id, what="list entry"), admin_id=admin.id, reason=body.reason, now=_now(request)
    )
    return json(result)


@bp.get("/objections")
@documented(
    "Objections, newest first (?status=open&overdue=true)", query=CaseQuery, answers={200: ObjectionPage}
)
@admin_only
async def objection_queue(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, CaseQuery)
    return json(
        await objections.for_regulators(
            status=query.status,
            overdue=query.overdue,
            limit=query.limit,
            cursor=query.cursor,
            now=_now(request),
        )
    )


@bp.get("/objections/<objection_id:str>")
@documented(
    "One objection with its history (the read shows in the resident's access log)",
    path={"objection_id": "the objection"},
    answers={200: ObjectionOut},
    errors={404: "NOT_FOUND"},
)
@admin_only
async def objection(request: Request, objection_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    oid = parse_uuid(objection_id, what="objection")
    return json(await objections.for_a_regulator(oid, admin_id=admin.id, now=_now(request)))


@bp.post("/objections/<objection_id:str>/decision")
@documented(
    "Decide an objection once: upheld corrects the record (withdraw or regrade) and rescores, rejected restores it",
    path={"objection_id": "the objection"},
    body=ObjectionDecisionIn,
    answers={200: ObjectionOut},
    errors={404: "NOT_FOUND", 409: "CASE_ALREADY_DECIDED"},
)
@admin_only
async def decide_objection(request: Request, objection_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, ObjectionDecisionIn)
    oid = parse_uuid(objection_id, what="objection")
    return json(await objections.decide(oid, body, admin_id=admin.id, now=_now(request)))


@bp.get("/repairs")
@documented(
    "Repair requests, newest first (?status=under_review)", query=CaseQuery, answers={200: RepairPage}
)
@admin_only
async def repair_queue(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, CaseQuery)
    return json(await repairs.for_regulators(status=query.status, limit=query.limit, cursor=query.cursor))


@bp.get("/repairs/<repair_id:str>")
@documented(
    "One repair request with its history (the read shows in the resident's access log)",
    path={"repair_id": "the repair request"},
    answers={200: RepairOut},
    errors={404: "NOT_FOUND"},
)
@admin_only
async def repair(request: Request, repair_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    rid = parse_uuid(repair_id, what="repair")
    return json(await repairs.for_a_regulator(rid, admin_id=admin.id, now=_now(request)))


@bp.post("/repairs/<repair_id:str>/decision")
@documented(
    "Decide a repair once: approved ends the record's counting, publicity and sharing (it shows as repaired)",
    path={"repair_id": "the repair request"},
    body=RepairDecisionIn,
    answers={200: RepairOut},
    errors={404: "NOT_FOUND", 409: "CASE_ALREADY_DECIDED"},
)
@admin_only
async def decide_repair(request: Request, repair_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, RepairDecisionIn)
    rid = parse_uuid(repair_id, what="repair")
    return json(await repairs.decide(rid, body, admin_id=admin.id, now=_now(request)))


@bp.get("/self-reports")
@documented(
    "Self-reports, newest first (?status=under_review)", query=SelfReportQuery, answers={200: SelfReportPage}
)
@admin_only
async def self_report_queue(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, SelfReportQuery)
    return json(
        await self_reports.for_regulators(status=query.status, limit=query.limit, cursor=query.cursor)
    )


@bp.get("/self-reports/<report_id:str>")
@documented(
    "One self-report with its history (the read shows in the resident's access log)",
    path={"report_id": "the self-report"},
    answers={200: SelfReportOut},
    errors={404: "NOT_FOUND"},
)
@admin_only
async def self_report(request: Request, report_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    rid = parse_uuid(report_id, what="self-report")
    return json(await self_reports.for_a_regulator(rid, admin_id=admin.id, now=_now(request)))


@bp.post("/self-reports/<report_id:str>/decision")
@documented(
    "Decide a self-report once: approved creates a commendation record worth the ruleset's points",
    path={"report_id": "the self-report"},
    body=SelfReportDecisionIn,
    answers={200: SelfReportOut},
    errors={
        404: "NOT_FOUND",
        409: "CASE_ALREADY_DECIDED / RESIDENT_UNIDENTIFIED",
        422: "VALIDATION_ERROR (points above the ruleset's)",
    },
)
@admin_only
async def decide_self_report(request: Request, report_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    body = parse_body(request, SelfReportDecisionIn)
    rid = parse_uuid(report_id, what="self-report")
    return json(await self_reports.decide(rid, body, admin_id=admin.id, now=_now(request)))


@bp.get("/attachments/<attachment_id:str>")
@documented(
    "A resident's file of evidence (the read shows in the resident's access log)",
    path={"attachment_id": "the attachment"},
    answers={
        200: Answer(
            media_type=(attachments.JPEG, attachments.PNG, attachments.PDF),
            schema={"type": "string", "format": "binary"},
            description="the file, with the type judged at upload",
        )
    },
    errors={404: "NOT_FOUND"},
)
@admin_only
async def attachment(request: Request, attachment_id: str) -> HTTPResponse:
    admin = await current_admin(request.ctx.principal)
    aid = parse_uuid(attachment_id, what="attachment")
    file = await attachments.for_a_regulator(
        aid, admin_id=admin.id, store=request.app.ctx.blobs, now=_now(request)
    )
    return stored_file(file.data, content_type=file.content_type, filename=file.filename, inline=file.inline)
