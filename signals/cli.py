"""``xinyi detect-signals``: run detection once, up to now (the job inside ``serve`` does it every minute)."""

from __future__ import annotations

import argparse

from server.cli import Commands, WithDb
from server.settings import Settings

COMMANDS = Commands()


@COMMANDS.command(
    "detect-signals", "look for fraud signals in the scan log and the ledger since the last run"
)
def detect_signals(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from datetime import UTC, datetime

    from signals.detect import detect

    async def work() -> int:
        done = await detect(settings, now=datetime.now(UTC))
        if done is None:
            print("another detection run holds the lease; nothing done")
            return 0
        found = ", ".join(f"{kind} {n}" for kind, n in sorted(done.found.items())) or "nothing"
        print(f"looked at {done.since.isoformat()} .. {done.until.isoformat()}: new signals: {found}")
        return 0

    return with_db(work)
