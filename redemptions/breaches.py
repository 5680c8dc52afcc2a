"""Breach reports by merchants and the regulator's decisions on them."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.service import record_breach
from merchants.models import Merchant, Staff
from redemptions.audit import record_audit
from redemptions.exceptions import (
    BreachAlreadyDecided,
    BreachExists,
    BreachNotFound,
    RedemptionNotFound,
    RedemptionReversed,
    ResidentUnidentified,
)
from redemptions.models import (
    Breach,
    Redemption,
)
from redemptions.reversal import require_redemption_access
from redemptions.rules import COMPLETED, str_or_none
from redemptions.schemas import BreachDecisionIn, BreachIn
from server.http import page
from server.pagination import keyset_page

log = logging.getLogger(__name__)

# ===========================================================================================
# Breaches
# ===========================================================================================

BREACH_SOURCE = "xinyi-breach"
"""The ``source`` of the credit records that upheld breach reports create (``source_record_id``: the report id)."""
_KIND_TITLES = {"no_show": "预订未到店", "damage": "损坏物品未赔偿", "unpaid": "未付清费用"}


def breach_out(breach: Breach) -> dict[str, Any]:
    return {
        "id": str(breach.id),
        "redemption_id": str_or_none(breach.redemption_id),
        "order_id": str_or_none(breach.order_id),
        "merchant_id": str(breach.merchant_id),
        "store_id": str_or_none(breach.store_id),
        "offer_id": str(breach.offer_id),
        "kind": breach.kind,
        "description": breach.description,
        "amount_fen": breach.amount_fen,
        "status": breach.status,
        "created_at": breach.created_at,
        "decided_at": breach.decided_at,
        "decision_note": breach.decision_note,
        "severity": breach.severity,
    }


async def report_breach(staff: Staff, data: BreachIn, *, now: datetime) -> dict[str, Any]:
    """A merchant reports that the resident of one of its completed redemptions broke the terms.

    The report is ``under_review`` and changes nothing (no record, no score) until a regulator
    decides it. One report per redemption (a unique constraint).
    """
    if data.redemption_id is None:
        raise RedemptionNotFound()
    redemption = await Redemption.get_or_none(id=data.redemption_id, merchant_id=staff.merchant_id)
    if redemption is None:
        raise RedemptionNotFound()
    await require_redemption_access(staff, redemption)
    if redemption.status != COMPLETED:
        raise RedemptionReversed()
    return await _file(
        staff,
        data,
        now=now,
        about={"redemption_id": str(redemption.id)},
        redemption_id=redemption.id,
        merchant_id=redemption.merchant_id,
        store_id=redemption.store_id,
        offer_id=redemption.offer_id,
        resident_id=redemption.resident_id,
    )


async def report_order_breach(
    staff: Staff,
    *,
    order_id: uuid.UUID,
    redemption_id: uuid.UUID | None,
    store_id: uuid.UUID,
    offer_id: uuid.UUID,
    resident_id: uuid.UUID,
    data: BreachIn,
    now: datetime,
) -> dict[str, Any]:
    """An ``unpaid`` report of an overdue deposit-free order (``deposits`` checked the order and the staff member).

    Decided as any other report; one per order (a unique constraint: 409 ``BREACH_EXISTS``).
    """
    return await _file(
        staff,
        data,
        now=now,
        about={"order_id": str(order_id), "redemption_id": str_or_none(redemption_id)},
        exists_message="A breach was already reported for this order.",
        redemption_id=None,
        order_id=order_id,
        merchant_id=staff.merchant_id,
        store_id=store_id,
        offer_id=offer_id,
        resident_id=resident_id,
    )


async def _file(
    staff: Staff,
    data: BreachIn,
    *,
    now: datetime,
    about: dict[str, Any],
    exists_message: str | None = None,
    **subject: Any,
) -> dict[str, Any]:
    """Write the report ``under_review`` and its audit row in one transaction; one per redemption or order."""
    breach_id = uuid.uuid4()
    try:
        async with in_transaction() as tx:
            breach = await Breach.create(
                id=breach_id,
                kind=data.kind,
                description=data.description,
                amount_fen=data.amount_fen,
                status="under_review",
                reported_by_id=staff.id,
                created_at=now,
                using_db=tx,
                **subject,
            )
            await record_audit(
                tx,
                at=now,
                actor_type="staff",
                actor_id=staff.id,
                action="breach.reported",
                target_type="breach",
                target_id=breach_id,
                merchant_id=subject["merchant_id"],
                details={**about, "kind": data.kind, "amount_fen": data.amount_fen},
            )
    except IntegrityError:
        raise (BreachExists(exists_message) if exists_message else BreachExists()) from None
    return breach_out(breach)


async def count_rejected(merchant_id: uuid.UUID, *, since: datetime) -> int:
    """How many of the merchant's breach reports regulators rejected since ``since`` (for its signals)."""
    return await Breach.filter(merchant_id=merchant_id, status="rejected", decided_at__gte=since).count()


