"""What the case queue asks of each kind of case: the source protocol, and a base for kinds kept in one table.

The queue (``casework.queue``) lists every kind's cases in one order: overdue first (open and past
``due_at``), then by ``due_at``, then by kind (``KINDS``' order), then by the kind's own tie-breaker.
It pages with a keyset cursor, so each source is asked for one group at a time (overdue or not)
and answers at most ``limit + 1`` cases after the cursor's position in that order, already sorted:
the queue merges them. A kind's source lives in its own module, listed in ``casework.registry``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tortoise.expressions import Q
from tortoise.models import Model

from credit.scoring import RightsRule
from server.dbtypes import DbConn

KINDS = ("objection", "repair", "self_report", "breach", "list_notice", "charge_dispute")
"""Every kind of case the queue knows, in the queue's order among cases due at the same instant."""

OPEN = "open"
"""``?status=open`` (and no ``status``: the queue is open work): whatever the kind calls its open statuses
(an objection ``open``, a repair ``under_review`` …)."""
ALL = "all"
"""``?status=all``: open and decided cases alike."""


@dataclass(frozen=True, slots=True)
class Case:
    """One case as the queue shows it. ``resident_id``: whose case (None: not a resident, e.g. an unbound
    list entry); ``tiebreak``: the kind's own unique sort value after ``due_at`` (a str or an int)."""

    kind: str
    id: str
    resident_id: uuid.UUID | None
    opened_at: datetime
    due_at: datetime
    status: str
    is_open: bool
    title: str
    summary: str | None
    tiebreak: Any

    def overdue(self, now: datetime) -> bool:
        return self.is_open and self.due_at < now


