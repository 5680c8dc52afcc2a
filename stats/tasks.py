"""The rollup inside ``xinyi serve``: every ``STATS_ROLLUP_EVERY_S`` seconds, the days touched since the last look."""

from __future__ import annotations

import asyncio
import logging

from server.context import FrameContext
from stats import rollup

log = logging.getLogger(__name__)


async def roll_up_every(every_s: float) -> None:
    """``rollup.refresh()`` every ``every_s`` seconds until cancelled; a failure is logged and retried next round."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await rollup.refresh()
        except Exception:  # noqa: BLE001 - a background job must not kill the worker
            log.warning("statistics rollup failed", exc_info=True)


def start(ctx: FrameContext) -> None:
    """Start the periodic rollup (``STATS_ROLLUP_EVERY_S``, 0: off). Workers may run it side by side: it is idempotent."""
    if ctx.settings.stats_rollup_every_s > 0:
        ctx.start_task(roll_up_every(ctx.settings.stats_rollup_every_s))
