"""The ledger's lifecycle and housekeeping: its pool, and the purge of expired Idempotency-Key answers."""

from __future__ import annotations

from datetime import datetime

from redemptions.models import IdempotencyRecord
from redemptions.rules import PURGE_EVERY_S
from server.context import FrameContext
from server.sql import DirectPool
from server.tasks import purge_every


async def purge_idempotency_records(now: datetime) -> int:
    """Delete stored Idempotency-Key answers past their ``expires_at`` (48 h after the request)."""
    return await IdempotencyRecord.filter(expires_at__lt=now).delete()


async def start(ctx: FrameContext) -> DirectPool | None:
    """Open the ledger's pool (PostgreSQL; ``None`` on SQLite) and start the purge; the caller holds the pool."""
    db = await DirectPool.open(ctx.settings.effective_database_url)
    ctx.start_task(purge_every(PURGE_EVERY_S, purge_idempotency_records, what="expired idempotency records"))
    return db


async def stop(db: DirectPool | None) -> None:
    if db is not None:
        await db.close()