@dataclass(frozen=True, slots=True)
class Position:
    """The last case of the page before, in the queue's order (``overdue`` is its group)."""

    overdue: bool
    due_at: datetime
    kind: str
    tiebreak: Any

    def kind_order(self, kind: str) -> int:
        """-1, 0 or 1: ``kind`` sorts before, with, or after the position's kind among cases due together."""
        mine, theirs = KINDS.index(kind), KINDS.index(self.kind)
        return (mine > theirs) - (mine < theirs)


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One group of one kind's page: ``overdue`` True lists open cases past due as of ``as_of``, False the
    others; ``status`` (None or ``open``: the kind's open statuses; ``all``: any); ``ids``: only these
    cases (an assignee's);
    ``after``: the cursor's position, in this group, or None."""

    overdue: bool
    as_of: datetime
    status: str | None
    ids: list[str] | None
    after: Position | None
    limit: int
    rules: RightsRule


class CaseSource(Protocol):
    """A kind of case. ``casework.registry`` lists one per kind; a kind with no source has an empty queue."""

    kind: str

    async def page(self, query: PageQuery) -> list[Case]:
        """At most ``query.limit + 1`` cases of the query's group after ``query.after``, in the queue's order."""
        ...

    async def counts(self, *, now: datetime, rules: RightsRule) -> tuple[int, int]:
        """How many cases are open, and how many of those are overdue (cheap ``COUNT`` queries)."""
        ...

    async def find(self, case_id: str, *, rules: RightsRule, conn: DbConn | None = None) -> Case | None:
        """The case of this id, or None (an id that is not even well-formed included)."""
        ...

    async def read(self, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any] | None:
        """The case's details as the regulator reads them, the read logged to the resident's access log
        (``rights.events.regulator_read``); None for no such case."""
        ...

    async def assigned(
        self, conn: DbConn, case: Case, *, admin_id: uuid.UUID, by: uuid.UUID, now: datetime
    ) -> None:
        """The case was given to ``admin_id`` (in ``conn``'s transaction): a step in its history, if it keeps one."""
        ...


def _q(conditions: dict[str, Any]) -> Q:
    """A condition on columns named at run time."""
    return Q(**conditions)


def as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


class ModelSource:
    """A kind whose cases are the rows of one model, ``due_at`` being a column plus the ruleset's days.

    Because ``due_at = <due_column> + due_days``, ordering and cutting by the column is ordering and
    cutting by ``due_at``: each group is one indexed range query. Subclasses say which model, which
    statuses are open, how a row reads as a ``Case`` and how the regulator reads one.
    """

    kind: str
    model: type[Model]
    open_statuses: tuple[str, ...]
    due_column: str
    status_column: str = "status"
    tiebreak: tuple[str, type] = ("id", uuid.UUID)

    def due_days(self, rules: RightsRule) -> int:
        """Days from ``due_column`` to ``due_at`` (0: the column is the due date)."""
        return 0

    def rows(self) -> Any:
        """The kind's rows (a queryset)."""
        return self.model.all()

    def only(self, query: Any, ids: list[str]) -> Any:
        """The rows of these case ids."""
        return query.filter(id__in=[u for u in map(as_uuid, ids) if u is not None])

    async def cases(self, rows: list[Any], rules: RightsRule) -> list[Case]:
        raise NotImplementedError

    def _open(self) -> dict[str, Any]:
        return {f"{self.status_column}__in": self.open_statuses}

    def _late(self, as_of: datetime, rules: RightsRule) -> Any:
        cut = as_of - timedelta(days=self.due_days(rules))
        return _q({**self._open(), f"{self.due_column}__lt": cut})

    async def page(self, query: PageQuery) -> list[Case]:
        rows = self.rows()
        open_only = query.status in (None, OPEN)
        if open_only:
            rows = rows.filter(**self._open())
        elif query.status is not None and query.status != ALL:
            longest = getattr(self.model._meta.fields_map[self.status_column], "max_length", None)
            if longest is not None and len(query.status) > longest:
                return []  # no status of this kind is that long (and the ORM refuses to compare)
            rows = rows.filter(**{self.status_column: query.status})
        if query.ids is not None:
            rows = self.only(rows, query.ids)
        cut = query.as_of - timedelta(days=self.due_days(query.rules))
        if query.overdue:
            rows = rows.filter(self._late(query.as_of, query.rules))
        elif open_only:  # one range of the (status, due) index
            rows = rows.filter(**{f"{self.due_column}__gte": cut})
        else:
            rows = rows.filter(
                _q({f"{self.status_column}__not_in": self.open_statuses})
                | _q({f"{self.due_column}__gte": cut})
            )
        if query.after is not None:
            rows = rows.filter(self._after(query.after, query.rules))
        column, _ = self.tiebreak
        found = await rows.order_by(self.due_column, column).limit(query.limit + 1)
        return await self.cases(list(found), query.rules)

    def _after(self, after: Position, rules: RightsRule) -> Q:
        value = after.due_at - timedelta(days=self.due_days(rules))
        due = self.due_column
        order = after.kind_order(self.kind)
        if order > 0:
            return _q({f"{due}__gte": value})
        if order < 0:
            return _q({f"{due}__gt": value})
        column, kind = self.tiebreak
        try:
            tied = kind(after.tiebreak)
        except (TypeError, ValueError):
            tied = None
        if tied is None:
            return _q({f"{due}__gt": value})
        return _q({f"{due}__gt": value}) | _q({due: value, f"{column}__gt": tied})

    async def counts(self, *, now: datetime, rules: RightsRule) -> tuple[int, int]:
        opened = await self.rows().filter(**self._open()).count()
        overdue = await self.rows().filter(self._late(now, rules)).count()
        return opened, overdue

    async def find(self, case_id: str, *, rules: RightsRule, conn: DbConn | None = None) -> Case | None:
        rows = await self.only(self.rows(), [case_id]).using_db(conn).limit(1)
        found = await self.cases(list(rows), rules)
        return found[0] if found else None

    async def read(self, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any] | None:
        raise NotImplementedError

    async def assigned(
        self, conn: DbConn, case: Case, *, admin_id: uuid.UUID, by: uuid.UUID, now: datetime
    ) -> None:
        return None
