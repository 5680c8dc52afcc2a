"""The housekeeping loop: it purges on schedule, survives a failed round, and stops when cancelled."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from server.tasks import purge_every


async def test_a_failed_round_is_logged_and_the_next_one_runs(caplog):
    rounds: list[datetime] = []
    third = asyncio.Event()

    async def purge(now: datetime) -> int:
        rounds.append(now)
        if len(rounds) == 3:
            third.set()
        if len(rounds) == 1:
            raise ConnectionError("the database restarted")
        return 2

    with caplog.at_level(logging.INFO, logger="xinyi.tasks"):
        task = asyncio.create_task(purge_every(0.01, purge, what="test rows"))
        await asyncio.wait_for(third.wait(), timeout=5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and rounds == sorted(rounds) and rounds[0].tzinfo is not None
    messages = [r.getMessage() for r in caplog.records]
    assert "purging test rows failed" in messages and "purged 2 test rows" in messages
