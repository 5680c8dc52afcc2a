"""自主申报: a resident reports a positive fact (volunteering elsewhere, a donation, blood donation, an
award, a rescue) with up to 3 of their uploads as evidence; a regulator decides it once.

Approval creates a ``commendation`` record for the resident (``credit.records.new_record``: the
subject row-locked, the record written, the score recomputed in the same transaction, the history
reason ``self_report_approved:<id>``). The record is worth what the active ruleset says a
commendation is worth: the scoring engine counts ``commendation.points`` per record up to its cap,
so a regulator's ``points`` may only confirm or lower that figure, never raise it (422 above it),
and the engine still awards the ruleset's value. The record's ``(source, source_record_id)`` is
unique, so a report can never yield two records, whatever two regulators do at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from credit.records import new_record, subject_of_resident
from credit.scores import active_ruleset, local_today
from rights import attachments, events
from rights.exceptions import CaseDecided, ResidentUnidentified, SelfReportNotFound
from rights.models import SelfReport
from rights.schemas import SelfReportDecisionIn, SelfReportIn
from server.dbtypes import DbConn
from server.errors import ValidationFailed

UNDER_REVIEW, APPROVED, REJECTED = "under_review", "approved", "rejected"
SOURCE = "xinyi:self-report"
COMMENDATION = "commendation"


def self_report_out(r: SelfReport) -> dict[str, Any]:
    return {
        "id": r.id,
        "category": r.category,
        "title": r.title,
        "description": r.description,
        "occurred_at": r.occurred_at,
        "attachment_ids": r.attachment_ids or [],
        "status": r.status,
        "created_at": r.created_at,
        "decided_at": r.decided_at,
        "note": r.note,
        "record_id": None if r.record_id is None else str(r.record_id),
    }


async def submit(resident_id: uuid.UUID, body: SelfReportIn, *, now: datetime) -> dict[str, Any]:
    """``POST /mp/self-reports``: 201 ``under_review``; 422 for a day in the future or an attachment not mine."""
    if body.occurred_at > local_today(now):
        raise ValidationFailed({"occurred_at": "must not be in the future"})
    report_id = uuid.uuid4()
    async with in_transaction() as conn:
        files = await attachments.owned(resident_id, body.attachment_ids, conn)
        report = await SelfReport.create(
            id=report_id,
            resident_id=resident_id,
            category=body.category,
            title=body.title,
            description=body.description,
            occurred_at=body.occurred_at,
            attachment_ids=files,
            status=UNDER_REVIEW,
            created_at=now,
            using_db=conn,
        )
        await events.record_event(
            conn,
            case_kind=events.SELF_REPORT,
            case_id=report_id,
            from_state=None,
            to_state=UNDER_REVIEW,
            actor=events.RESIDENT,
            reason=body.title,
            at=now,
        )
    return self_report_out(report)


async def _report(report_id: uuid.UUID, conn: DbConn | None = None, *, lock: bool = False) -> SelfReport:
    return await events.one_case(
        SelfReport.filter(id=report_id).using_db(conn), SelfReportNotFound, lock=lock
    )


async def decide(
    report_id: uuid.UUID, body: SelfReportDecisionIn, *, admin_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """``POST /admin/self-reports/{id}/decision``: once (409 ``CASE_ALREADY_DECIDED``); approved: a commendation record."""
    async with in_transaction() as conn:
        report = await _report(report_id, conn, lock=True)
        if report.status != UNDER_REVIEW:
            raise CaseDecided()
        record_id = None
        if body.outcome == APPROVED:
            worth = (await active_ruleset(conn)).commendation.points
            if body.points is not None and body.points > worth:
                raise ValidationFailed(
                    {"points": f"at most {worth}: the active ruleset's points for a commendation"}
                )
            subject_id = await subject_of_resident(report.resident_id, conn)
            if subject_id is None:
                raise ResidentUnidentified()
            record = await new_record(
                conn,
                subject_id=subject_id,
                source=SOURCE,
                source_record_id=str(report.id),
                category=COMMENDATION,
                severity=None,
                title=report.title,
                decided_at=local_today(now),
                publicity_until=None,
                status="active",
                reason=f"self_report_approved:{report.id}",
                now=now,
            )
            record_id = record.id
        await (
            SelfReport.filter(id=report.id)
            .using_db(conn)
            .update(
                status=body.outcome, decided_at=now, decided_by=admin_id, note=body.note, record_id=record_id
            )
        )
        await events.decided(
            conn,
            case_kind=events.SELF_REPORT,
            case_id=report.id,
            resident_id=report.resident_id,
            from_state=UNDER_REVIEW,
            outcome=body.outcome,
            admin_id=admin_id,
            note=body.note,
            title="自主申报审核结果",
            verdict=(
                f"您申报的“{report.title}”已通过审核，记入表彰记录"
                if body.outcome == APPROVED
                else f"您申报的“{report.title}”未通过审核"
            ),
            now=now,
        )
    return self_report_out(await _report(report_id))


async def mine(resident_id: uuid.UUID, *, limit: int, cursor: str | None) -> dict[str, Any]:
    return await events.case_page(
        SelfReport.filter(resident_id=resident_id), self_report_out, limit=limit, cursor=cursor
    )


async def for_regulators(*, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    query = SelfReport.all() if not status else SelfReport.filter(status=status)
    return await events.case_page(query, self_report_out, limit=limit, cursor=cursor, for_regulators=True)


async def for_a_regulator(report_id: uuid.UUID, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """One self-report with its history; the read shows in the resident's access log."""
    found = await _report(report_id)
    return await events.shown_to_regulator(
        events.SELF_REPORT, found, self_report_out(found), admin_id=admin_id, now=now
    )
