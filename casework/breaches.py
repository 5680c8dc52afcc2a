"""Merchants' breach reports (``redemptions.breaches``) as cases of the queue.

``due_at``: the report's arrival plus the active ruleset's ``rights.breach_due_days``; open while
``under_review``. A regulator reading one through the queue is logged in the resident's access log
(``rights.events.regulator_read``, case kind ``breach``), as reads of the rights cases are.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from casework.sources import Case, ModelSource, as_uuid
from credit.scoring import RightsRule
from merchants.models import Merchant
from redemptions.breaches import breach_out
from redemptions.models import Breach
from rights import events

BREACH = "breach"
_KIND_LABELS = {"no_show": "预订未到店", "damage": "损坏物品未赔偿", "unpaid": "未付清费用"}


class Breaches(ModelSource):
    kind = BREACH
    model = Breach
    open_statuses = ("under_review",)
    due_column = "created_at"

    def due_days(self, rules: RightsRule) -> int:
        return rules.breach_due_days

    async def cases(self, rows: list[Any], rules: RightsRule) -> list[Case]:
        days = timedelta(days=self.due_days(rules))
        return [
            Case(
                kind=self.kind,
                id=str(b.id),
                resident_id=b.resident_id,
                opened_at=b.created_at,
                due_at=b.created_at + days,
                status=b.status,
                is_open=b.status in self.open_statuses,
                title=f"违约举报：{_KIND_LABELS.get(b.kind, b.kind)}",
                summary=None if b.amount_fen is None else f"涉及金额 {b.amount_fen / 100:.2f} 元",
                tiebreak=str(b.id),
            )
            for b in rows
        ]

    async def read(self, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any] | None:
        found = as_uuid(case_id)
        breach = None if found is None else await Breach.get_or_none(id=found)
        if breach is None:
            return None
        await events.regulator_read(
            resident_id=breach.resident_id, admin_id=admin_id, case_kind=BREACH, case_id=breach.id, at=now
        )
        merchant = await Merchant.get_or_none(id=breach.merchant_id)
        return {
            **breach_out(breach),
            "resident_id": str(breach.resident_id),
            "merchant_name": merchant.name if merchant else "",
            "credit_record_id": breach.credit_record_id,
        }


SOURCES = (Breaches(),)
