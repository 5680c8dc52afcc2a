"""Residents' disputes of deposit-free order charges (``deposits``) as cases of the queue.

``due_at``: the dispute's arrival plus the active ruleset's ``rights.charge_dispute_due_days``; open
while ``open``. A regulator reading one through the queue is logged in the resident's access log
(``rights.events.regulator_read``, case kind ``charge_dispute``). The decision is
``POST /admin/charge-disputes/{id}/decision``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from casework.sources import Case, ModelSource, as_uuid
from credit.scoring import RightsRule
from deposits.models import ChargeDispute
from deposits.service import CHARGE_DISPUTE, admin_dispute_out
from rights import events


class ChargeDisputes(ModelSource):
    kind = CHARGE_DISPUTE
    model = ChargeDispute
    open_statuses = ("open",)
    due_column = "created_at"

    def due_days(self, rules: RightsRule) -> int:
        return rules.charge_dispute_due_days

    async def cases(self, rows: list[Any], rules: RightsRule) -> list[Case]:
        days = timedelta(days=self.due_days(rules))
        return [
            Case(
                kind=self.kind,
                id=str(d.id),
                resident_id=d.resident_id,
                opened_at=d.created_at,
                due_at=d.created_at + days,
                status=d.status,
                is_open=d.status in self.open_statuses,
                title="免押订单费用异议",
                summary=f"争议金额 {d.amount_due_before_fen / 100:.2f} 元",
                tiebreak=str(d.id),
            )
            for d in rows
        ]

    async def read(self, case_id: str, *, admin_id: uuid.UUID, now: datetime) -> dict[str, Any] | None:
        found = as_uuid(case_id)
        dispute = None if found is None else await ChargeDispute.get_or_none(id=found)
        if dispute is None:
            return None
        await events.regulator_read(
            resident_id=dispute.resident_id,
            admin_id=admin_id,
            case_kind=CHARGE_DISPUTE,
            case_id=dispute.id,
            at=now,
        )
        return await admin_dispute_out(dispute)


SOURCES = (ChargeDisputes(),)
