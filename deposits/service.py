"""Deposit-free orders: opened from a scan, completed with charges or none, settled; the breach ladder.

How an order relates to the ledger: the deposit waiver is a ledger redemption (``redemptions``,
type ``deposit_waiver``) taken when the order opens, through the same one-statement redemption as
any other, so the offer's stock, the per-resident limit, the live tier and a suspension of
deposit-free benefits are checked exactly as at a cashier's desk, and the waiver shows in the
merchant's ledger and the statistics. Cancelling an open order reverses that redemption (the
unit and the limit come back). Completion, charges and payment are the order's own business.

The ladder (``advance``, daily: ``xinyi advance-orders`` or ``POST /admin/deposit-free-orders/advance``):
charges unpaid at ``settle_by`` (completion + ``DEPOSIT_FREE_SETTLE_DAYS``) make the order
``overdue`` and the resident gets a notice; ``DEPOSIT_FREE_SUSPEND_AFTER_DAYS`` after ``settle_by``
the resident's deposit-free benefits are suspended everywhere (``coupons.suspensions``: the scan
lists no deposit waiver, a redemption of one is 403 ``DEPOSIT_FREE_SUSPENDED``; other benefits
stay), and the merchant may report an ``unpaid`` breach that a regulator decides. Settling lifts
the order's suspension in the same transaction. An order whose charges are under dispute does not
move on the ladder until the regulator decides.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from coupons.exceptions import OfferNotFound
from coupons.models import Offer
from coupons.service import live_tier
from coupons.suspensions import DEPOSIT_WAIVER, DepositFreeSuspended, is_suspended, lift, suspend
from credit.scores import active_ruleset
from deposits.exceptions import (
    DepositFreeBlocked,
    DisputeAlreadyDecided,
    DisputeNotFound,
    DisputeOpen,
    OrderNotDisputable,
    OrderNotFound,
    OrderNotOpen,
    OrderNotOverdue,
    OrderNotPayable,
)
from deposits.models import (
    AWAITING_PAYMENT,
    CANCELLED,
    COMPLETED_NO_CHARGE,
    OPEN,
    OVERDUE,
    SETTLED,
    ChargeDispute,
    DepositFreeCharge,
    DepositFreeOrder,
)
from deposits.schemas import CompleteIn, DisputeDecisionIn, OrderIn
from merchants.models import Merchant, Staff
from merchants.service import require_store, visible_store_ids
from notices.service import CASE_DECISION, notify
from passes.service import load_valid_scan
from passes.subjects import Pseudonyms
from redemptions import breaches
from redemptions import service as ledger
from redemptions.exceptions import AlreadyRedeemed, AlreadyReversed
from redemptions.reversal import reverse_redemption
from redemptions.rules import STORE, digest, tier_refusal
from redemptions.schemas import BreachDecisionIn, BreachIn
from server.errors import IdempotencyConflict, ValidationFailed
from server.http import page
from server.pagination import keyset_page
from server.settings import Settings
from server.sql import DirectPool
from signals.service import record_signal

log = logging.getLogger(__name__)

SCENARIOS = ("travel", "rental")
"""The scenarios whose ``deposit_waiver`` offers open deposit-free orders (信易游, 信易租)."""
PAYABLE = (AWAITING_PAYMENT, OVERDUE)
OVERDUE_NOTICE = "deposit_free_overdue"
SUSPENDED_NOTICE = "deposit_free_suspended"
CHARGE_DISPUTE = "charge_dispute"
BREACH_REJECTIONS_WINDOW = timedelta(days=90)
"""A merchant's rejected breach reports are counted over this window in its ``breach_rejected`` signal."""


def suspension_source(order_id: uuid.UUID) -> str:
    return f"deposit_order:{order_id}"


# --- views ---------------------------------------------------------------------------------------


def _charge_out(charge: DepositFreeCharge) -> dict[str, Any]:
    return {
        "id": charge.id,
        "kind": charge.kind,
        "amount_fen": charge.amount_fen,
        "note": charge.note,
        "waived": charge.waived,
    }


