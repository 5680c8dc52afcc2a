"""The regulators' case queue: every kind of case with its clock, overdue first; assignment; one case read.

The queue is open work: open cases of every kind, unless ``?status=`` names a kind's own status or
``all``. Order: overdue cases first (open and ``due_at`` before now), then by ``due_at`` (soonest first),
then by kind and the kind's tie-breaker. ``due_at`` per kind is ruleset data (the active ruleset's
``rights`` section, see each source). Pages are keyset pages: the cursor holds the last case's
position and the time of the first page (``as_of``), so that a case falling due while a regulator
pages neither repeats nor goes missing: ``overdue`` is as of the first page.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from casework import registry
from casework.models import CaseAssignment
from casework.sources import KINDS, Case, PageQuery, Position
from credit.scores import active_ruleset
from credit.scoring import RightsRule
from server.dbtypes import column_values
from server.errors import NotFound, ValidationFailed
from server.http import decode_cursor, encode_cursor, page


class CaseNotFound(NotFound):
    message = "No such case."


async def _rules() -> RightsRule:
    return (await active_ruleset(connections.get("default"))).rights


def _position(cursor: str | None) -> tuple[datetime, Position] | None:
    parts = decode_cursor(cursor, 5)
    if parts is None:
        return None
    as_of, overdue, due_at, kind, tiebreak = parts
    try:
        if kind not in KINDS or not isinstance(overdue, bool) or not isinstance(tiebreak, str | int):
            raise ValueError(kind)
        return datetime.fromisoformat(as_of), Position(
            overdue, datetime.fromisoformat(due_at), kind, tiebreak
        )
    except (TypeError, ValueError):
        raise ValidationFailed({"cursor": "Invalid cursor."}) from None


def _order(case: Case, as_of: datetime) -> tuple[Any, ...]:
    return (not case.overdue(as_of), case.due_at, KINDS.index(case.kind), case.tiebreak)


async def case_queue(
    *,
    kind: str | None,
    status: str | None,
    overdue: bool | None,
    assignee: uuid.UUID | None,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> dict[str, Any]:
    """``GET /admin/cases``: one page of the queue."""
    started = _position(cursor)
    as_of, after = started if started is not None else (now, None)
    rules = await _rules()
    groups = [True, False] if overdue is None else [overdue]
    if after is not None:
        groups = [g for g in groups if g == after.overdue or (after.overdue and not g)]
    sources = registry.sources(kind)
    given: dict[str, list[str] | None] = {source.kind: None for source in sources}
    if assignee is not None:  # an assignee's cases: their ids, kind by kind
        for source in sources:
            theirs = CaseAssignment.filter(kind=source.kind, admin_id=assignee)
            given[source.kind] = [str(i) for i in await column_values(theirs, "case_id")]
    shown: list[Case] = []
    for group in groups:
        for source in sources:
            query = PageQuery(
                overdue=group,
                as_of=as_of,
                status=status,
                ids=given[source.kind],
                after=after if after is not None and after.overdue == group else None,
                limit=limit,
                rules=rules,
            )
            shown += await source.page(query)
        if len(shown) > limit:
            break
    shown.sort(key=lambda c: _order(c, as_of))
    more = len(shown) > limit
    shown = shown[:limit]
    next_cursor = None
    if more:
        last = shown[-1]
        next_cursor = encode_cursor(
            as_of.isoformat(), last.overdue(as_of), last.due_at.isoformat(), last.kind, last.tiebreak
        )
    return page(await _shown(shown, as_of), next_cursor)


async def _shown(cases: list[Case], now: datetime) -> list[dict[str, Any]]:
    """The cases as the queue shows them, with their assignees."""
    if not cases:
        return []
    wanted = Q(*(Q(kind=c.kind, case_id=c.id) for c in cases), join_type=Q.OR)
    given = {(a.kind, a.case_id): a for a in await CaseAssignment.filter(wanted)}
    out = []
    for c in cases:
        a = given.get((c.kind, c.id))
        out.append(
            {
                "kind": c.kind,
                "id": c.id,
                "resident_ref": None if c.resident_id is None else str(c.resident_id),
                "opened_at": c.opened_at,
                "due_at": c.due_at,
                "overdue": c.overdue(now),
                "assignee": None if a is None else str(a.admin_id),
                "assigned_at": None if a is None else a.assigned_at,
                "status": c.status,
                "title": c.title,
                "summary": c.summary,
            }
        )
    return out


def _source(kind: str) -> Any:
    found = registry.sources(kind)
    if not found:
        raise CaseNotFound()
    return found[0]


async def assign(
    kind: str,
    case_id: str,
    *,
    admin_id: uuid.UUID,
    by: uuid.UUID,
    is_active_admin: Callable[[uuid.UUID], Awaitable[bool]],
    now: datetime,
) -> dict[str, Any]:
    """``POST /admin/cases/{kind}/{id}/assign``: the case to ``admin_id`` (replacing any assignee); 404 for
    an unknown kind or case, then 422 unless ``is_active_admin`` (the regulators' accounts are the admin
    audience's, which this domain does not import)."""
    source = _source(kind)
    rules = await _rules()
    if await source.find(case_id, rules=rules) is None:
        raise CaseNotFound()
    if not await is_active_admin(admin_id):
        raise ValidationFailed({"admin_id": "no active regulator account has this id"})
    for attempt in (1, 2):
        try:
            async with in_transaction() as conn:
                case = await source.find(case_id, rules=rules, conn=conn)
                if case is None:
                    raise CaseNotFound()
                given = {"admin_id": admin_id, "assigned_at": now, "assigned_by": by}
                updated = (
                    await CaseAssignment.filter(kind=kind, case_id=case.id).using_db(conn).update(**given)
                )
                if not updated:
                    await CaseAssignment.create(kind=kind, case_id=case.id, **given, using_db=conn)
                await source.assigned(conn, case, admin_id=admin_id, by=by, now=now)
            break
        except IntegrityError:
            if attempt == 2:
                raise  # pragma: no cover - a third regulator assigning at the same instant
    return (await _shown([case], now))[0]


async def read_case(kind: str, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """``GET /admin/cases/{kind}/{id}``: the case as the queue shows it and its ``details`` as the
    regulator reads them; the read lands in the resident's access log."""
    source = _source(kind)
    case = await source.find(case_id, rules=await _rules())
    if case is None:
        raise CaseNotFound()
    details = await source.read(case.id, admin_id=admin_id, now=now)
    if details is None:
        raise CaseNotFound()
    return {**(await _shown([case], now))[0], "details": details}


async def counts(*, now: datetime) -> tuple[int, int]:
    """Open and overdue cases of every kind."""
    rules = await _rules()
    opened = overdue = 0
    for source in registry.sources():
        o, late = await source.counts(now=now, rules=rules)
        opened, overdue = opened + o, overdue + late
    return opened, overdue
