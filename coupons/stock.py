"""An offer's stock accounting: units redeemed but not yet added to ``redeemed_count``, and the fold that adds them.

The redemption ledger takes a unit in its own statement (``take_unit_sql``, ``note_pending_unit_sql``);
coupons own the offer row and the pending units, and fold them into the count exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from coupons.models import Offer
from coupons.units import PendingUnit
from server.context import FrameContext
from server.dbtypes import DbConn, column_values
from server.outage import Backoff, unavailable
from server.sql import DirectPool

log = logging.getLogger(__name__)

OFFERS = Offer._meta.db_table
PENDING = PendingUnit._meta.db_table


def pending_units_sql(offer: str) -> str:
    """The number of the offer's units redeemed while it had no stock limit and not folded yet (nearly always 0).

    A stock check counts them too, so a stock set meanwhile is never oversold.
    """
    return f"(SELECT count(*) FROM {PENDING} p WHERE p.offer_id = {offer})"


PG_FOLD_SQL = f"""
WITH locked AS (SELECT id FROM {OFFERS} WHERE id = $1 FOR NO KEY UPDATE),
taken AS (DELETE FROM {PENDING} p USING locked l WHERE p.offer_id = l.id RETURNING 1 AS one),
added AS (
  UPDATE {OFFERS} SET redeemed_count = redeemed_count + (SELECT count(*) FROM taken)
  WHERE id = $1 AND EXISTS (SELECT 1 FROM taken)
  RETURNING 1 AS one
)
SELECT (SELECT count(*) FROM taken) AS units, (SELECT count(*) FROM added) AS added
"""


FOLD_EVERY_S = 0.25
"""How soon a redemption of an unlimited offer shows in ``redeemed_count`` (a sweep also runs every minute)."""
FOLD_RETRY_MAX_S = 5.0
"""The longest pause between two attempts of a fold that keeps failing (the database is down)."""


class _FoldSignal:
    """Set when this process redeemed a unit of an unlimited offer, so its fold loop runs soon."""

    due = False


_fold = _FoldSignal()


def fold_soon() -> None:
    """A unit was noted as pending in this process: fold within ``FOLD_EVERY_S`` rather than at the next sweep."""
    _fold.due = True


async def fold_counts(db: DirectPool | None = None) -> int:
    """Add the pending units of unlimited offers (``PendingUnit``) to their ``offers.redeemed_count``.

    Why not in the redemption: the offer row would be locked from the redemption's update to
    its commit, so every redemption of a popular offer would wait for the previous one's commit
    (its WAL flush), and each update leaves a dead version of the one hot row that the next
    redemptions walk past. An offer without a stock limit has nothing to protect, so its
    redemption notes the unit in a row of its own and it is added here, within ``FOLD_EVERY_S``.

    Exactly once: per offer, the offer row is locked first (in a fixed order, so two folds never
    wait on each other in a cycle, and a stock being set on the offer waits or is waited for),
    then its pending rows are deleted and their number added, in one transaction. A reversal
    deletes its pending row instead, and whichever deletes the row first decides. On PostgreSQL
    with the ledger's pool that is one statement (``PG_FOLD_SQL``), so redemptions, which
    share-lock the offer row, never wait for a fold's round trips.
    Returns how many units were added.
    """
    added = 0
    offer_ids = sorted(set(await column_values(PendingUnit.all().distinct(), "offer_id")))
    if db is not None:
        async with db.connection() as raw:
            for offer_id in offer_ids:
                row = await raw.fetchrow(PG_FOLD_SQL, offer_id)
                added += row["added"] and row["units"]
        return added
    for offer_id in offer_ids:
        async with in_transaction() as tx:
            # A model query: Tortoise drops FOR UPDATE from exists() and values_list().
            if await Offer.filter(id=offer_id).select_for_update().using_db(tx).first() is None:
                await PendingUnit.filter(offer_id=offer_id).using_db(tx).delete()  # the offer is gone
                continue
            added += await fold_offer(tx, offer_id)
    return added


async def fold_offer(conn: DbConn, offer_id: uuid.UUID) -> int:
    """Add one offer's pending units to its ``redeemed_count`` now; the caller holds the offer row's lock.

    Also before an unlimited offer gets a stock limit (``coupons.service.update_offer``), so the
    limit is checked against every unit and ``remaining`` is exact at once. A fold locks the
    offer row before it deletes pending rows, so two folds never count a unit twice.
    """
    units = await PendingUnit.filter(offer_id=offer_id).using_db(conn).delete()
    if units:
        await Offer.filter(id=offer_id).using_db(conn).update(redeemed_count=F("redeemed_count") + units)
    return units


async def fold_periodically(
    db: DirectPool | None, *, every_s: float = FOLD_EVERY_S, sweep_s: float = 60.0
) -> None:
    """Background task of each worker: fold soon after this worker's unlimited redemptions, and sweep every minute
    (for units left by a worker that stopped before folding). A flag polled by a sleep, no database round trip
    while nothing is due.

    A fold that fails (the database restarting) is tried again, after a pause that doubles up to
    ``FOLD_RETRY_MAX_S``, until one succeeds: the loop outlives any outage, and the units wait as
    pending rows meanwhile (stock checks count them).
    """
    since_sweep = 0.0
    backoff = Backoff(first_s=every_s, cap_s=FOLD_RETRY_MAX_S)
    while True:
        await asyncio.sleep(every_s + backoff.delay())
        since_sweep += every_s
        if not _fold.due and since_sweep < sweep_s:
            continue
        _fold.due, since_sweep = False, 0.0
        fold = asyncio.ensure_future(fold_counts(db))
        try:
            await asyncio.shield(fold)
        except asyncio.CancelledError:
            # The server is stopping: let a fold already under way finish (milliseconds) rather
            # than leave its query running against a connection that is about to close.
            await asyncio.gather(fold, return_exceptions=True)
            raise
        except Exception as exc:  # noqa: BLE001 - the next round folds what this one could not
            _fold.due = True
            backoff.failed()
            if service := unavailable(exc):
                log.warning(
                    "folding redemption counts failed: the %s is unavailable (%s)",
                    service,
                    type(exc).__name__,
                )
            else:
                log.warning("folding redemption counts failed", exc_info=True)
        else:
            backoff.succeeded()


async def give_back_unit(conn: DbConn, *, offer_id: uuid.UUID, redemption_id: uuid.UUID) -> None:
    """A reversed redemption's unit goes back to the offer, in the caller's transaction, exactly once.

    A unit still pending never reached ``redeemed_count``: taking it back is deleting it. A fold
    that is adding it right now holds its row, so this waits and then finds it counted.
    """
    if not await PendingUnit.filter(redemption_id=redemption_id).using_db(conn).delete():
        await (
            Offer.filter(id=offer_id, redeemed_count__gt=0)
            .using_db(conn)
            .update(redeemed_count=F("redeemed_count") - 1)
        )


def start(ctx: FrameContext, ledger_db: DirectPool | None) -> None:
    """Fold unlimited offers' pending units into their counts, on the ledger's pool when there is one."""
    ctx.start_task(fold_periodically(ledger_db))
