"""Resident rights routes (/api/v1/mp): objections, repairs, attachments, self-reports, and the inbox of notices."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from notices import service as notices
from notices.schemas import (
    AllowancesOut,
    NotificationOut,
    NotificationPage,
    NotificationQuery,
    SubscriptionsIn,
)
from residents.models import Resident
from residents.service import current_resident
from rights import attachments, objections, repairs, self_reports
from rights.exceptions import AttachmentTooLarge
from rights.schemas import (
    AttachmentOut,
    MyCaseQuery,
    ObjectionIn,
    ObjectionOut,
    ObjectionPage,
    RepairIn,
    RepairOut,
    RepairPage,
    SelfReportIn,
    SelfReportOut,
    SelfReportPage,
)
from server.auth import Audience
from server.files import read_upload, stored_file
from server.http import authenticated, json, parse_body, parse_query, parse_uuid
from server.openapi import Answer, documented

bp = Blueprint("miniprogram_rights", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)
BOUND = {403: "CONSENT_REQUIRED / IDENTITY_REQUIRED"}


async def _bound(request: Request) -> Resident:
    return await current_resident(request.ctx.principal, need_consent=True, need_identity=True)


@bp.post("/objections")
@documented(
    "Object to one of my records (or, with target=score, ask a person to review my score); answered by due_at",
    body=ObjectionIn,
    answers={201: ObjectionOut},
    errors={**BOUND, 404: "NOT_FOUND (not my record)", 409: "OBJECTION_OPEN / RECORD_NOT_CONTESTABLE"},
)
@resident_only
async def open_objection(request: Request) -> HTTPResponse:
    resident = await _bound(request)
    body = parse_body(request, ObjectionIn)
    return json(await objections.open_objection(resident.id, body, now=request.app.ctx.clock()), status=201)


@bp.get("/objections")
@documented("My objections, newest first", query=MyCaseQuery, answers={200: ObjectionPage}, errors=BOUND)
@resident_only
async def my_objections(request: Request) -> HTTPResponse:
    resident = await _bound(request)
    query = parse_query(request, MyCaseQuery)
    return json(
        await objections.mine(
            resident.id, limit=query.limit, cursor=query.cursor, now=request.app.ctx.clock()
        )
    )


@bp.get("/objections/<objection_id:str>")
@documented(
    "One of my objections, with the regulator's note once decided",
    path={"objection_id": "the objection"},
    answers={200: ObjectionOut},
    errors={**BOUND, 404: "NOT_FOUND"},
)
@resident_only
async def my_objection(request: Request, objection_id: str) -> HTTPResponse:
    resident = await _bound(request)
    oid = parse_uuid(objection_id, what="objection")
    return json(await objections.one_of_mine(resident.id, oid, now=request.app.ctx.clock()))


@bp.post("/repairs")
@documented(
    "Ask for a record to be repaired on my credit commitment (信用承诺)",
    body=RepairIn,
    answers={201: RepairOut},
    errors={
        **BOUND,
        404: "NOT_FOUND (not my record)",
        409: "REPAIR_NOT_ELIGIBLE (with eligible_from) / REPAIR_NOT_APPLICABLE / REPAIR_OPEN",
    },
)
@resident_only
async def request_repair(request: Request) -> HTTPResponse:
    resident = await _bound(request)
    body = parse_body(request, RepairIn)
    return json(await repairs.request_repair(resident.id, body, now=request.app.ctx.clock()), status=201)


@bp.get("/repairs")
@documented("My repair requests, newest first", query=MyCaseQuery, answers={200: RepairPage}, errors=BOUND)
@resident_only
async def my_repairs(request: Request) -> HTTPResponse:
    resident = await _bound(request)
    query = parse_query(request, MyCaseQuery)
    return json(await repairs.mine(resident.id, limit=query.limit, cursor=query.cursor))


@bp.get("/notifications")
@documented(
    "My notices, newest first (?unread=true for the unread ones)",
    query=NotificationQuery,
    answers={200: NotificationPage},
    errors={403: "CONSENT_REQUIRED"},
)
@resident_only
async def inbox(request: Request) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal, need_consent=True)
    query = parse_query(request, NotificationQuery)
    return json(
        await notices.inbox_page(
            resident.id, limit=query.limit, cursor=query.cursor, unread=bool(query.unread)
        )
    )


@bp.post("/notifications/<notification_id:str>/read")
@documented(
    "Mark a notice read",
    path={"notification_id": "the notice"},
    answers={200: NotificationOut},
    errors={403: "CONSENT_REQUIRED", 404: "NOT_FOUND"},
)
@resident_only
async def read(request: Request, notification_id: str) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal, need_consent=True)
    return json(await notices.mark_read(resident.id, notification_id, now=request.app.ctx.clock()))


@bp.post("/notifications/subscriptions")
@documented(
    "What I accepted in wx.requestSubscribeMessage: one more WeChat message allowed per template named",
    body=SubscriptionsIn,
    answers={200: AllowancesOut},
    errors={403: "CONSENT_REQUIRED"},
)
@resident_only
async def subscriptions(request: Request) -> HTTPResponse:
    resident = await current_resident(request.ctx.principal, need_consent=True)
    body = parse_body(request, SubscriptionsIn)
    return json(
        {
            "allowances": await notices.accept_templates(
                resident.id, body.accepted, now=request.app.ctx.clock()
            )
        }
    )


@bp.post("/attachments", stream=True)  # read here, after the login, to its own 5 MB limit (server.files)
@documented(
    "Upload a file of evidence (JPEG, PNG or PDF, judged from its bytes; at most 5 MB) to attach to a case",
    upload="file",
    answers={201: AttachmentOut},
    errors={
        **BOUND,
        413: "ATTACHMENT_TOO_LARGE",
        415: "ATTACHMENT_TYPE",
        422: "VALIDATION_ERROR: not one file part named file",
    },
)
@resident_only
async def upload_attachment(request: Request) -> HTTPResponse:
    resident = await _bound(request)
    upload = await read_upload(
        request, part="file", max_bytes=attachments.MAX_BYTES, too_large=AttachmentTooLarge
    )
    ctx = request.app.ctx
    return json(
        await attachments.upload(resident.id, upload.data, store=ctx.blobs, now=ctx.clock()), status=201
    )


@bp.get("/attachments/<attachment_id:str>")
@documented(
    "One of my files back, as uploaded (another resident's: 404)",
    path={"attachment_id": "the attachment"},
    answers={
        200: Answer(
            media_type=(attachments.JPEG, attachments.PNG, attachments.PDF),
            schema={"type": "string", "format": "binary"},
            description="the file, with the type judged at upload",
        )
    },
    errors={**BOUND, 404: "NOT_FOUND"},
)
@resident_only
async def my_attachment(request: Request, attachment_id: str) -> HTTPResponse:
    resident = await _bound(request)
    aid = parse_uuid(attachment_id, what="attachment")
    file = await attachments.one_of_mine(resident.id, aid, store=request.app.ctx.blobs)
    return stored_file(file.data, content_type=file.content_type, filename=file.filename, inline=file.inline)


@bp.post("/self-reports")
@documented(
    "Report a positive fact (volunteering, donation, blood donation, award, rescue) with up to 3 attachments",
    body=SelfReportIn,
    answers={201: SelfReportOut},
    errors={**BOUND, 422: "VALIDATION_ERROR (more than 3 attachments, or one that is not mine)"},
)
@resident_only
async def report_fact(request: Request) -> HTTPResponse:
    resident = await _bound(request)
    body = parse_body(request, SelfReportIn)
    return json(await self_reports.submit(resident.id, body, now=request.app.ctx.clock()), status=201)


@bp.get("/self-reports")
@documented(
    "My self-reports, newest first, with the decision and the record an approval created",
    query=MyCaseQuery,
    answers={200: SelfReportPage},
    errors=BOUND,
)
@resident_only
async def my_self_reports(request: Request) -> HTTPResponse:
    resident = await _bound(request)
    query = parse_query(request, MyCaseQuery)
    return json(await self_reports.mine(resident.id, limit=query.limit, cursor=query.cursor))