async def _charges_of(orders: list[DepositFreeOrder]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    found: dict[uuid.UUID, list[dict[str, Any]]] = {o.id: [] for o in orders}
    if orders:
        for charge in await DepositFreeCharge.filter(order_id__in=list(found)).order_by("id"):
            found[charge.order_id].append(_charge_out(charge))  # type: ignore[attr-defined]
    return found


def _opened_out(order: DepositFreeOrder) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "status": order.status,
        "risk_amount_fen": order.risk_amount_fen,
        "redemption_id": None if order.redemption_id is None else str(order.redemption_id),
        "expected_end_at": order.expected_end_at,
        "external_order_id": order.external_order_id,
        "created_at": order.created_at,
    }


def _merchant_order_out(
    order: DepositFreeOrder, charges: list[dict[str, Any]], pseudonyms: Pseudonyms
) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "store_id": str(order.store_id),
        "offer_id": str(order.offer_id),
        "resident_ref": pseudonyms.resident_ref(party_id=order.merchant_id, resident_id=order.resident_id),
        "external_order_id": order.external_order_id,
        "status": order.status,
        "risk_amount_fen": order.risk_amount_fen,
        "amount_due_fen": order.amount_due_fen,
        "paid_fen": order.paid_fen,
        "over_risk": order.over_risk,
        "settle_by": order.settle_by,
        "expected_end_at": order.expected_end_at,
        "created_at": order.created_at,
        "completed_at": order.completed_at,
        "settled_at": order.settled_at,
        "cancelled_at": order.cancelled_at,
        "overdue_at": order.overdue_at,
        "suspended_at": order.suspended_at,
        "charges": charges,
    }


def _dispute_ref(dispute: ChargeDispute | None) -> dict[str, Any] | None:
    if dispute is None:
        return None
    return {
        "id": str(dispute.id),
        "status": dispute.status,
        "created_at": dispute.created_at,
        "decided_at": dispute.decided_at,
        "note": dispute.decision_note,
    }


def _resident_order_out(
    order: DepositFreeOrder, charges: list[dict[str, Any]], merchant_name: str, dispute: ChargeDispute | None
) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "merchant": {"id": str(order.merchant_id), "name": merchant_name},
        "store_id": str(order.store_id),
        "status": order.status,
        "risk_amount_fen": order.risk_amount_fen,
        "amount_due_fen": order.amount_due_fen,
        "paid_fen": order.paid_fen,
        "settle_by": order.settle_by,
        "expected_end_at": order.expected_end_at,
        "created_at": order.created_at,
        "completed_at": order.completed_at,
        "settled_at": order.settled_at,
        "charges": charges,
        "dispute": _dispute_ref(dispute),
    }


def dispute_out(dispute: ChargeDispute) -> dict[str, Any]:
    return {
        "id": str(dispute.id),
        "order_id": str(dispute.order_id),
        "status": dispute.status,
        "amount_due_before_fen": dispute.amount_due_before_fen,
        "amount_due_after_fen": dispute.amount_due_after_fen,
        "created_at": dispute.created_at,
        "due_at": dispute.due_at,
        "decided_at": dispute.decided_at,
        "decision_note": dispute.decision_note,
    }


# --- merchants -----------------------------------------------------------------------------------


async def _order_for_staff(staff: Staff, order_id: uuid.UUID) -> DepositFreeOrder:
    """An order of the staff member's merchant at a store they work in (404 / 403 ``STORE_NOT_YOURS``)."""
    order = await DepositFreeOrder.get_or_none(id=order_id, merchant_id=staff.merchant_id)
    if order is None:
        raise OrderNotFound()
    await require_store(staff, order.store_id)
    return order


def _replay(order: DepositFreeOrder, request_hash: str) -> tuple[dict[str, Any], int]:
    """The same ``external_order_id`` again: the same body answers the order (200), another body is a 409."""
    if order.request_hash != request_hash:
        raise IdempotencyConflict("This external_order_id was already used for another order.")
    return _opened_out(order), 200


async def _refuse_if_blocked(resident_id: uuid.UUID, merchant_id: uuid.UUID) -> None:
    if (
        await DepositFreeOrder.filter(resident_id=resident_id, merchant_id=merchant_id, status=OPEN).exists()
        or await DepositFreeOrder.filter(resident_id=resident_id, status=OVERDUE).exists()
    ):
        raise DepositFreeBlocked()


