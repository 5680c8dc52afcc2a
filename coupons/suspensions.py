"""Benefit suspensions: a resident's benefits of one offer type withheld everywhere, for a stated cause.

Coupons own the fact (the scan lists offers and the redemption statement takes them, both below
the domains that decide a suspension): deposits suspends a resident's ``deposit_waiver``
benefits when an order stays unpaid past the grace period and lifts the suspension when it is
settled. One row per cause (``source``: ``deposit_order:<id>``), so a resident with two
unpaid orders stays suspended until both are settled. Readers never query this table on their
own on the hot paths: ``suspended_sql`` is folded into the scan's INSERT and the redemption's
statements (one index lookup on ``(resident_id, offer_type)``).

The table lives in the Tortoise app ``redemptions`` (as ``coupons.units`` does), whose migrations
create it: coupons' own app has other migrations in flight.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tortoise import fields
from tortoise.models import Model

from server.dbtypes import DbConn
from server.errors import Forbidden

DEPOSIT_WAIVER = "deposit_waiver"


class BenefitSuspension(Model):
    """Offers of ``offer_type`` are withheld from the resident (scan lists them not, redemptions refuse them)."""

    id = fields.BigIntField(primary_key=True)
    resident_id = fields.UUIDField()
    offer_type = fields.CharField(max_length=20)
    source = fields.CharField(max_length=64)  # what caused it: deposit_order:<id>
    reason = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()

    class Meta:
        table = "benefit_suspensions"
        unique_together = (("resident_id", "offer_type", "source"),)


class DepositFreeSuspended(Forbidden):
    code = "DEPOSIT_FREE_SUSPENDED"
    message = (
        "The resident's deposit-free benefits are suspended until an overdue deposit-free order is settled."
    )


TABLE = BenefitSuspension._meta.db_table


def suspended_sql(resident: str, offer_type: str = DEPOSIT_WAIVER) -> str:
    """A boolean SQL expression: whether ``resident`` (an SQL expression) has ``offer_type`` suspended."""
    return f"EXISTS (SELECT 1 FROM {TABLE} bs WHERE bs.resident_id = {resident} AND bs.offer_type = '{offer_type}')"


def without_suspended(candidates: Iterable[dict[str, Any]], suspended: Any) -> list[dict[str, Any]]:
    """The scan's candidate offers, less the deposit waivers of a resident whose deposit-free benefits are suspended."""
    if not suspended:
        return list(candidates)
    return [c for c in candidates if c.get("type") != DEPOSIT_WAIVER]


async def suspend(
    conn: DbConn,
    *,
    resident_id: uuid.UUID,
    source: str,
    reason: str,
    now: datetime,
    offer_type: str = DEPOSIT_WAIVER,
) -> bool:
    """Withhold the resident's ``offer_type`` benefits for ``source`` (in ``conn``'s transaction); False if already."""
    if (
        await BenefitSuspension.filter(resident_id=resident_id, offer_type=offer_type, source=source)
        .using_db(conn)
        .exists()
    ):
        return False
    await BenefitSuspension.create(
        resident_id=resident_id,
        offer_type=offer_type,
        source=source,
        reason=reason[:200],
        created_at=now,
        using_db=conn,
    )
    return True


async def lift(conn: DbConn, *, resident_id: uuid.UUID, source: str, offer_type: str = DEPOSIT_WAIVER) -> int:
    """Lift the suspension ``source`` caused (in ``conn``'s transaction): the number of rows removed (0 or 1)."""
    return (
        await BenefitSuspension.filter(resident_id=resident_id, offer_type=offer_type, source=source)
        .using_db(conn)
        .delete()
    )


async def is_suspended(
    resident_id: uuid.UUID, *, offer_type: str = DEPOSIT_WAIVER, conn: DbConn | None = None
) -> bool:
    """Whether the resident's ``offer_type`` benefits are suspended now (for the non-hot paths)."""
    return (
        await BenefitSuspension.filter(resident_id=resident_id, offer_type=offer_type).using_db(conn).exists()
    )
