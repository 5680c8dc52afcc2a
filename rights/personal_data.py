"""What the rights domain holds about a resident: cases and evidence files; their fate at an erasure.

Cases are the public authority's files: an erasure keeps them, naming the resident by the
account's id only (a pseudonym once erased), and ends the ones still open as ``withdrawn`` (an
objection's record goes back as it was). The evidence files go: their rows here, their bytes in the
blob store once the erasure committed (``erase_attachments`` answers the keys to delete).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from rights import events, objections, repairs, self_reports
from rights.attachments import attachment_out
from rights.models import Attachment, Repair, SelfReport
from server.dbtypes import DbConn, column_values
from server.pagination import all_items, every_row

BATCH = 500
WITHDRAWN = "withdrawn"
ERASED = "the resident erased the account"


async def export_for(resident_id: uuid.UUID, *, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """``objections``, ``repairs`` and ``self_reports`` as the resident's lists show them, all of them, and
    the ``attachments`` uploaded (what they are, not their bytes)."""
    files: list[dict[str, Any]] = []
    async for rows in every_row(Attachment.filter(resident_id=resident_id), batch=BATCH):
        files += [attachment_out(a) for a in rows]
    return {
        "objections": await all_items(
            lambda cursor: objections.mine(resident_id, limit=BATCH, cursor=cursor, now=now)
        ),
        "repairs": await all_items(lambda cursor: repairs.mine(resident_id, limit=BATCH, cursor=cursor)),
        "self_reports": await all_items(
            lambda cursor: self_reports.mine(resident_id, limit=BATCH, cursor=cursor)
        ),
        "attachments": files,
    }


async def withdraw_open_cases(conn: DbConn, resident_id: uuid.UUID, *, now: datetime) -> int:
    """Open objections, repairs and self-reports under review end ``withdrawn``, each with its event, in ``conn``."""
    withdrawn = await objections.withdraw_open(conn, resident_id, reason=ERASED, now=now)
    for model, case_kind in ((Repair, events.REPAIR), (SelfReport, events.SELF_REPORT)):
        under_review = model.filter(resident_id=resident_id, status="under_review").using_db(conn)
        for case_id in await column_values(under_review, "id"):
            closed = (
                await model.filter(id=case_id, status="under_review")
                .using_db(conn)
                .update(status=WITHDRAWN, decided_at=now, note=ERASED)
            )
            if not closed:
                continue  # a regulator decided it meanwhile
            await events.record_event(
                conn,
                case_kind=case_kind,
                case_id=case_id,
                from_state="under_review",
                to_state=WITHDRAWN,
                actor=events.RESIDENT,
                reason=ERASED,
                at=now,
            )
            withdrawn += 1
    return withdrawn


async def erase_attachments(conn: DbConn, resident_id: uuid.UUID) -> list[str]:
    """Delete the rows of the resident's uploads in ``conn``; the blob keys, for the caller to delete after the commit.

    Cases keep the ids they listed; those ids now name nothing (404 for everyone).
    """
    keys = await column_values(Attachment.filter(resident_id=resident_id).using_db(conn), "storage_key")
    await Attachment.filter(resident_id=resident_id).using_db(conn).delete()
    return keys
