"""异议: a resident contests one of their records, or asks a person to review their score (PIPL art. 24).

An objection is answered by ``due_at`` (ruleset data, default 20 days; the credit-reporting
regulation's art. 25). While it is open the record shows ``disputed``; whether it keeps counting is
ruleset data (default: minor and general stop, serious and black-list entries keep counting), and
past ``due_at`` with no decision it stops counting whatever its kind. ``upheld`` corrects the record
(withdrawn, or re-graded) and rescores with a history row naming the objection; ``rejected`` puts
the record back as it was. One open objection per record is held by a partial unique index.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.models import CreditRecord
from credit.records import change_record, record_by_id, resident_record, subject_of_resident
from credit.scores import active_ruleset, local_today, recompute_subjects
from credit.scoring import NEGATIVE_CATEGORIES
from rights import attachments, events, lists
from rights.exceptions import CaseDecided, ObjectionNotFound, ObjectionOpen, RecordNotContestable
from rights.models import ListEntry, Objection
from rights.schemas import ObjectionDecisionIn, ObjectionIn
from server.dbtypes import DbConn, column_values
from server.errors import ValidationFailed

OPEN, UPHELD, REJECTED, WITHDRAWN = "open", "upheld", "rejected", "withdrawn"
CONTESTABLE = ("notified", "active", "corrected")


def objection_out(o: Objection, now: datetime) -> dict[str, Any]:
    return {
        "id": o.id,
        "target": o.target,
        "record_id": None if o.record_id is None else str(o.record_id),
        "status": o.status,
        "reason": o.reason,
        "attachment_ids": o.attachment_ids or [],
        "due_at": o.due_at,
        "overdue": o.status == OPEN and o.due_at < now,
        "created_at": o.created_at,
        "decided_at": o.decided_at,
        "note": o.note,
        "correction": o.correction,
    }


async def open_objection(resident_id: uuid.UUID, body: ObjectionIn, *, now: datetime) -> dict[str, Any]:
    """``POST /mp/objections``: 201 with ``due_at``; 404 for a record that is not mine, 409 ``OBJECTION_OPEN``."""
    objection_id = uuid.uuid4()
    try:
        async with in_transaction() as conn:
            rules = await active_ruleset(conn)
            due_at = now + timedelta(days=rules.rights.objection_due_days)
            files = await attachments.owned(resident_id, body.attachment_ids, conn)
            if body.target == "score":
                objection = await _open_review(conn, resident_id, objection_id, body, files, due_at, now)
            else:
                objection = await _open_on_record(conn, resident_id, objection_id, body, files, due_at, now)
            await events.record_event(
                conn,
                case_kind=events.OBJECTION,
                case_id=objection_id,
                from_state=None,
                to_state=OPEN,
                actor=events.RESIDENT,
                reason=body.reason,
                at=now,
            )
    except IntegrityError:
        raise ObjectionOpen() from None  # a concurrent objection to the same record won
    return objection_out(objection, now)


async def _open_review(
    conn: DbConn,
    resident_id: uuid.UUID,
    objection_id: uuid.UUID,
    body: ObjectionIn,
    files: list[str],
    due_at: datetime,
    now: datetime,
) -> Objection:
    if await Objection.filter(resident_id=resident_id, target="score", status=OPEN).using_db(conn).exists():
        raise ObjectionOpen("A review of your score is already open; wait for its decision.")
    return await Objection.create(
        id=objection_id,
        resident_id=resident_id,
        target="score",
        reason=body.reason,
        attachment_ids=files,
        status=OPEN,
        due_at=due_at,
        created_at=now,
        using_db=conn,
    )


async def _open_on_record(
    conn: DbConn,
    resident_id: uuid.UUID,
    objection_id: uuid.UUID,
    body: ObjectionIn,
    files: list[str],
    due_at: datetime,
    now: datetime,
) -> Objection:
    record = await resident_record(resident_id, body.record_id, conn)
    record = await record_by_id(record.id, conn, lock=True)
    if record.status == "disputed" or record.disputed_until is not None:
        raise ObjectionOpen()
    if record.status not in CONTESTABLE:
        raise RecordNotContestable()
    objection = await Objection.create(
        id=objection_id,
        resident_id=resident_id,
        target="record",
        record_id=record.id,
        reason=body.reason,
        attachment_ids=files,
        status=OPEN,
        previous_record_status=record.status,
        due_at=due_at,
        created_at=now,
        using_db=conn,
    )
    # A record in force shows (and counts as) disputed; one still under notice stays notified, and so
    # never counts, its entry held until the decision. Both carry the due date: the objection is open.
    await change_record(
        conn,
        record.id,
        status="notified" if record.status == "notified" else "disputed",
        disputed_until=local_today(due_at),
        reason=f"objection_opened:{objection_id}",
        now=now,
    )
    return objection


async def _objection(objection_id: uuid.UUID, conn: DbConn | None = None, *, lock: bool = False) -> Objection:
    return await events.one_case(
        Objection.filter(id=objection_id).using_db(conn), ObjectionNotFound, lock=lock
    )


async def decide(
    objection_id: uuid.UUID, body: ObjectionDecisionIn, *, admin_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """``POST /admin/objections/{id}/decision``: once; the record, the list entry, the score and the resident follow."""
    async with in_transaction() as conn:
        objection = await _objection(objection_id, conn, lock=True)
        if objection.status != OPEN:
            raise CaseDecided()
        correction = body.correction.model_dump() if body.correction else None
        if objection.target == "record":
            correction = await _apply(conn, objection, body, now, admin_id)
        else:
            subject_id = await subject_of_resident(objection.resident_id, conn)
            if (
                subject_id is not None
            ):  # a person looked at the score again: recomputed, and the history says so
                await recompute_subjects(
                    [subject_id],
                    reason=f"human_review:{objection.id}",
                    conn=conn,
                    as_of=local_today(now),
                    now=now,
                )
        await (
            Objection.filter(id=objection.id)
            .using_db(conn)
            .update(
                status=body.outcome,
                decided_at=now,
                decided_by=admin_id,
                note=body.note,
                correction=correction,
            )
        )
        await events.decided(
            conn,
            case_kind=events.OBJECTION,
            case_id=objection.id,
            resident_id=objection.resident_id,
            from_state=OPEN,
            outcome=body.outcome,
            admin_id=admin_id,
            note=body.note,
            title="异议处理结果",
            verdict="您的异议已被采纳" if body.outcome == UPHELD else "您的异议未被采纳",
            now=now,
        )
    return objection_out(await _objection(objection_id), now)


async def _apply(
    conn: DbConn, objection: Objection, body: ObjectionDecisionIn, now: datetime, admin_id: uuid.UUID
) -> dict[str, Any] | None:
    """What the decision does to the record (and its list entry); the correction as applied."""
    assert objection.record_id is not None
    record = await record_by_id(objection.record_id, conn, lock=True)
    entry = await lists.entry_of_record(record.id, conn)
    if body.outcome == REJECTED:
        await _restore(conn, objection, record, entry, actor=events.admin(admin_id), ending=REJECTED, now=now)
        return None
    correction = body.correction.model_dump() if body.correction else {"action": "withdraw", "severity": None}
    if correction["action"] == "regrade":
        if record.category not in NEGATIVE_CATEGORIES:
            raise ValidationFailed({"correction": "only a negative record has a severity to regrade"})
        await change_record(
            conn,
            record.id,
            status="corrected",
            severity=correction["severity"],
            disputed_until=None,
            reason=f"objection_upheld:{objection.id}",
            now=now,
        )
        return correction
    if entry is not None and entry.state != lists.EXITED:
        await lists.move(
            conn,
            entry,
            lists.EXITED,
            record_status="withdrawn",
            actor=events.admin(admin_id),
            reason=f"objection {objection.id} upheld",
            score_reason=f"objection_upheld:{objection.id}",
            now=now,
        )
    await change_record(
        conn,
        record.id,
        status="withdrawn",
        disputed_until=None,
        reason=f"objection_upheld:{objection.id}",
        now=now,
    )
    return correction


async def _restore(
    conn: DbConn,
    objection: Objection,
    record: CreditRecord,
    entry: ListEntry | None,
    *,
    actor: str,
    ending: str,
    now: datetime,
) -> None:
    """The record (and the list entry it held) back as before the objection: it was rejected or withdrawn."""
    restored = objection.previous_record_status or "active"
    if restored == "notified" and (record.objection_until is None or record.objection_until <= now):
        restored = "active"  # the window passed while the objection was open: the entry takes effect now
    if entry is not None and entry.state == lists.NOTIFIED and restored == "active":
        await lists.move(
            conn,
            entry,
            lists.ACTIVE,
            record_status="active",
            actor=actor,
            reason=f"objection {objection.id} {ending}",
            score_reason=f"objection_{ending}:{objection.id}",
            now=now,
        )
    await change_record(
        conn,
        record.id,
        status=restored,
        disputed_until=None,
        reason=f"objection_{ending}:{objection.id}",
        now=now,
    )


async def withdraw_open(conn: DbConn, resident_id: uuid.UUID, *, reason: str, now: datetime) -> int:
    """The resident's open objections end ``withdrawn`` (the account is erased), in ``conn``'s transaction.

    Each contested record goes back as it was before the objection, as a rejection would put it,
    so the record stays with its subject as the public authority decided it. Returns how many.
    """
    withdrawn = 0
    open_ids = await column_values(
        Objection.filter(resident_id=resident_id, status=OPEN).order_by("id").using_db(conn), "id"
    )
    for objection_id in open_ids:
        objection = await _objection(objection_id, conn, lock=True)
        if objection.status != OPEN:
            continue  # a regulator decided it meanwhile
        if objection.target == "record" and objection.record_id is not None:
            record = await record_by_id(objection.record_id, conn, lock=True)
            entry = await lists.entry_of_record(record.id, conn)
            await _restore(conn, objection, record, entry, actor=events.RESIDENT, ending=WITHDRAWN, now=now)
        closed = {"status": WITHDRAWN, "decided_at": now, "note": reason}
        await Objection.filter(id=objection.id).using_db(conn).update(**closed)
        await events.record_event(
            conn,
            case_kind=events.OBJECTION,
            case_id=objection.id,
            from_state=OPEN,
            to_state=WITHDRAWN,
            actor=events.RESIDENT,
            reason=reason,
            at=now,
        )
        withdrawn += 1
    return withdrawn


async def mine(resident_id: uuid.UUID, *, limit: int, cursor: str | None, now: datetime) -> dict[str, Any]:
    return await events.case_page(
        Objection.filter(resident_id=resident_id), lambda o: objection_out(o, now), limit=limit, cursor=cursor
    )


async def one_of_mine(resident_id: uuid.UUID, objection_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    found = await Objection.get_or_none(id=objection_id, resident_id=resident_id)
    if found is None:
        raise ObjectionNotFound()
    return objection_out(found, now)


async def for_regulators(
    *, status: str | None, overdue: bool | None, limit: int, cursor: str | None, now: datetime
) -> dict[str, Any]:
    """``GET /admin/objections``: ``?status=&overdue=true``; each item names its resident (a pseudonymous id)."""
    query = Objection.all()
    if status:
        query = query.filter(status=status)
    if overdue is True:
        query = query.filter(status=OPEN, due_at__lt=now)
    elif overdue is False:
        query = query.exclude(status=OPEN, due_at__lt=now)
    return await events.case_page(
        query, lambda o: objection_out(o, now), limit=limit, cursor=cursor, for_regulators=True
    )


async def for_a_regulator(objection_id: uuid.UUID, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """One objection with its history; the read shows in the resident's access log."""
    found = await _objection(objection_id)
    return await events.shown_to_regulator(
        events.OBJECTION, found, objection_out(found, now), admin_id=admin_id, now=now
    )
