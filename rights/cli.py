"""``xinyi advance-lists``: the daily move of list entries (run it from cron or a systemd timer)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import orjson

from server.cli import Commands, WithDb
from server.settings import Settings

COMMANDS = Commands()


@COMMANDS.command(
    "advance-lists",
    "move list entries whose objection window or publicity ended, adopt provincial ones, rescore overdue objections",
)
def advance_lists_command(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    async def work() -> int:
        from rights.lists import advance

        moved = await advance(now=datetime.now(UTC))
        print(orjson.dumps(moved).decode())
        return 0

    return with_db(work)
