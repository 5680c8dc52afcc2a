"""The type of a database connection handed between functions.

``DbConn`` is what ``tortoise.connections.get(...)`` returns and what ``in_transaction()`` yields
(a transactional client is a subclass), and what ``.using_db(...)`` and ``using_db=`` accept: the
raw-SQL helpers read ``capabilities.dialect``, call ``execute_query`` and
``acquire_connection()`` on it.
"""

from __future__ import annotations

from typing import TypeAlias

from tortoise.backends.base.client import BaseDBAsyncClient

DbConn: TypeAlias = BaseDBAsyncClient

__all__ = ["DbConn"]
