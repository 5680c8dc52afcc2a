"""Red and black list entries: identified (认定) → notified (告知) → active → exited (退出).

A regulator identifies an entry here; it starts ``notified``: its record (category ``red_list`` or
``black_list``, status ``notified``) does not count yet, the person is told with the basis, and may
object until ``objection_until`` (ruleset data, default 10 days). ``advance`` (daily: ``xinyi
advance-lists`` or ``POST /admin/list-entries/advance``) makes entries whose window passed with no
objection open ``active`` (the record counts: red adds points, black restricts), and moves entries
whose publicity ended to ``exited``. An entry also exits by an approved repair, an upheld objection,
or the regulator's revocation. Every transition is a ``CaseEvent`` with actor, reason and time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from credit.models import CreditRecord, Subject
from credit.records import change_record, new_record, record_by_id, resident_of_subject, subject_for_identity
from credit.scores import active_ruleset, local_today
from notices.service import LIST_NOTICE, PUBLICITY_ENDING, notify
from rights import events
from rights.exceptions import ListEntryExited, ListEntryNotFound
from rights.models import ListEntry, Objection
from rights.schemas import ListEntryIn
from server.crypto import FieldCipher, KeyedHasher
from server.dbtypes import DbConn, column_values
from server.http import page
from server.pagination import keyset_page

NOTIFIED, ACTIVE, EXITED = "notified", "active", "exited"
SOURCE = "xinyi:list-entry"
PUBLICITY_NOTICE_DAYS = 7
COURT_LISTS = ("court_dishonest_debtor",)  # 失信被执行人: the court's list, repaired only by the court
_KIND_LABEL = {"red": "守信红名单", "black": "失信黑名单"}


async def identify(
    body: ListEntryIn, *, admin_id: uuid.UUID, hasher: KeyedHasher, cipher: FieldCipher, now: datetime
) -> dict[str, Any]:
    """``POST /admin/list-entries``: the entry, its record and its notice, in one transaction."""
    entry_id = uuid.uuid4()
    async with in_transaction() as conn:
        rules = await active_ruleset(conn)
        subject_id = await subject_for_identity(
            conn, id_number=body.id_number, name=body.name, hasher=hasher, cipher=cipher
        )
        objection_until = now + timedelta(days=rules.rights.objection_window_days)
        record = await new_record(
            conn,
            subject_id=subject_id,
            source=SOURCE,
            source_record_id=str(entry_id),
            category=f"{body.kind}_list",
            severity=body.severity,
            title=body.title,
            decided_at=body.decided_at,
            publicity_until=body.publicity_until,
            status=NOTIFIED,
            objection_until=objection_until,
            reason=f"list_notified:{entry_id}",
            now=now,
        )
        await ListEntry.create(
            id=entry_id,
            record_id=record.id,
            subject_id=subject_id,
            kind=body.kind,
            list_category=body.category,
            basis=body.basis,
            state=NOTIFIED,
            region=body.region,
            created_by=admin_id,
            created_at=now,
            updated_at=now,
            using_db=conn,
        )
        await events.record_event(
            conn,
            case_kind=events.LIST_ENTRY,
            case_id=entry_id,
            from_state=None,
            to_state=NOTIFIED,
            actor=events.admin(admin_id),
            reason="identified; the person is told and may object",
            at=now,
        )
        resident_id = await resident_of_subject(subject_id, conn)
        if resident_id is not None:
            await notify(
                conn,
                resident_id=resident_id,
                kind=LIST_NOTICE,
                title=f"拟列入{_KIND_LABEL[body.kind]}告知",
                body=(
                    f"{body.title}。认定依据：{body.basis}。"
                    f"如有异议，请于 {local_today(objection_until).isoformat()} 前提出。"
                ),
                now=now,
                case_kind=events.LIST_ENTRY,
                case_id=str(entry_id),
            )
    return {
        "id": entry_id,
        "record_id": str(record.id),
        "state": NOTIFIED,
        "objection_until": objection_until,
    }


async def _entry(entry_id: uuid.UUID, conn: DbConn | None = None, *, lock: bool = False) -> ListEntry:
    query = ListEntry.filter(id=entry_id).using_db(conn)
    entry = await (query.select_for_update() if lock else query).first()
    if entry is None:
        raise ListEntryNotFound()
    return entry


def _out(entry: ListEntry, record: CreditRecord, resident_bound: bool) -> dict[str, Any]:
    return {
        "id": entry.id,
        "record_id": str(entry.record_id),
        "kind": entry.kind,
        "category": entry.list_category,
        "state": entry.state,
        "title": record.title,
        "basis": entry.basis,
        "severity": record.severity,
        "decided_at": record.decided_at,
        "publicity_until": record.publicity_until,
        "objection_until": record.objection_until,
        "record_status": record.status,
        "resident_bound": resident_bound,
        "region": entry.region,
        "created_at": entry.created_at,
    }


async def entry_view(entry_id: uuid.UUID, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """``GET /admin/list-entries/{id}``: the entry with every transition (a regulator's read is logged)."""
    entry = await _entry(entry_id)
    record = await CreditRecord.get(id=entry.record_id)
    resident_id = await resident_of_subject(entry.subject_id, None)
    await events.regulator_read(
        resident_id=resident_id, admin_id=admin_id, case_kind=events.LIST_ENTRY, case_id=entry.id, at=now
    )
    return {
        **_out(entry, record, resident_id is not None),
        "transitions": await events.transitions(events.LIST_ENTRY, entry.id),
    }


async def entries_page(
    *, state: str | None, kind: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    query = ListEntry.all()
    if state:
        query = query.filter(state=state)
    if kind:
        query = query.filter(kind=kind)
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor, tiebreak=("id", uuid.UUID))
    records = {r.id: r for r in await CreditRecord.filter(id__in=[e.record_id for e in rows])}
    bound = set(
        await Subject.filter(id__in={e.subject_id for e in rows}, resident_id__isnull=False).values_list(
            "id", flat=True
        )
    )
    return page([_out(e, records[e.record_id], e.subject_id in bound) for e in rows], next_cursor)


async def move(
    conn: DbConn,
    entry: ListEntry,
    to_state: str,
    *,
    record_status: str,
    actor: str,
    reason: str,
    score_reason: str,
    now: datetime,
) -> None:
    """One transition of a locked entry: the entry, its record (rescored) and the event, in ``conn``."""
    await ListEntry.filter(id=entry.id).using_db(conn).update(state=to_state, updated_at=now)
    await change_record(
        conn, entry.record_id, status=record_status, objection_until=None, reason=score_reason, now=now
    )
    await events.record_event(
        conn,
        case_kind=events.LIST_ENTRY,
        case_id=entry.id,
        from_state=entry.state,
        to_state=to_state,
        actor=actor,
        reason=reason,
        at=now,
    )
    entry.state = to_state


async def entry_of_record(record_id: int, conn: DbConn) -> ListEntry | None:
    return await ListEntry.filter(record_id=record_id).using_db(conn).select_for_update().first()


async def exit_entry(
    entry_id: uuid.UUID, *, admin_id: uuid.UUID, reason: str, now: datetime
) -> dict[str, Any]:
    """``POST /admin/list-entries/{id}/exit``: the regulator revokes the entry (its record is ``revoked``)."""
    async with in_transaction() as conn:
        entry = await _entry(entry_id, conn, lock=True)
        if entry.state == EXITED:
            raise ListEntryExited()
        await move(
            conn,
            entry,
            EXITED,
            record_status="revoked",
            actor=events.admin(admin_id),
            reason=f"revoked by the regulator: {reason}",
            score_reason=f"list_revoked:{entry.id}",
            now=now,
        )
        await _tell(conn, entry, "列入名单已撤销", f"您的{_KIND_LABEL[entry.kind]}记录已撤销：{reason}", now)
    return {"id": entry.id, "state": EXITED}


async def _tell(
    conn: DbConn, entry: ListEntry, title: str, body: str, now: datetime, kind: str = LIST_NOTICE
) -> None:
    resident_id = await resident_of_subject(entry.subject_id, conn)
    if resident_id is not None:
        await notify(
            conn,
            resident_id=resident_id,
            kind=kind,
            title=title,
            body=body,
            now=now,
            case_kind=events.LIST_ENTRY,
            case_id=str(entry.id),
        )


async def adopt_provincial(*, now: datetime) -> int:
    """List records that arrived decided from the provincial platform (``xinyi import-records``) get their
    entry, ``active`` at once (or ``exited`` if the source already revoked them); an entry whose record the
    source has since revoked exits. Returns how many entries were made or moved."""
    moved = 0
    adopted = ListEntry.all().values("record_id")
    arrived = await column_values(
        CreditRecord.filter(category__in=("red_list", "black_list"))
        .exclude(source=SOURCE)
        .exclude(id__in=Subquery(adopted)),
        "id",
    )
    for record_id in arrived:
        async with in_transaction() as conn:
            record = await record_by_id(record_id, conn, lock=True)
            if await ListEntry.filter(record_id=record_id).using_db(conn).exists():
                continue
            entry_id = uuid.uuid4()
            state = ACTIVE if record.status in ("active", "disputed", "corrected") else EXITED
            await ListEntry.create(
                id=entry_id,
                record_id=record.id,
                subject_id=record.subject_id,
                kind="red" if record.category == "red_list" else "black",
                list_category="provincial",
                basis=f"{record.source}: {record.title}",
                state=state,
                origin="provincial",
                created_at=now,
                updated_at=now,
                using_db=conn,
            )
            await events.record_event(
                conn,
                case_kind=events.LIST_ENTRY,
                case_id=entry_id,
                from_state=None,
                to_state=state,
                actor=events.SYSTEM,
                reason=f"arrived decided from {record.source}",
                at=now,
            )
            moved += 1
    revoked = await ListEntry.filter(origin="provincial", state=ACTIVE).values_list("id", "record_id")
    for entry_id, record_id in revoked:
        async with in_transaction() as conn:
            entry = await _entry(entry_id, conn, lock=True)
            record = await record_by_id(record_id, conn)
            if entry.state == ACTIVE and record.status == "revoked":
                await move(
                    conn,
                    entry,
                    EXITED,
                    record_status="revoked",
                    actor=events.SYSTEM,
                    reason=f"revoked by {record.source}",
                    score_reason=f"list_revoked:{entry.id}",
                    now=now,
                )
                moved += 1
    return moved


async def advance(*, now: datetime) -> dict[str, int]:
    """The daily move: provincial entries adopted, windows passed → active, publicity over → exited, publicity
    ending soon → a notice, subjects with an objection gone overdue → rescored (the record stops counting
    until decided)."""
    adopted = await adopt_provincial(now=now)
    activated = exited = noticed = overdue = 0
    today = local_today(now)
    due = await column_values(ListEntry.filter(state=NOTIFIED), "id")
    for entry_id in due:
        async with in_transaction() as conn:
            entry = await _entry(entry_id, conn, lock=True)
            record = await record_by_id(entry.record_id, conn)
            if entry.state != NOTIFIED or record.status != NOTIFIED or record.disputed_until is not None:
                continue  # an open objection holds it until it is decided
            if record.objection_until is not None and record.objection_until > now:
                continue
            await move(
                conn,
                entry,
                ACTIVE,
                record_status=ACTIVE,
                actor=events.SYSTEM,
                reason="objection window passed with no objection",
                score_reason=f"list_active:{entry.id}",
                now=now,
            )
            await _tell(
                conn,
                entry,
                f"{_KIND_LABEL[entry.kind]}已生效",
                f"{record.title}：异议期已过，认定生效。",
                now,
            )
            activated += 1
    active = await column_values(ListEntry.filter(state=ACTIVE), "id")
    for entry_id in active:
        async with in_transaction() as conn:
            entry = await _entry(entry_id, conn, lock=True)
            record = await record_by_id(entry.record_id, conn)
            if entry.state != ACTIVE or record.publicity_until is None:
                continue
            if record.publicity_until < today:
                await move(
                    conn,
                    entry,
                    EXITED,
                    record_status=EXITED,
                    actor=events.SYSTEM,
                    reason="publicity period over",
                    score_reason=f"list_exited:{entry.id}",
                    now=now,
                )
                await _tell(
                    conn,
                    entry,
                    f"{_KIND_LABEL[entry.kind]}公示期满",
                    f"{record.title}：公示期已满，已移出名单。",
                    now,
                )
                exited += 1
            elif not entry.publicity_ending_noticed and record.publicity_until <= today + timedelta(
                days=PUBLICITY_NOTICE_DAYS
            ):
                await ListEntry.filter(id=entry.id).using_db(conn).update(publicity_ending_noticed=True)
                await _tell(
                    conn,
                    entry,
                    "公示期即将届满",
                    f"{record.title}：公示期至 {record.publicity_until.isoformat()} 届满。",
                    now,
                    kind=PUBLICITY_ENDING,
                )
                noticed += 1
    overdue = await _rescore_overdue(now)
    return {
        "adopted": adopted,
        "activated": activated,
        "exited": exited,
        "publicity_notices": noticed,
        "overdue_objections": overdue,
    }


async def _rescore_overdue(now: datetime) -> int:
    """Subjects whose open objection went past due: rescored, so the record stops counting (scoring reads the due date)."""
    late = await Objection.filter(status="open", target="record", due_at__lt=now).values_list(
        "id", "record_id"
    )
    for objection_id, record_id in late:
        async with in_transaction() as conn:
            await change_record(conn, record_id, reason=f"objection_overdue:{objection_id}", now=now)
    return len(late)
