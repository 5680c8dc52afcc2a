"""Keyset pagination, newest first, on (a timestamp, the id): the one way list endpoints page.

A cursor names the last row of the page before; the next page is the rows strictly older in
(timestamp, id) order, so rows written meanwhile never shift or repeat a page.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from server.errors import ValidationFailed
from server.http import decode_cursor, encode_cursor


async def keyset_page(
    query: Any, *, limit: int, cursor: str | None, field: str = "created_at"
) -> tuple[list[Any], str | None]:
    """One page of ``query``, newest first by (``field``, id), and the cursor of the next page (None: the last)."""
    rows = await after_cursor(query, cursor, field).order_by(f"-{field}", "-id").limit(limit + 1)
    return rows[:limit], next_cursor(rows, limit, field)


def after_cursor(query: Any, cursor: str | None, field: str) -> Any:
    """The rows strictly after the cursor's (``field``, id), in newest-first order."""
    parts = decode_cursor(cursor, 2)
    if parts is None:
        return query
    try:
        at, last_id = datetime.fromisoformat(parts[0]), uuid.UUID(parts[1])
    except (TypeError, ValueError):
        raise ValidationFailed({"cursor": "Invalid cursor."}) from None
    before: dict[str, Any] = {f"{field}__lt": at}
    tied: dict[str, Any] = {field: at, "id__lt": last_id}
    return query.filter(Q(**before) | Q(**tied))


def next_cursor(rows: list[Any], limit: int, field: str) -> str | None:
    """The cursor after the ``limit``-th row, when ``rows`` (fetched with ``limit + 1``) has more."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(getattr(last, field).isoformat(), str(last.id))
