"""The ledger's lifecycle and housekeeping: its pool, and the purge of expired Idempotency-Key answers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from redemptions.models import IdempotencyRecord
from redemptions.rules import PURGE_EVERY_S
from server.context import FrameContext
from server.sql import DirectPool

log = logging.getLogger(__name__)


async def purge_idempotency_records(now: datetime) -> int:
    """Delete stored Idempotency-Key answers past their ``expires_at`` (48 h after the request)."""
    return await IdempotencyRecord.filter(expires_at__lt=now).delete()


async def purge_periodically(every_s: float = PURGE_EVERY_S) -> None:
    """Background task of each worker: purge expired Idempotency-Key answers every hour (idempotent)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            purged = await purge_idempotency_records(datetime.now(UTC))
            if purged:
                log.info("purged %d expired idempotency records", purged)
        except Exception:  # noqa: BLE001 - housekeeping must not kill the worker; next hour tries again
            log.warning("purging idempotency records failed", exc_info=True)


async def start(ctx: FrameContext) -> DirectPool | None:
    """Open the ledger's pool (PostgreSQL; ``None`` on SQLite) and start the purge; the caller holds the pool."""
    db = await DirectPool.open(ctx.settings.effective_database_url)
    ctx.start_task(purge_periodically())
    return db


async def stop(db: DirectPool | None) -> None:
    if db is not None:
        await db.close()