async def open_order(
    staff: Staff, data: OrderIn, *, now: datetime, db: DirectPool | None = None
) -> tuple[dict[str, Any], int]:
    """``POST /merchant/deposit-free-orders``: open an order for the resident of a live scan at the staff member's store.

    Idempotent by ``external_order_id`` per merchant (same body: 200 and the same order; another:
    409 ``IDEMPOTENCY_CONFLICT``). Checked in order: the scan (404 / 409 ``SCAN_EXPIRED`` …), the
    store (403), the offer (a ``deposit_waiver`` of ``travel`` or ``rental``, else 422; risk above
    its value: 422), the live tier (403 ``TIER_TOO_LOW`` / ``TIER_RESTRICTED``), a suspension (403
    ``DEPOSIT_FREE_SUSPENDED``), an open order with this merchant or an overdue one anywhere (409
    ``DEPOSIT_FREE_BLOCKED``). Then the waiver is redeemed in the ledger and the order written.

    Two desks opening at once for one resident: both may redeem, but the partial unique index
    ``deposit_free_orders_one_open`` lets one order in; the other's redemption is reversed at once
    and it gets 409 ``DEPOSIT_FREE_BLOCKED``.
    """
    request_hash = digest(
        "deposit-free-order",
        data.scan_id,
        data.offer_id,
        data.risk_amount_fen,
        data.expected_end_at.isoformat(),
    )
    prior = await DepositFreeOrder.get_or_none(
        merchant_id=staff.merchant_id, external_order_id=data.external_order_id
    )
    if prior is not None:
        return _replay(prior, request_hash)
    scan = await load_valid_scan(data.scan_id, merchant_id=staff.merchant_id, now=now)
    await require_store(staff, scan.store_id)
    offer = await Offer.get_or_none(id=data.offer_id, merchant_id=staff.merchant_id)
    if offer is None:
        raise OfferNotFound()
    if offer.type != DEPOSIT_WAIVER or offer.scenario not in SCENARIOS:
        raise ValidationFailed(
            {"offer_id": "must be a deposit_waiver offer of the travel or rental scenario"}
        )
    if data.risk_amount_fen > (offer.value or 0):
        raise ValidationFailed({"risk_amount_fen": f"must not exceed the offer's value ({offer.value} fen)"})
    if data.expected_end_at <= now:
        raise ValidationFailed({"expected_end_at": "must be in the future"})
    resident_id = scan.resident_id
    assert resident_id is not None  # an accepted scan names its resident
    if refusal := tier_refusal(await live_tier(resident_id), offer.min_tier):
        raise refusal
    if await is_suspended(resident_id):
        raise DepositFreeSuspended()
    await _refuse_if_blocked(resident_id, staff.merchant_id)
    try:
        redeemed = await ledger.redeem(
            resident_id=resident_id,
            offer_id=offer.id,
            order_amount_fen=data.risk_amount_fen,
            channel=STORE,
            now=now,
            scan_id=scan.id,
            staff_id=staff.id,
            db=db,
        )
    except AlreadyRedeemed:
        # The same scan and offer opened an order meanwhile: a concurrent retry of this order?
        prior = await DepositFreeOrder.get_or_none(
            merchant_id=staff.merchant_id, external_order_id=data.external_order_id
        )
        if prior is not None:
            return _replay(prior, request_hash)
        raise
    redemption_id = uuid.UUID(redeemed.redemption["id"])
    try:
        async with in_transaction() as tx:
            order = await DepositFreeOrder.create(
                id=uuid.uuid4(),
                merchant_id=staff.merchant_id,
                store_id=scan.store_id,
                resident_id=resident_id,
                offer_id=offer.id,
                scan_id=scan.id,
                redemption_id=redemption_id,
                scenario=offer.scenario,
                external_order_id=data.external_order_id,
                request_hash=request_hash,
                risk_amount_fen=data.risk_amount_fen,
                expected_end_at=data.expected_end_at,
                status=OPEN,
                opened_by_id=staff.id,
                created_at=now,
                using_db=tx,
            )
    except IntegrityError:
        # Lost to a concurrent open (one open order per resident and merchant) or to the same
        # external_order_id: give the waiver back, then answer as that order decides.
        await _give_back(
            staff, redemption_id, now=now, reason="deposit-free order not opened (concurrent order)"
        )
        prior = await DepositFreeOrder.get_or_none(
            merchant_id=staff.merchant_id, external_order_id=data.external_order_id
        )
        if prior is not None:
            return _replay(prior, request_hash)
        raise DepositFreeBlocked() from None
    return _opened_out(order), 201


