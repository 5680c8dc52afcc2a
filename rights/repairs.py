"""信用修复 (NDRC Order 36): a record stops counting early on the resident's credit commitment.

Eligibility is ruleset data by severity, counted from the decision date (default: minor at once,
general after 3 months of publicity, serious after 1 year). Records of the courts' dishonest-debtor
list (and court judgments) are not repaired here: they exit when the court's list does. An approved
repair ends the record's counting, its publicity and its sharing with partners (the tier is
recomputed and partners hear of it); the resident still sees the record, as ``repaired``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.records import change_record, record_by_id, resident_record
from credit.scores import active_ruleset, local_today
from credit.scoring import DEFAULT_SEVERITY, NEGATIVE_CATEGORIES, add_months
from rights import attachments, events, lists
from rights.exceptions import CaseDecided, RepairNotApplicable, RepairNotEligible, RepairNotFound, RepairOpen
from rights.models import Repair
from rights.schemas import RepairDecisionIn, RepairIn
from server.dbtypes import DbConn

UNDER_REVIEW, APPROVED, REJECTED = "under_review", "approved", "rejected"
REPAIRABLE_STATUSES = ("active", "corrected", "disputed", "notified")
NOT_HERE = ("court_judgment",)  # the courts' own records


def repair_out(r: Repair) -> dict[str, Any]:
    return {
        "id": r.id,
        "record_id": str(r.record_id),
        "status": r.status,
        "commitment": r.commitment,
        "attachment_ids": r.attachment_ids or [],
        "created_at": r.created_at,
        "decided_at": r.decided_at,
        "note": r.note,
    }


async def request_repair(resident_id: uuid.UUID, body: RepairIn, *, now: datetime) -> dict[str, Any]:
    """``POST /mp/repairs``: 201 ``under_review``; 409 ``REPAIR_NOT_ELIGIBLE`` (with ``eligible_from``),
    ``REPAIR_NOT_APPLICABLE``, ``REPAIR_OPEN``; 404 for a record that is not mine."""
    repair_id = uuid.uuid4()
    try:
        async with in_transaction() as conn:
            record = await resident_record(resident_id, body.record_id, conn)
            record = await record_by_id(record.id, conn, lock=True)
            entry = await lists.entry_of_record(record.id, conn)
            if record.category in NOT_HERE or (
                entry is not None and entry.list_category in lists.COURT_LISTS
            ):
                raise RepairNotApplicable(
                    "Records of the courts' lists are not repaired here: they exit when the court's list does."
                )
            if record.category not in (*NEGATIVE_CATEGORIES, "black_list"):
                raise RepairNotApplicable("Only a negative record can be repaired.")
            if record.status not in REPAIRABLE_STATUSES:
                raise RepairNotApplicable("This record no longer counts: there is nothing to repair.")
            rules = await active_ruleset(conn)
            months = getattr(rules.rights.repair_after_months, record.severity or DEFAULT_SEVERITY)
            eligible_from = add_months(record.decided_at, months)
            if record.status == "notified" and record.objection_until is not None:
                eligible_from = max(eligible_from, local_today(record.objection_until))  # not in force yet
            if local_today(now) < eligible_from or record.status == "notified":
                raise RepairNotEligible(eligible_from)
            files = await attachments.owned(resident_id, body.attachment_ids, conn)
            repair = await Repair.create(
                id=repair_id,
                resident_id=resident_id,
                record_id=record.id,
                commitment=body.commitment,
                attachment_ids=files,
                status=UNDER_REVIEW,
                created_at=now,
                using_db=conn,
            )
            await events.record_event(
                conn,
                case_kind=events.REPAIR,
                case_id=repair_id,
                from_state=None,
                to_state=UNDER_REVIEW,
                actor=events.RESIDENT,
                reason=body.commitment,
                at=now,
            )
    except IntegrityError:
        raise RepairOpen() from None
    return repair_out(repair)


async def _repair(repair_id: uuid.UUID, conn: DbConn | None = None, *, lock: bool = False) -> Repair:
    return await events.one_case(Repair.filter(id=repair_id).using_db(conn), RepairNotFound, lock=lock)


async def decide(
    repair_id: uuid.UUID, body: RepairDecisionIn, *, admin_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """``POST /admin/repairs/{id}/decision``: once. Approved: the record is ``repaired`` (and its list entry exits)."""
    async with in_transaction() as conn:
        repair = await _repair(repair_id, conn, lock=True)
        if repair.status != UNDER_REVIEW:
            raise CaseDecided()
        if body.outcome == APPROVED:
            entry = await lists.entry_of_record(repair.record_id, conn)
            if entry is not None and entry.state != lists.EXITED:
                await lists.move(
                    conn,
                    entry,
                    lists.EXITED,
                    record_status="repaired",
                    actor=events.admin(admin_id),
                    reason=f"repair {repair.id} approved",
                    score_reason=f"repair_approved:{repair.id}",
                    now=now,
                )
            await change_record(
                conn,
                repair.record_id,
                status="repaired",
                disputed_until=None,
                reason=f"repair_approved:{repair.id}",
                now=now,
            )
        await (
            Repair.filter(id=repair.id)
            .using_db(conn)
            .update(status=body.outcome, decided_at=now, decided_by=admin_id, note=body.note)
        )
        await events.decided(
            conn,
            case_kind=events.REPAIR,
            case_id=repair.id,
            resident_id=repair.resident_id,
            from_state=UNDER_REVIEW,
            outcome=body.outcome,
            admin_id=admin_id,
            note=body.note,
            title="信用修复结果",
            verdict="您的信用修复申请已通过" if body.outcome == APPROVED else "您的信用修复申请未通过",
            now=now,
        )
    return repair_out(await _repair(repair_id))


async def mine(resident_id: uuid.UUID, *, limit: int, cursor: str | None) -> dict[str, Any]:
    return await events.case_page(
        Repair.filter(resident_id=resident_id), repair_out, limit=limit, cursor=cursor
    )


async def for_regulators(*, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    query = Repair.all() if not status else Repair.filter(status=status)
    return await events.case_page(query, repair_out, limit=limit, cursor=cursor, for_regulators=True)


async def for_a_regulator(repair_id: uuid.UUID, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    found = await _repair(repair_id)
    return await events.shown_to_regulator(
        events.REPAIR, found, repair_out(found), admin_id=admin_id, now=now
    )
