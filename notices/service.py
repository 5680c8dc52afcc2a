"""The inbox: notices written in the transaction of what they announce, one subscribe acceptance used per notice.

Every notice lands in the in-app inbox. When the resident accepted the notice's template in
``wx.requestSubscribeMessage`` and has an acceptance left, one is used in the same transaction and
the notice is marked ``pending``; the sender (``notices.sender``) delivers it through WeChat after
the commit. A resident who accepted nothing gets the inbox notice and no WeChat message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from notices.models import Notification, SubscribeAllowance
from server.dbtypes import DbConn
from server.errors import NotFound
from server.http import page
from server.pagination import keyset_page

if TYPE_CHECKING:
    from credit.models import Subject

LIST_NOTICE = "list_notice"
CASE_DECISION = "case_decision"
TIER_CHANGED = "tier_changed"
PUBLICITY_ENDING = "publicity_ending"
KINDS = (LIST_NOTICE, CASE_DECISION, TIER_CHANGED, PUBLICITY_ENDING)
MAX_ACCEPTANCES = 50  # per template: WeChat lets a user accept again and again; keep the count sane


class NotificationNotFound(NotFound):
    message = "No such notification."


async def notify(
    conn: DbConn,
    *,
    resident_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    now: datetime,
    case_kind: str | None = None,
    case_id: str | None = None,
) -> Notification:
    """A notice in the resident's inbox, in ``conn``'s transaction, using one acceptance of its template if any is left."""
    used = (
        await SubscribeAllowance.filter(resident_id=resident_id, template=kind, remaining__gt=0)
        .using_db(conn)
        .update(remaining=F("remaining") - 1, updated_at=now)
    )
    return await Notification.create(
        id=uuid.uuid4(),
        resident_id=resident_id,
        kind=kind,
        title=title[:120],
        body=body,
        case_kind=case_kind,
        case_id=case_id,
        created_at=now,
        subscribe_status="pending" if used else "none",
        using_db=conn,
    )


async def accept_templates(
    resident_id: uuid.UUID, accepted: Sequence[str], *, now: datetime
) -> dict[str, int]:
    """What the user accepted in ``wx.requestSubscribeMessage``: one more message allowed per template named."""
    for template in accepted:
        try:
            async with in_transaction() as conn:
                grown = (
                    await SubscribeAllowance.filter(
                        resident_id=resident_id, template=template, remaining__lt=MAX_ACCEPTANCES
                    )
                    .using_db(conn)
                    .update(remaining=F("remaining") + 1, updated_at=now)
                )
                if (
                    not grown
                    and not await SubscribeAllowance.filter(resident_id=resident_id, template=template)
                    .using_db(conn)
                    .exists()
                ):
                    await SubscribeAllowance.create(
                        resident_id=resident_id, template=template, remaining=1, updated_at=now, using_db=conn
                    )
        except IntegrityError:  # a concurrent first acceptance of the same template made the row
            await SubscribeAllowance.filter(
                resident_id=resident_id, template=template, remaining__lt=MAX_ACCEPTANCES
            ).update(remaining=F("remaining") + 1, updated_at=now)
    return await allowances(resident_id)


async def allowances(resident_id: uuid.UUID, *, conn: DbConn | None = None) -> dict[str, int]:
    rows = (
        await SubscribeAllowance.filter(resident_id=resident_id)
        .using_db(conn)
        .values_list("template", "remaining")
    )
    found = dict(rows)
    return {kind: int(found.get(kind, 0)) for kind in KINDS}


def notification_out(n: Notification) -> dict[str, Any]:
    return {
        "id": str(n.id),
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "case_kind": n.case_kind,
        "case_id": n.case_id,
        "created_at": n.created_at,
        "read": n.read_at is not None,
        "read_at": n.read_at,
        "subscribe_message_sent": n.subscribe_status == "sent",
    }


async def inbox_page(
    resident_id: uuid.UUID, *, limit: int, cursor: str | None, unread: bool = False
) -> dict[str, Any]:
    query = Notification.filter(resident_id=resident_id)
    if unread:
        query = query.filter(read_at__isnull=True)
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor, tiebreak=("id", uuid.UUID))
    return page([notification_out(n) for n in rows], next_cursor)


async def mark_read(resident_id: uuid.UUID, notification_id: Any, *, now: datetime) -> dict[str, Any]:
    try:
        nid = uuid.UUID(str(notification_id))
    except ValueError:
        raise NotificationNotFound() from None
    row = await Notification.get_or_none(id=nid, resident_id=resident_id)
    if row is None:
        raise NotificationNotFound()
    if row.read_at is None:
        await Notification.filter(id=nid, read_at__isnull=True).update(read_at=now)
        row.read_at = now
    return notification_out(row)


async def all_of(resident_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every notice of the resident, oldest first (the export)."""
    return [
        notification_out(n)
        for n in await Notification.filter(resident_id=resident_id).order_by("created_at", "id")
    ]


_TIER_WORDS = {"restricted": "受限", "C": "C", "B": "B", "A": "A", "AA": "AA", "AAA": "AAA"}


async def on_tier_change(conn: DbConn, subject: Subject, previous_tier: str, new_tier: str) -> None:
    """credit's tier-change hook: the resident is told, in the transaction of the change."""
    resident_id = getattr(subject, "resident_id", None)
    if resident_id is None:
        return
    await notify(
        conn,
        resident_id=resident_id,
        kind=TIER_CHANGED,
        title="信用等级变化",
        body=f"您的信用等级由 {_TIER_WORDS.get(previous_tier, previous_tier)} 变为 {_TIER_WORDS.get(new_tier, new_tier)}。",
        now=datetime.now(UTC),
    )
