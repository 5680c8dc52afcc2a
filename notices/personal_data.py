"""What the inbox holds about a resident: the notices and the subscribe allowances; both go at an erasure."""

from __future__ import annotations

import uuid
from typing import Any

from notices.models import Notification, SubscribeAllowance
from notices.service import all_of, allowances
from server.dbtypes import DbConn


async def export_for(resident_id: uuid.UUID) -> dict[str, Any]:
    """``notifications`` (every notice, oldest first) and ``subscribe_allowances`` (WeChat messages still allowed)."""
    return {"notifications": await all_of(resident_id), "subscribe_allowances": await allowances(resident_id)}


async def erase_for(conn: DbConn, resident_id: uuid.UUID) -> None:
    """Delete the resident's notices and allowances in ``conn`` (a pending WeChat message is not sent any more)."""
    await Notification.filter(resident_id=resident_id).using_db(conn).delete()
    await SubscribeAllowance.filter(resident_id=resident_id).using_db(conn).delete()
