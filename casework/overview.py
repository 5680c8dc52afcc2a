"""``GET /admin/overview``: the regulator's cards, counts only, each one ``COUNT`` or ``COUNT … GROUP BY``.

residents: accounts not erased; consented: of those, the ones whose consent is to the current terms
(``residents.service.is_consented``); identity_bound: the ones with a bound identity; tiers: current
scores by tier (``credit_scores``, one row per scored subject); records_by_category: credit records
whose status may count (``credit.scoring.COUNTING_STATUSES``); cases_open / cases_overdue: the case
queue's (``casework.queue.counts``); offers_pending: offers waiting for a regulator's approval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.functions import Count

from casework import queue
from coupons.models import Offer
from credit.models import CreditRecord, CreditScore
from credit.scoring import COUNTING_STATUSES
from residents.consent import CURRENT_TERMS
from residents.models import Resident

PENDING_APPROVAL = "pending_approval"


async def _grouped(query: Any, column: str) -> dict[str, int]:
    rows = await query.annotate(n=Count("id")).group_by(column).values_list(column, "n")
    return {str(key): int(n) for key, n in sorted(rows)}


async def overview(*, now: datetime) -> dict[str, Any]:
    living = Resident.filter(erased_at__isnull=True)
    cases_open, cases_overdue = await queue.counts(now=now)
    return {
        "residents": await living.count(),
        "consented": await living.filter(consent_version=CURRENT_TERMS["version"]).count(),
        "identity_bound": await living.filter(id_number_hash__isnull=False).count(),
        "tiers": await _grouped(CreditScore.all(), "tier"),
        "records_by_category": await _grouped(CreditRecord.filter(status__in=COUNTING_STATUSES), "category"),
        "cases_open": cases_open,
        "cases_overdue": cases_overdue,
        "offers_pending": await Offer.filter(status=PENDING_APPROVAL).count(),
    }
