"""Keyset pagination, newest first, on (a sort key, a unique tie-breaker): the one way list endpoints page.

A cursor names the last row of the page before; the next page is the rows strictly older in
(key, tie-breaker) order, so rows written meanwhile never shift or repeat a page. Cursors are
opaque to clients (``server.http.encode_cursor``); a cursor that does not decode to the keys'
types is 422 ``VALIDATION_ERROR`` on ``cursor``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator
from tortoise.expressions import Q

from server.errors import ValidationFailed
from server.http import decode_cursor, encode_cursor

_WHOLE_NUMBER = re.compile(r"^[0-9]{1,9}$")


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and not _WHOLE_NUMBER.match(value):
        raise ValueError("must be a whole number (digits only)")
    return value


Limit = Annotated[int, BeforeValidator(_whole_number)]
"""The type of ``?limit=``: digits only, so ``5.0``, `` 5`` or ``5_0`` are a 422 rather than a quiet 5 or 50
(pydantic's lax integers); each query model gives the bounds and default with ``Field``."""

Key = tuple[str, type]
"""A column and the Python type of its values: ``datetime``, ``date``, ``int``, ``str`` or ``uuid.UUID``."""

CREATED = ("created_at", datetime)
ID = ("id", uuid.UUID)


async def keyset_page(
    query: Any, *, limit: int, cursor: str | None, key: Key = CREATED, tiebreak: Key | None = ID
) -> tuple[list[Any], str | None]:
    """One page of ``query``, newest first by (``key``, ``tiebreak``), and the next page's cursor (None: the last).

    ``tiebreak=None`` when ``key`` is unique by itself (an id).
    """
    keys = [key] if tiebreak is None else [key, tiebreak]
    after = _decode(cursor, keys)
    if after is not None:
        (column, _), value = keys[0], after[0]
        older: dict[str, Any] = {f"{column}__lt": value}
        if tiebreak is None:
            query = query.filter(**older)
        else:
            tied: dict[str, Any] = {column: value, f"{tiebreak[0]}__lt": after[1]}
            query = query.filter(Q(**older) | Q(**tied))
    rows = await query.order_by(*(f"-{column}" for column, _ in keys)).limit(limit + 1)
    shown = rows[:limit]
    if len(rows) <= limit:
        return shown, None
    last = shown[-1]
    return shown, encode_cursor(*(_encode(getattr(last, column)) for column, _ in keys))


async def every_row(
    query: Any, *, batch: int = 500, key: Key = CREATED, tiebreak: Key | None = ID
) -> AsyncIterator[list[Any]]:
    """Every row of ``query`` in pages of ``batch``, newest first: how an export reads a whole table's share."""
    cursor: str | None = None
    while True:
        rows, cursor = await keyset_page(query, limit=batch, cursor=cursor, key=key, tiebreak=tiebreak)
        if rows:
            yield rows
        if cursor is None:
            return


async def all_items(page_of: Callable[[str | None], Awaitable[dict[str, Any]]]) -> list[Any]:
    """Every item of a paged listing (``{"items", "next_cursor"}`` for a cursor), following its cursors to the end."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        answer = await page_of(cursor)
        items.extend(answer["items"])
        cursor = answer["next_cursor"]
        if cursor is None:
            return items


def _decode(cursor: str | None, keys: list[Key]) -> list[Any] | None:
    parts = decode_cursor(cursor, len(keys))
    if parts is None:
        return None
    try:
        return [_value(part, kind) for part, (_, kind) in zip(parts, keys, strict=True)]
    except (TypeError, ValueError):
        raise ValidationFailed({"cursor": "Invalid cursor."}) from None


def _value(part: Any, kind: type) -> Any:
    if kind is datetime:
        return datetime.fromisoformat(part)
    if kind is date:
        return date.fromisoformat(part)
    if kind is int:
        if not isinstance(part, int) or isinstance(part, bool):
            raise TypeError("not an integer")
        return part
    if kind is uuid.UUID:
        return uuid.UUID(part)
    if kind is str:
        if not isinstance(part, str):
            raise TypeError("not a string")
        return part
    raise TypeError(f"no cursor values of type {kind.__name__}")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
