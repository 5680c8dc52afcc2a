"""The type of a database connection handed between functions.

``DbConn`` is what ``tortoise.connections.get(...)`` returns and what ``in_transaction()`` yields
(a transactional client is a subclass), and what ``.using_db(...)`` and ``using_db=`` accept: the
raw-SQL helpers read ``capabilities.dialect``, call ``execute_query`` and
``acquire_connection()`` on it.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from tortoise.backends.base.client import BaseDBAsyncClient

DbConn: TypeAlias = BaseDBAsyncClient


async def column_values(query: Any, column: str) -> list[Any]:
    """One column of a query's rows as a list (``values_list(column, flat=True)``).

    Tortoise types a flat ``values_list`` as a list of tuples; its elements are the values
    themselves, so this says what it returns where the callers would each need an ignore.
    """
    return list(await query.values_list(column, flat=True))


__all__ = ["DbConn", "column_values"]
