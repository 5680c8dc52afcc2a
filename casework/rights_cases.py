"""The subject's rights as cases of the queue: objections, repairs, self-reports and list notices.

``due_at``: an objection's own (set at opening from ``rights.objection_due_days``); a repair's and a
self-report's opening plus the active ruleset's ``rights.repair_due_days`` / ``self_report_due_days``;
a list notice's (an entry still ``notified``) the end of its objection window (``objection_until``,
``rights.objection_window_days`` at identification): overdue, the window passed and the daily
``advance-lists`` has not moved it yet. Reading one is logged as the rights routes log it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Subquery

from casework.sources import Case, ModelSource, as_uuid
from credit.models import CreditRecord, Subject
from credit.scoring import RightsRule
from rights import events, lists, objections, repairs, self_reports
from rights.models import ListEntry, Objection, Repair, SelfReport
from server.dbtypes import DbConn

_SELF_REPORT_LABELS = {
    "volunteering": "志愿服务",
    "donation": "慈善捐赠",
    "blood_donation": "无偿献血",
    "award": "表彰奖励",
    "rescue": "见义勇为",
    "other": "其他",
}
_LIST_LABELS = {"red": "守信红名单", "black": "失信黑名单"}


class _RightsCaseSource(ModelSource):
    """A case the rights domain keeps events of: its assignment is one more step of its history."""

    case_kind: str

    async def assigned(
        self, conn: DbConn, case: Case, *, admin_id: uuid.UUID, by: uuid.UUID, now: datetime
    ) -> None:
        await events.record_event(
            conn,
            case_kind=self.case_kind,
            case_id=uuid.UUID(case.id),
            from_state=case.status,
            to_state=case.status,
            actor=events.admin(by),
            reason=f"assigned to admin:{admin_id}",
            at=now,
        )


class Objections(_RightsCaseSource):
    kind = "objection"
    case_kind = events.OBJECTION
    model = Objection
    open_statuses = (objections.OPEN,)
    due_column = "due_at"

    async def cases(self, rows: list[Any], rules: RightsRule) -> list[Case]:
        return [
            Case(
                kind=self.kind,
                id=str(o.id),
                resident_id=o.resident_id,
                opened_at=o.created_at,
                due_at=o.due_at,
                status=o.status,
                is_open=o.status in self.open_statuses,
                title="信用记录异议" if o.target == "record" else "信用评分人工复核",
                summary=None if o.record_id is None else f"记录 {o.record_id}",
                tiebreak=str(o.id),
            )
            for o in rows
        ]

    async def read(self, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any] | None:
        found = as_uuid(case_id)
        if found is None:
            return None
        return await objections.for_a_regulator(found, admin_id=admin_id, now=now)


class _ReviewedCases(_RightsCaseSource):
    """A request under review, due the ruleset's days after it was made (repairs, self-reports)."""

    due_column = "created_at"
    regulator_view: Any  # the rights module whose ``for_a_regulator`` reads (and logs) one case

    def title(self, row: Any) -> str:
        raise NotImplementedError

    def summary(self, row: Any) -> str | None:
        return None

    async def cases(self, rows: list[Any], rules: RightsRule) -> list[Case]:
        days = timedelta(days=self.due_days(rules))
        return [
            Case(
                kind=self.kind,
                id=str(r.id),
                resident_id=r.resident_id,
                opened_at=r.created_at,
                due_at=r.created_at + days,
                status=r.status,
                is_open=r.status in self.open_statuses,
                title=self.title(r),
                summary=self.summary(r),
                tiebreak=str(r.id),
            )
            for r in rows
        ]

    async def read(self, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any] | None:
        found = as_uuid(case_id)
        if found is None:
            return None
        return await self.regulator_view.for_a_regulator(found, admin_id=admin_id, now=now)


class Repairs(_ReviewedCases):
    kind = "repair"
    case_kind = events.REPAIR
    model = Repair
    open_statuses = (repairs.UNDER_REVIEW,)
    regulator_view = repairs

    def due_days(self, rules: RightsRule) -> int:
        return rules.repair_due_days

    def title(self, row: Any) -> str:
        return "信用修复申请"

    def summary(self, row: Any) -> str | None:
        return f"记录 {row.record_id}"


class SelfReports(_ReviewedCases):
    kind = "self_report"
    case_kind = events.SELF_REPORT
    model = SelfReport
    open_statuses = (self_reports.UNDER_REVIEW,)
    regulator_view = self_reports

    def due_days(self, rules: RightsRule) -> int:
        return rules.self_report_due_days

    def title(self, row: Any) -> str:
        return f"自主申报：{_SELF_REPORT_LABELS.get(row.category, row.category)}"


class ListNotices(ModelSource):
    """List entries still ``notified``: read from their credit records, which carry ``objection_until``."""

    kind = "list_notice"
    model = CreditRecord
    open_statuses = (lists.NOTIFIED,)
    due_column = "objection_until"
    tiebreak = ("id", int)

    def rows(self) -> Any:
        return CreditRecord.filter(
            id__in=Subquery(ListEntry.filter(state=lists.NOTIFIED).values("record_id"))
        )

    def only(self, query: Any, ids: list[str]) -> Any:
        entries = [u for u in map(as_uuid, ids) if u is not None]
        return query.filter(id__in=Subquery(ListEntry.filter(id__in=entries).values("record_id")))

    async def cases(self, rows: list[Any], rules: RightsRule) -> list[Case]:
        if not rows:
            return []
        entries = {e.record_id: e for e in await ListEntry.filter(record_id__in=[r.id for r in rows])}
        residents = dict(
            await Subject.filter(id__in={r.subject_id for r in rows}).values_list("id", "resident_id")
        )
        found = []
        for r in rows:
            entry = entries.get(r.id)
            if entry is None or r.objection_until is None:
                continue
            found.append(
                Case(
                    kind=self.kind,
                    id=str(entry.id),
                    resident_id=residents.get(r.subject_id),
                    opened_at=entry.created_at,
                    due_at=r.objection_until,
                    status=entry.state,
                    is_open=entry.state in self.open_statuses,
                    title=f"拟列入{_LIST_LABELS.get(entry.kind, entry.kind)}告知",
                    summary=entry.list_category,
                    tiebreak=r.id,
                )
            )
        return found

    async def read(self, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any] | None:
        found = as_uuid(case_id)
        if found is None:
            return None
        return await lists.entry_view(found, admin_id=admin_id, now=now)


SOURCES = (Objections(), Repairs(), SelfReports(), ListNotices())
