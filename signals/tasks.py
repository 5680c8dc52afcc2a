"""The detection job inside ``serve``: a background task of each worker (the watermark's lease lets one run at a time)."""

from __future__ import annotations

from server.context import FrameContext
from signals.detect import detect_every


def start(ctx: FrameContext) -> None:
    """Detect every ``SIGNALS_INTERVAL_S`` while the app runs (``SIGNALS_WORKER``, off under XINYI_ENV=test)."""
    if ctx.settings.signals_worker:
        ctx.start_task(detect_every(ctx.settings))
