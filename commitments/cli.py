"""``xinyi advance-commitments``: break the commitments whose deadline passed, now."""

from __future__ import annotations

import argparse

from server.cli import Commands, WithDb
from server.settings import Settings

COMMANDS = Commands()


@COMMANDS.command(
    "advance-commitments",
    "break every pending 信易批 commitment past its deadline now (commitment_breach records, notices, webhooks); "
    "serve does it every 30 s",
)
def advance_commitments(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from datetime import UTC, datetime

    from commitments.service import advance

    async def work() -> int:
        broken = await advance(datetime.now(UTC))
        print(f"{broken} commitments broken")
        return 0

    return with_db(work)
