"""Who read my data: partners' reads and verifications, merchants' scans of my pass, regulators' reads of my cases.

Partner accesses are recorded here (``PartnerAccess``) when a partner reads a resident's tier,
verifies a pass that identifies the resident, or redeems online for the resident. Merchant scans
are not copied: the scan log (``passes.models.Scan``, every scan with the resident it identified)
is read as it is, and so are regulators' reads of a case (``rights.models.RegulatorRead``); the three
are merged, newest first, behind one cursor.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from merchants.models import Merchant, Store
from partners.models import Partner, PartnerAccess
from passes.models import Scan
from rights.models import RegulatorRead
from server.dbtypes import DbConn
from server.errors import ValidationFailed
from server.http import decode_cursor, encode_cursor, page

TIER_READ = "tier_read"
PASS_VERIFY = "pass_verify"
ONLINE_REDEMPTION = "online_redemption"
PASS_SCAN = "pass_scan"
CASE_READ = "case_read"
CREDIT_REPORT = "credit_report"
COMMITMENT = "commitment"
THIRD_PARTY_SCORE = "third_party_score"
REGULATOR_NAME = "信用监管部门"

PURPOSE_LABELS = {
    TIER_READ: "查询信用等级",
    PASS_VERIFY: "核验信用码",
    ONLINE_REDEMPTION: "线上核销优惠",
    PASS_SCAN: "商户扫码",
    CASE_READ: "查阅信用案件",
    CREDIT_REPORT: "出具信用报告",
    COMMITMENT: "信用承诺受理",
    THIRD_PARTY_SCORE: "报送第三方信用评分",
}

# Order of the sources among entries of the same instant (part of the cursor).
_REGULATOR, _PARTNER, _MERCHANT = 2, 1, 0


async def record(
    *,
    partner_id: uuid.UUID,
    resident_id: uuid.UUID,
    purpose: str,
    at: datetime,
    using_db: DbConn | None = None,
) -> None:
    """Log one partner access to a resident's data."""
    await PartnerAccess.create(
        partner_id=partner_id, resident_id=resident_id, purpose=purpose, at=at, using_db=using_db
    )


def _after(query: Any, column: str, rank: int, cursor: tuple[datetime, int, str] | None) -> Any:
    """Rows of one source that come after the cursor in (at, source, id) descending order."""
    if cursor is None:
        return query
    at, cursor_rank, last_id = cursor
    if rank > cursor_rank:
        return query.filter(**{f"{column}__lt": at})
    if rank < cursor_rank:
        return query.filter(**{f"{column}__lte": at})
    before: dict[str, Any] = {f"{column}__lt": at}
    same_at: dict[str, Any] = {column: at, "id__lt": last_id}
    return query.filter(Q(**before) | Q(**same_at))


def _cursor(raw: str | None) -> tuple[datetime, int, str] | None:
    parts = decode_cursor(raw, 3)
    if parts is None:
        return None
    try:
        return datetime.fromisoformat(parts[0]), int(parts[1]), str(uuid.UUID(parts[2]))
    except (TypeError, ValueError):
        raise ValidationFailed({"cursor": "Invalid cursor."}) from None


async def resident_access_log(resident_id: uuid.UUID, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """``GET /mp/access-log``: partner accesses and merchant scans of this resident, newest first."""
    after = _cursor(cursor)
    accesses = (
        await _after(PartnerAccess.filter(resident_id=resident_id), "at", _PARTNER, after)
        .order_by("-at", "-id")
        .limit(limit + 1)
    )
    scans = (
        await _after(Scan.filter(resident_id=resident_id), "created_at", _MERCHANT, after)
        .order_by("-created_at", "-id")
        .limit(limit + 1)
    )
    reads = (
        await _after(RegulatorRead.filter(resident_id=resident_id), "at", _REGULATOR, after)
        .order_by("-at", "-id")
        .limit(limit + 1)
    )
    entries: list[tuple[datetime, int, str, Any]] = [(a.at, _PARTNER, str(a.id), a) for a in accesses]
    entries += [(s.created_at, _MERCHANT, str(s.id), s) for s in scans]
    entries += [(r.at, _REGULATOR, str(r.id), r) for r in reads]
    entries.sort(key=lambda e: (e[0], e[1], e[2]), reverse=True)
    shown = entries[:limit]

    partner_names = dict(
        await Partner.filter(
            id__in={a.partner_id for _, rank, _, a in shown if rank == _PARTNER}
        ).values_list("id", "name")
    )
    scans_shown = [s for _, rank, _, s in shown if rank == _MERCHANT]
    merchant_names = dict(
        await Merchant.filter(id__in={s.merchant_id for s in scans_shown}).values_list("id", "name")
    )
    store_names = dict(await Store.filter(id__in={s.store_id for s in scans_shown}).values_list("id", "name"))

    items = []
    for at, rank, _, row in shown:
        if rank == _REGULATOR:
            items.append(
                {
                    "at": at,
                    "actor_type": "regulator",
                    "actor_name": REGULATOR_NAME,
                    "purpose": row.purpose,
                    "purpose_label": PURPOSE_LABELS.get(row.purpose, row.purpose),
                    "case_kind": row.case_kind,
                }
            )
        elif rank == _PARTNER:
            items.append(
                {
                    "at": at,
                    "actor_type": "partner",
                    "actor_name": partner_names.get(row.partner_id, ""),
                    "purpose": row.purpose,
                    "purpose_label": PURPOSE_LABELS.get(row.purpose, row.purpose),
                }
            )
        else:
            items.append(
                {
                    "at": at,
                    "actor_type": "merchant",
                    "actor_name": merchant_names.get(row.merchant_id, ""),
                    "purpose": PASS_SCAN,
                    "purpose_label": PURPOSE_LABELS[PASS_SCAN],
                    "store_name": store_names.get(row.store_id),
                    "outcome": row.outcome,
                }
            )
    next_cursor = None
    if len(entries) > limit:
        last = shown[-1]
        next_cursor = encode_cursor(last[0].isoformat(), last[1], last[2])
    return page(items, next_cursor)
