"""The ledger's views: the merchant's redemptions and statistics, the resident's history."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from tortoise.functions import Count, Sum

from coupons.models import Offer
from credit.scoring import LOCAL_TZ
from merchants.models import Merchant, Staff
from redemptions.models import (
    Redemption,
)
from redemptions.rules import COMPLETED, render_redemption, str_or_none
from server.errors import ValidationFailed
from server.http import page
from server.pagination import keyset_page
from server.sql import as_uuid

log = logging.getLogger(__name__)

# ===========================================================================================
# Views: the merchant's ledger and statistics, the resident's history
# ===========================================================================================


def window(
    from_: datetime | date | None, to: datetime | date | None
) -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` as instants: a day means its China Standard Time midnight, ``to`` a day includes that day."""
    start = (
        datetime.combine(from_, time(), LOCAL_TZ)
        if isinstance(from_, date) and not isinstance(from_, datetime)
        else from_
    )
    end = to
    if isinstance(to, date) and not isinstance(to, datetime):
        end = datetime.combine(to + timedelta(days=1), time(), LOCAL_TZ)
    if start is not None and end is not None and start >= end:
        raise ValidationFailed({"to": "must be after from"})
    return start, end  # type: ignore[return-value]


async def _merchant_query(
    staff: Staff, *, store_id: uuid.UUID | None, start: datetime | None, end: datetime | None
) -> Any:
    from merchants.service import visible_store_ids

    query = Redemption.filter(merchant_id=staff.merchant_id)
    store_ids = await visible_store_ids(staff, store_id)
    if store_ids is not None:
        query = query.filter(store_id__in=store_ids)
    if start is not None:
        query = query.filter(created_at__gte=start)
    if end is not None:
        query = query.filter(created_at__lt=end)
    return query