async def list_breaches(
    *, merchant_id: uuid.UUID | None, status: str | None, limit: int, cursor: str | None, for_admin: bool
) -> dict[str, Any]:
    """Breach reports newest first: of one merchant, or all (regulators, who also see the resident and the record)."""
    query = Breach.all()
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    if status is not None:
        query = query.filter(status=status)
    shown, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    items = [breach_out(b) for b in shown]
    if for_admin:
        names = dict(await Merchant.filter(id__in={b.merchant_id for b in shown}).values_list("id", "name"))
        for item, breach in zip(items, shown, strict=True):
            item.update(
                resident_id=str(breach.resident_id),
                merchant_name=names.get(breach.merchant_id, ""),
                credit_record_id=breach.credit_record_id,
            )
    return page(items, next_cursor)


async def decide_breach(
    breach_id: uuid.UUID, decision: BreachDecisionIn, *, admin_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """A regulator decides a report once (409 ``BREACH_ALREADY_DECIDED`` after that).

    Upheld: a ``contract_breach`` credit record of the decision's severity is created for the
    resident by the credit engine (``credit.service.record_breach``), which rescores them, in the
    same transaction.
    Rejected: nothing but the report changes.
    """
    async with in_transaction() as tx:
        decided = (
            await Breach.filter(id=breach_id, status="under_review")
            .using_db(tx)
            .update(
                status=decision.outcome,
                decided_at=now,
                decided_by_id=admin_id,
                decision_note=decision.note,
                severity=decision.severity if decision.outcome == "upheld" else None,
            )
        )
        breach = await Breach.get_or_none(id=breach_id, using_db=tx)
        if breach is None:
            raise BreachNotFound()
        if not decided:
            raise BreachAlreadyDecided(status=breach.status)
        record_id = None
        if decision.outcome == "upheld":
            merchant = await Merchant.get_or_none(id=breach.merchant_id, using_db=tx)
            title = f"合同违约：{_KIND_TITLES[breach.kind]}（{merchant.name if merchant else '商户'}）"
            record_id = await record_breach(
                tx,
                resident_id=breach.resident_id,
                source=BREACH_SOURCE,
                source_record_id=str(breach.id),
                severity=decision.severity,
                title=title,
                now=now,
            )
            if record_id is None:
                raise ResidentUnidentified()
            await Breach.filter(id=breach.id).using_db(tx).update(credit_record_id=record_id)
            breach.credit_record_id = record_id
        await record_audit(
            tx,
            at=now,
            actor_type="admin",
            actor_id=admin_id,
            action=f"breach.{decision.outcome}",
            target_type="breach",
            target_id=breach.id,
            merchant_id=breach.merchant_id,
            details={"note": decision.note, "severity": breach.severity, "credit_record_id": record_id},
        )
    return {**breach_out(breach), "credit_record_id": breach.credit_record_id}
