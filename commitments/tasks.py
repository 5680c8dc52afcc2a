"""The check that breaks commitments past their deadline, inside every ``serve`` worker."""

from __future__ import annotations

import asyncio
import logging

from commitments.service import advance
from server.context import FrameContext

log = logging.getLogger("xinyi.commitments")

CHECK_EVERY_S = 30.0  # the contract asks for at least every minute


async def _check_every(ctx: FrameContext, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            broken = await advance(ctx.clock())
        except Exception:  # noqa: BLE001 - the next round retries; a worker must not die of it
            log.warning("breaking overdue commitments failed", exc_info=True)
        else:
            if broken:
                log.info("broke %d overdue commitments", broken)


def start(ctx: FrameContext) -> None:
    """Break overdue commitments every ``CHECK_EVERY_S`` seconds while the app runs (by the app's clock)."""
    ctx.start_task(_check_every(ctx, CHECK_EVERY_S))
