"""The rollup job: it recomputes only the days touched since it last looked, and recomputing a day changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyroaring import BitMap

from credit.scoring import LOCAL_TZ
from stats import rollup
from stats.models import DailyCell, DailyRegion
from tests import factories as f


async def rows() -> list[tuple]:
    cells = await DailyCell.all().order_by("day", "store_id", "offer_id", "tier")
    regions = await DailyRegion.all().order_by("day", "level", "region")
    return [
        (c.day, c.store_id, c.offer_id, c.tier, c.region, c.scans_accepted, c.redemptions, c.discount_fen,
         sorted(BitMap.deserialize(c.residents)))
        for c in cells
    ] + [(r.day, r.level, r.region, r.scans_accepted, r.redemptions, r.resident_count) for r in regions]  # fmt: skip


class TestRollup:
    async def test_only_touched_days_are_recomputed_and_recomputing_changes_nothing(self, client):
        shop = await f.make_shop(client, region="532901")
        offer = await f.make_offer(
            client,
            shop,
            type="amount_off",
            value=500,
            valid_from=(datetime.now(UTC) - timedelta(days=10)).isoformat(),
        )
        now = datetime.now(UTC) - timedelta(days=2)
        client.app.ctx.clock = lambda: now
        for seed in range(3):
            s = await f.make_scanned_pass(client, shop, 400 + seed)
            r = await f.redeem(client, shop["cashier"], s["scan_id"], offer["id"], order_amount_fen=1000)
            assert r.status_code == 201, r.text
        day = now.astimezone(LOCAL_TZ).date()

        assert await rollup.refresh() == {day}
        assert await rollup.refresh() == set()  # nothing changed: nothing recomputed
        before = await rows()
        assert {(r[0], r[1], r[2]) for r in before if len(r) == 6} == {
            (day, 6, "532901"),
            (day, 4, "532900"),
            (day, 2, "530000"),
        }
        await rollup.recompute_days([day, day - timedelta(days=1)])
        assert await rows() == before  # whole days, deleted and inserted again: the same rows

        later = now + timedelta(days=1)
        client.app.ctx.clock = lambda: later
        await f.make_scanned_pass(client, shop, 410)
        # The new scan's day, and the days of rows within the overlap window of the last watermark (here
        # the first day: every earlier row was stamped at one instant) are rolled up again.
        assert await rollup.refresh() == {day, later.astimezone(LOCAL_TZ).date()}
        assert await rollup.refresh() == set()