async def _give_back(staff: Staff, redemption_id: uuid.UUID | None, *, now: datetime, reason: str) -> None:
    """Reverse the order's waiver redemption (stock and limit come back); already reversed is fine."""
    if redemption_id is None:
        return
    try:
        await reverse_redemption(staff, redemption_id, reason=reason, now=now)
    except AlreadyReversed:
        pass


async def complete_order(
    staff: Staff, order_id: uuid.UUID, data: CompleteIn, *, now: datetime, settings: Settings
) -> dict[str, Any]:
    """The stay or rental ended: ``completed_no_charge`` (no charges: express check-out, nothing to inspect)
    or ``awaiting_payment`` with ``amount_due_fen`` due by ``settle_by`` (now + ``DEPOSIT_FREE_SETTLE_DAYS``).

    Charges above the risk amount need ``regulator_review``: the order is flagged (``over_risk``) and
    the merchant shows in the regulator's signals (``charge_over_risk``). 409 ``ORDER_NOT_OPEN``
    for an order that is not open (an open → completed flip is a conditional update: twice is a 409).
    """
    order = await _order_for_staff(staff, order_id)
    total = sum(c.amount_fen for c in data.charges)
    over_risk = total > order.risk_amount_fen
    if over_risk and not data.regulator_review:
        raise ValidationFailed(
            {
                "charges": f"the total {total} fen is above the risk amount {order.risk_amount_fen} fen; "
                "send regulator_review: true to file it for a regulator's review"
            }
        )
    if order.status != OPEN:
        raise OrderNotOpen(status=order.status)
    status = AWAITING_PAYMENT if total else COMPLETED_NO_CHARGE
    settle_by = now + timedelta(days=settings.deposit_free_settle_days) if total else None
    async with in_transaction() as tx:
        flipped = (
            await DepositFreeOrder.filter(id=order.id, status=OPEN)
            .using_db(tx)
            .update(
                status=status,
                amount_due_fen=total,
                settle_by=settle_by,
                over_risk=over_risk,
                completed_at=now,
                completed_by_id=staff.id,
            )
        )
        if not flipped:
            raise OrderNotOpen()
        charges = [
            await DepositFreeCharge.create(
                order_id=order.id, kind=c.kind, amount_fen=c.amount_fen, note=c.note, using_db=tx
            )
            for c in data.charges
        ]
    if over_risk:
        await record_signal(
            "charge_over_risk",
            order.merchant_id,
            order.store_id,
            window_start=now,
            window_end=now,
            count=1,
            detail={
                "order_id": str(order.id),
                "risk_amount_fen": order.risk_amount_fen,
                "charged_fen": total,
            },
            now=now,
        )
    return {
        "id": str(order.id),
        "status": status,
        "amount_due_fen": total,
        "settle_by": settle_by,
        "over_risk": over_risk,
        "charges": [_charge_out(c) for c in charges],
    }


async def settle_order(staff: Staff, order_id: uuid.UUID, *, paid_fen: int, now: datetime) -> dict[str, Any]:
    """The guest paid: ``awaiting_payment`` or ``overdue`` → ``settled``; a suspension this order caused is lifted
    in the same transaction (409 ``ORDER_NOT_PAYABLE`` otherwise)."""
    order = await _order_for_staff(staff, order_id)
    async with in_transaction() as tx:
        flipped = (
            await DepositFreeOrder.filter(id=order.id, status__in=PAYABLE)
            .using_db(tx)
            .update(status=SETTLED, paid_fen=paid_fen, settled_at=now, settled_by_id=staff.id)
        )
        if not flipped:
            raise OrderNotPayable(status=order.status)
        lifted = await lift(tx, resident_id=order.resident_id, source=suspension_source(order.id))
    return {"id": str(order.id), "status": SETTLED, "paid_fen": paid_fen, "suspension_lifted": bool(lifted)}


