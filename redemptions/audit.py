"""The ledger's audit trail: a row for every redemption, reversal, claim, breach report and decision, in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from redemptions.models import AuditEntry
from redemptions.rules import str_or_none
from server.dbtypes import DbConn
from server.http import page
from server.pagination import keyset_page


async def record_audit(
    conn: DbConn,
    *,
    at: datetime,
    actor_type: str,
    actor_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: uuid.UUID,
    merchant_id: uuid.UUID | None,
    details: dict[str, Any],
) -> None:
    await AuditEntry.create(
        at=at,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        merchant_id=merchant_id,
        details=details,
        using_db=conn,
    )


async def list_audit(
    *, target_id: uuid.UUID | None, merchant_id: uuid.UUID | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The ledger's audit trail for regulators, newest first: of one redemption, coupon or breach, or of a merchant."""
    query = AuditEntry.all()
    if target_id is not None:
        query = query.filter(target_id=target_id)
    if merchant_id is not None:
        query = query.filter(merchant_id=merchant_id)
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor, key=("id", int), tiebreak=None)
    items = [
        {
            "id": a.id,
            "at": a.at,
            "actor_type": a.actor_type,
            "actor_id": str_or_none(a.actor_id),
            "action": a.action,
            "target_type": a.target_type,
            "target_id": str(a.target_id),
            "merchant_id": str_or_none(a.merchant_id),
            "details": a.details,
        }
        for a in rows
    ]
    return page(items, next_cursor)
