"""``xinyi advance-orders``: the daily run of the deposit-free orders' breach ladder (cron or a systemd timer)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import orjson

from server.cli import Commands, WithDb
from server.settings import Settings

COMMANDS = Commands()


@COMMANDS.command(
    "advance-orders",
    "deposit-free orders: unpaid past the deadline become overdue (the resident is told), past the grace suspended",
)
def advance_orders_command(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    async def work() -> int:
        from deposits.service import advance

        moved = await advance(now=datetime.now(UTC), settings=settings)
        print(orjson.dumps(moved).decode())
        return 0

    return with_db(work)