async def cancel_order(staff: Staff, order_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """An open order is called off: ``cancelled``, and its waiver redemption reversed (409 ``ORDER_NOT_OPEN`` otherwise)."""
    order = await _order_for_staff(staff, order_id)
    flipped = await DepositFreeOrder.filter(id=order.id, status=OPEN).update(
        status=CANCELLED, cancelled_at=now, cancelled_by_id=staff.id
    )
    if not flipped:
        raise OrderNotOpen(status=order.status)
    await _give_back(staff, order.redemption_id, now=now, reason="deposit-free order cancelled")
    return {"id": str(order.id), "status": CANCELLED}


async def list_orders(
    staff: Staff,
    pseudonyms: Pseudonyms,
    *,
    status: str | None,
    store_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The merchant's orders newest first, at the stores the staff member may see (owners: all)."""
    stores = await visible_store_ids(staff, store_id)
    query = DepositFreeOrder.filter(merchant_id=staff.merchant_id)
    if stores is not None:
        query = query.filter(store_id__in=stores)
    if status is not None:
        query = query.filter(status=status)
    shown, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    charges = await _charges_of(shown)
    return page([_merchant_order_out(o, charges[o.id], pseudonyms) for o in shown], next_cursor)


# --- breaches ------------------------------------------------------------------------------------


async def report_breach(staff: Staff, data: BreachIn, *, now: datetime, settings: Settings) -> dict[str, Any]:
    """``POST /merchant/breaches``: a report about a redemption (the ledger's), or an ``unpaid`` one about an
    overdue order whose grace period has passed (409 ``ORDER_NOT_OVERDUE`` before that)."""
    if data.order_id is None:
        return await breaches.report_breach(staff, data, now=now)
    order = await _order_for_staff(staff, data.order_id)
    grace = timedelta(days=settings.deposit_free_suspend_after_days)
    if order.status != OVERDUE or order.settle_by is None or order.settle_by + grace > now:
        raise OrderNotOverdue(status=order.status)
    return await breaches.report_order_breach(
        staff,
        order_id=order.id,
        redemption_id=order.redemption_id,
        store_id=order.store_id,
        offer_id=order.offer_id,
        resident_id=order.resident_id,
        data=data,
        now=now,
    )


async def decide_breach(
    breach_id: uuid.UUID, decision: BreachDecisionIn, *, admin_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """A regulator decides a breach report (``redemptions.breaches.decide_breach``); a rejected one counts in the
    merchant's ``breach_rejected`` signal (its rejected reports over the last 90 days)."""
    decided = await breaches.decide_breach(breach_id, decision, admin_id=admin_id, now=now)
    if decision.outcome == "rejected" and decided.get("store_id"):
        rejected = await breaches.count_rejected(
            uuid.UUID(decided["merchant_id"]), since=now - BREACH_REJECTIONS_WINDOW
        )
        await record_signal(
            "breach_rejected",
            decided["merchant_id"],
            decided["store_id"],
            window_start=now - BREACH_REJECTIONS_WINDOW,
            window_end=now,
            count=rejected,
            detail={"breach_id": decided["id"], "kind": decided["kind"], "rejected_in_window": rejected},
            now=now,
        )
    return decided


# --- the ladder ----------------------------------------------------------------------------------


async def _disputed(order_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not order_ids:
        return set()
    rows = await ChargeDispute.filter(order_id__in=order_ids, status="open").values_list(
        "order_id", flat=True
    )
    return set(rows)  # type: ignore[arg-type]


async def advance(*, now: datetime, settings: Settings) -> dict[str, int]:
    """Move orders along the ladder (idempotent: each step is a conditional update of one order).

    ``awaiting_payment`` past ``settle_by`` → ``overdue`` and a notice to the resident; ``overdue``
    past ``settle_by`` + ``DEPOSIT_FREE_SUSPEND_AFTER_DAYS`` → the resident's deposit-free benefits
    suspended (one suspension per order) and a notice. Orders under dispute wait.
    """
    grace = timedelta(days=settings.deposit_free_suspend_after_days)
    late = await DepositFreeOrder.filter(status=AWAITING_PAYMENT, settle_by__lt=now)
    disputed = await _disputed([o.id for o in late])
    made_overdue = 0
    for order in late:
        if order.id in disputed:
            continue
        async with in_transaction() as tx:
            if (
                not await DepositFreeOrder.filter(id=order.id, status=AWAITING_PAYMENT)
                .using_db(tx)
                .update(status=OVERDUE, overdue_at=now)
            ):
                continue
            merchant = await Merchant.get_or_none(id=order.merchant_id, using_db=tx)
            await notify(
                tx,
                resident_id=order.resident_id,
                kind=OVERDUE_NOTICE,
                title="免押订单逾期未付",
                body=(
                    f"您在{merchant.name if merchant else '商户'}的免押订单应付 {(order.amount_due_fen or 0) / 100:.2f} 元，"
                    f"已超过付款期限。请尽快支付；逾期 {settings.deposit_free_suspend_after_days} 天后将暂停您的免押权益。"
                ),
                now=now,
                case_kind="deposit_free_order",
                case_id=str(order.id),
            )
            made_overdue += 1
    to_suspend = await DepositFreeOrder.filter(
        status=OVERDUE, suspended_at__isnull=True, settle_by__lt=now - grace
    )
    disputed = await _disputed([o.id for o in to_suspend])
    suspended = 0
    for order in to_suspend:
        if order.id in disputed:
            continue
        async with in_transaction() as tx:
            if (
                not await DepositFreeOrder.filter(id=order.id, status=OVERDUE, suspended_at__isnull=True)
                .using_db(tx)
                .update(suspended_at=now)
            ):
                continue
            await suspend(
                tx,
                resident_id=order.resident_id,
                source=suspension_source(order.id),
                reason="deposit-free order unpaid past the grace period",
                now=now,
            )
            await notify(
                tx,
                resident_id=order.resident_id,
                kind=SUSPENDED_NOTICE,
                title="免押权益已暂停",
                body="您有免押订单逾期未付，免押权益已暂停（其他优惠不受影响）。付清后立即恢复。",
                now=now,
                case_kind="deposit_free_order",
                case_id=str(order.id),
            )
            suspended += 1
    return {"overdue": made_overdue, "suspended": suspended}


# --- residents -----------------------------------------------------------------------------------


async def list_for_resident(
    resident_id: uuid.UUID, *, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The resident's orders newest first, with the merchant, the charges, the deadline and any dispute."""
    query = DepositFreeOrder.filter(resident_id=resident_id)
    if status is not None:
        query = query.filter(status=status)
    shown, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    charges = await _charges_of(shown)
    names = dict(await Merchant.filter(id__in={o.merchant_id for o in shown}).values_list("id", "name"))
    latest: dict[uuid.UUID, ChargeDispute] = {}
    if shown:
        for d in await ChargeDispute.filter(order_id__in=[o.id for o in shown]).order_by("created_at"):
            latest[d.order_id] = d
    items = [
        _resident_order_out(o, charges[o.id], names.get(o.merchant_id, ""), latest.get(o.id)) for o in shown
    ]
    return {**page(items, next_cursor), "deposit_free_suspended": await is_suspended(resident_id)}


async def dispute_charges(
    resident_id: uuid.UUID, order_id: uuid.UUID, *, reason: str, now: datetime
) -> dict[str, Any]:
    """The resident disputes an order's charges: a ``charge_dispute`` case for a regulator, due after the
    ruleset's ``charge_dispute_due_days``. 404 not my order, 409 ``ORDER_NOT_DISPUTABLE`` (nothing owed),
    409 ``DISPUTE_OPEN`` (one open dispute per order: a partial unique index)."""
    order = await DepositFreeOrder.get_or_none(id=order_id, resident_id=resident_id)
    if order is None:
        raise OrderNotFound()
    if order.status not in PAYABLE:
        raise OrderNotDisputable(status=order.status)
    try:
        async with in_transaction() as tx:
            rules = (await active_ruleset(tx)).rights
            dispute = await ChargeDispute.create(
                id=uuid.uuid4(),
                order_id=order.id,
                resident_id=resident_id,
                merchant_id=order.merchant_id,
                reason=reason,
                status="open",
                amount_due_before_fen=order.amount_due_fen or 0,
                created_at=now,
                due_at=now + timedelta(days=rules.charge_dispute_due_days),
                using_db=tx,
            )
    except IntegrityError:
        raise DisputeOpen() from None
    return dispute_out(dispute)


# --- regulators ----------------------------------------------------------------------------------


async def admin_dispute_out(dispute: ChargeDispute) -> dict[str, Any]:
    order = await DepositFreeOrder.get(id=dispute.order_id)
    merchant = await Merchant.get_or_none(id=dispute.merchant_id)
    name = merchant.name if merchant else ""
    charges = await _charges_of([order])
    return {
        **dispute_out(dispute),
        "resident_id": str(dispute.resident_id),
        "merchant_id": str(dispute.merchant_id),
        "merchant_name": name,
        "reason": dispute.reason,
        "order": _resident_order_out(order, charges[order.id], name, dispute),
    }


async def list_disputes(*, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """Charge disputes newest first (regulators)."""
    query = ChargeDispute.all()
    if status is not None:
        query = query.filter(status=status)
    shown, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    return page([await admin_dispute_out(d) for d in shown], next_cursor)


async def decide_dispute(
    dispute_id: uuid.UUID,
    decision: DisputeDecisionIn,
    *,
    admin_id: uuid.UUID,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """A regulator decides a dispute once (409 ``DISPUTE_ALREADY_DECIDED`` after that); the resident is told.

    Upheld: what is owed becomes ``amount_due_fen`` (default 0: every charge waived). Nothing
    owed: the order is ``completed_no_charge``; something still owed: ``awaiting_payment`` with a
    fresh ``settle_by``. Either way a suspension the order caused is lifted. Rejected: the order
    is as it was, and the ladder takes it on from there.
    """
    async with in_transaction() as tx:
        dispute = await ChargeDispute.get_or_none(id=dispute_id, using_db=tx)
        if dispute is None:
            raise DisputeNotFound()
        order = await DepositFreeOrder.get(id=dispute.order_id, using_db=tx)
        new_due = None
        if decision.outcome == "upheld":
            new_due = decision.amount_due_fen or 0
            if new_due > (order.amount_due_fen or 0):
                raise ValidationFailed({"amount_due_fen": "must not exceed what the order asks now"})
        decided = (
            await ChargeDispute.filter(id=dispute.id, status="open")
            .using_db(tx)
            .update(
                status=decision.outcome,
                decided_at=now,
                decided_by_id=admin_id,
                decision_note=decision.note,
                amount_due_after_fen=new_due,
            )
        )
        if not decided:
            raise DisputeAlreadyDecided(status=dispute.status)
        if new_due is not None and order.status in PAYABLE:
            if new_due == 0:
                await DepositFreeCharge.filter(order_id=order.id).using_db(tx).update(waived=True)
                changes: dict[str, Any] = {
                    "status": COMPLETED_NO_CHARGE,
                    "amount_due_fen": 0,
                    "settle_by": None,
                }
            else:
                changes = {
                    "status": AWAITING_PAYMENT,
                    "amount_due_fen": new_due,
                    "settle_by": now + timedelta(days=settings.deposit_free_settle_days),
                    "overdue_at": None,
                    "suspended_at": None,
                }
            await DepositFreeOrder.filter(id=order.id).using_db(tx).update(**changes)
            await lift(tx, resident_id=order.resident_id, source=suspension_source(order.id))
        await notify(
            tx,
            resident_id=dispute.resident_id,
            kind=CASE_DECISION,
            title="免押订单费用异议已处理" + ("：成立" if decision.outcome == "upheld" else "：不成立"),
            body=decision.note,
            now=now,
            case_kind=CHARGE_DISPUTE,
            case_id=str(dispute.id),
        )
        dispute = await ChargeDispute.get(id=dispute.id, using_db=tx)
    return await admin_dispute_out(dispute)