async def list_redemptions(
    staff: Staff,
    pseudonyms: Any,
    *,
    store_id: uuid.UUID | None,
    from_: datetime | date | None,
    to: datetime | date | None,
    status: str | None,
    offer_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The merchant's redemptions, newest first: all for the owner, the stores of the others; residents as pseudonyms."""
    start, end = window(from_, to)
    query = await _merchant_query(staff, store_id=store_id, start=start, end=end)
    if status is not None:
        query = query.filter(status=status)
    if offer_id is not None:
        query = query.filter(offer_id=offer_id)
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    items = [
        {
            **render_redemption(
                id=r.id,
                offer_id=r.offer_id,
                discount_fen=r.discount_fen,
                deposit_waived_fen=r.deposit_waived_fen,
                order_amount_fen=r.order_amount_fen,
                coupon_id=r.coupon_id,
                store_id=r.store_id,
                status=r.status,
                created_at=r.created_at,
            ),
            "channel": r.channel,
            "type": r.offer_type,
            "staff_id": str_or_none(r.staff_id),
            "scan_id": str_or_none(r.scan_id),
            "resident_ref": pseudonyms.resident_ref(party_id=r.merchant_id, resident_id=r.resident_id),
            "tier": r.tier,
            "reversed_at": r.reversed_at,
            "reversal_reason": r.reversal_reason,
        }
        for r in rows
    ]
    return page(items, next_cursor)


STATS_DEFAULT_DAYS = 30
STATS_MAX_DAYS = 366


async def redemption_stats(
    staff: Staff,
    *,
    store_id: uuid.UUID | None,
    from_: datetime | date | None,
    to: datetime | date | None,
    now: datetime,
) -> dict[str, Any]:
    """Counts and money totals of the merchant's redemptions, by offer and by China Standard Time day.

    ``redemptions``, ``discount_fen`` and ``deposit_waived_fen`` count completed redemptions;
    ``reversed`` counts the reversed ones (their money is not in the totals). Default window:
    the last 30 days; at most 366 days.
    """
    start, end = window(from_, to)
    end = end or now
    start = start or end - timedelta(days=STATS_DEFAULT_DAYS)
    if end - start > timedelta(days=STATS_MAX_DAYS):
        raise ValidationFailed({"from": f"the window is at most {STATS_MAX_DAYS} days"})
    query = await _merchant_query(staff, store_id=store_id, start=start, end=end)
    rows = await (
        query.annotate(n=Count("id"), discount=Sum("discount_fen"), waived=Sum("deposit_waived_fen"))
        .group_by("offer_id", "business_day", "status")
        .values("offer_id", "business_day", "status", "n", "discount", "waived")
    )

    def empty() -> dict[str, int]:
        return {"redemptions": 0, "reversed": 0, "discount_fen": 0, "deposit_waived_fen": 0}

    def add(bucket: dict[str, int], row: dict[str, Any]) -> None:
        if row["status"] == COMPLETED:
            bucket["redemptions"] += row["n"]
            bucket["discount_fen"] += int(row["discount"] or 0)
            bucket["deposit_waived_fen"] += int(row["waived"] or 0)
        else:
            bucket["reversed"] += row["n"]

    totals = empty()
    by_offer: dict[uuid.UUID, dict[str, int]] = defaultdict(empty)
    by_day: dict[date, dict[str, int]] = defaultdict(empty)
    for row in rows:
        day = row["business_day"]
        day = date.fromisoformat(day) if isinstance(day, str) else day
        add(totals, row)
        add(by_offer[as_uuid(row["offer_id"])], row)
        add(by_day[day], row)
    offers = {o.id: o for o in await Offer.filter(id__in=list(by_offer))}
    return {
        "from": start,
        "to": end,
        "totals": totals,
        "by_offer": [
            {
                "offer_id": str(offer_id),
                "label": offers[offer_id].label if offer_id in offers else "",
                "type": offers[offer_id].type if offer_id in offers else "",
                **figures,
            }
            for offer_id, figures in sorted(
                by_offer.items(), key=lambda kv: (-kv[1]["redemptions"], str(kv[0]))
            )
        ],
        "by_day": [{"day": day, **figures} for day, figures in sorted(by_day.items())],
    }


STATS_CSV_HEADER = (
    "分组",
    "日期",
    "优惠编号",
    "优惠",
    "类型",
    "核销笔数",
    "撤销笔数",
    "优惠金额(分)",
    "免押金额(分)",
)


def redemption_stats_csv(stats: dict[str, Any]) -> tuple[tuple[str, ...], list[list[Any]]]:
    """``redemption_stats`` as a table: one row per offer (分组 按优惠), one per day (按日), then the total (合计)."""

    def figures(bucket: dict[str, Any]) -> list[Any]:
        return [
            bucket["redemptions"],
            bucket["reversed"],
            bucket["discount_fen"],
            bucket["deposit_waived_fen"],
        ]

    rows: list[list[Any]] = [
        ["按优惠", None, o["offer_id"], o["label"], o["type"], *figures(o)] for o in stats["by_offer"]
    ]
    rows += [["按日", d["day"].isoformat(), None, None, None, *figures(d)] for d in stats["by_day"]]
    rows.append(["合计", None, None, None, None, *figures(stats["totals"])])
    return STATS_CSV_HEADER, rows


async def resident_redemptions(resident_id: uuid.UUID, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """``GET /mp/redemptions``: the resident's benefits, newest first, with the merchant and the offer's label."""
    shown, next_cursor = await keyset_page(
        Redemption.filter(resident_id=resident_id), limit=limit, cursor=cursor
    )
    offers = {o.id: o for o in await Offer.filter(id__in={r.offer_id for r in shown})}
    names = dict(await Merchant.filter(id__in={r.merchant_id for r in shown}).values_list("id", "name"))
    items = [
        {
            "id": str(r.id),
            "offer_id": str(r.offer_id),
            "merchant": {"id": str(r.merchant_id), "name": names.get(r.merchant_id, "")},
            "type": r.offer_type,
            "label": offers[r.offer_id].label if r.offer_id in offers else "",
            "discount_fen": r.discount_fen,
            "deposit_waived_fen": r.deposit_waived_fen,
            "order_amount_fen": r.order_amount_fen,
            "status": r.status,
            "created_at": r.created_at,
            "reversed_at": r.reversed_at,
        }
        for r in shown
    ]
    return page(items, next_cursor)
