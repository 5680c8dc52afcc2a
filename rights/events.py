"""Every step of every case, kept for good: the audit trail, and a list entry's transitions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from notices.service import CASE_DECISION, notify
from rights.models import CaseEvent, RegulatorRead
from server.dbtypes import DbConn
from server.http import page
from server.pagination import keyset_page

LIST_ENTRY = "list_entry"
OBJECTION = "objection"
REPAIR = "repair"
SELF_REPORT = "self_report"

SYSTEM = "system"
RESIDENT = "resident"


def admin(admin_id: uuid.UUID) -> str:
    return f"admin:{admin_id}"


async def record_event(
    conn: DbConn,
    *,
    case_kind: str,
    case_id: uuid.UUID,
    from_state: str | None,
    to_state: str,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    await CaseEvent.create(
        case_kind=case_kind,
        case_id=case_id,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        reason=reason,
        at=at,
        using_db=conn,
    )


async def transitions(case_kind: str, case_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await CaseEvent.filter(case_kind=case_kind, case_id=case_id).order_by("at", "id")
    return [
        {"from": e.from_state, "to": e.to_state, "at": e.at, "actor": e.actor, "reason": e.reason}
        for e in rows
    ]


async def regulator_read(
    *, resident_id: uuid.UUID | None, admin_id: uuid.UUID, case_kind: str, case_id: uuid.UUID, at: datetime
) -> None:
    """A regulator opened one of the resident's cases: it appears in the resident's access log."""
    if resident_id is None:
        return
    await RegulatorRead.create(
        id=uuid.uuid4(),
        resident_id=resident_id,
        admin_id=admin_id,
        purpose="case_read",
        case_kind=case_kind,
        case_id=case_id,
        at=at,
    )


async def decided(
    conn: DbConn,
    *,
    case_kind: str,
    case_id: uuid.UUID,
    resident_id: uuid.UUID,
    from_state: str,
    outcome: str,
    admin_id: uuid.UUID,
    note: str,
    title: str,
    verdict: str,
    now: datetime,
) -> None:
    """A regulator decided a case: its event, and the resident's ``case_decision`` notice (verdict, then the note)."""
    await record_event(
        conn,
        case_kind=case_kind,
        case_id=case_id,
        from_state=from_state,
        to_state=outcome,
        actor=admin(admin_id),
        reason=note,
        at=now,
    )
    await notify(
        conn,
        resident_id=resident_id,
        kind=CASE_DECISION,
        title=title,
        body=f"{verdict}：{note}",
        now=now,
        case_kind=case_kind,
        case_id=str(case_id),
    )


async def shown_to_regulator(
    case_kind: str, case: Any, shown: dict[str, Any], *, admin_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """One case as a regulator reads it (its resident and every step); the read goes to the resident's access log."""
    await regulator_read(
        resident_id=case.resident_id, admin_id=admin_id, case_kind=case_kind, case_id=case.id, at=now
    )
    return {**shown, "resident_id": case.resident_id, "events": await transitions(case_kind, case.id)}


async def one_case(query: Any, missing: type[Exception], *, lock: bool = False) -> Any:
    """The case the query names (row-locked when asked), or ``missing`` raised: 404."""
    found = await (query.select_for_update() if lock else query).first()
    if found is None:
        raise missing()
    return found


async def case_page(
    query: Any,
    out: Callable[[Any], dict[str, Any]],
    *,
    limit: int,
    cursor: str | None,
    for_regulators: bool = False,
) -> dict[str, Any]:
    """A page of cases, newest first; regulators also see whose case it is (the resident's pseudonymous id)."""
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor, tiebreak=("id", uuid.UUID))
    items = [{**out(c), "resident_id": c.resident_id} if for_regulators else out(c) for c in rows]
    return page(items, next_cursor)
