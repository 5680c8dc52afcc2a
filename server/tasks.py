"""Housekeeping that repeats while the server runs (purges of expired rows): one loop for all of them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

log = logging.getLogger("xinyi.tasks")

Purge = Callable[[datetime], Awaitable[int]]


async def purge_every(every_s: float, purge: Purge, *, what: str) -> None:
    """Call ``purge(now)`` every ``every_s`` seconds until cancelled (a background task of each worker).

    Purges are idempotent, so workers may run them side by side; a failure is logged and the
    next round deletes what this one could not.
    """
    while True:
        await asyncio.sleep(every_s)
        try:
            purged = await purge(datetime.now(UTC))
        except Exception:  # noqa: BLE001 - housekeeping must not kill the worker
            log.warning("purging %s failed", what, exc_info=True)
        else:
            if purged:
                log.info("purged %d %s", purged, what)
