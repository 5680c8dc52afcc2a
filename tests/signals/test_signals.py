"""GET /api/v1/admin/signals over HTTP: what scans and redemptions, made as staff make them, produce."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from signals.models import SignalWatermark
from signals.service import record_signal
from tests import factories as f

ADMIN = "/api/v1/admin"


class Clock:
    """Ten days ahead, on the hour plus five seconds (every window of a test starts at the same boundary)."""

    def __init__(self) -> None:
        ahead = datetime.now(UTC) + timedelta(days=10)
        self.now = ahead.replace(minute=0, second=5, microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def clock(client) -> Clock:
    c = Clock()
    client.app.ctx.clock = c
    return c


def thresholds(client: Any, **changes: Any) -> None:
    client.app.ctx.settings = client.app.ctx.settings.with_overrides(**changes)


async def signals(client: Any, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"{ADMIN}/signals", params=params, headers=await client.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def scan(client: Any, resident: dict[str, Any], staff: dict[str, str], store_id: str) -> Any:
    token = (await f.issue_pass(client, resident["headers"]))["token"]
    r = await f.make_scan(client, staff, token, store_id)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_burst_far_above_the_stores_baseline_is_a_scan_burst(client, clock):
    thresholds(client, signal_burst_min=10, signal_burst_factor=5.0, signal_baseline_days=3)
    shop = await f.make_shop(client)
    quiet = await f.make_shop(client, name="安静的客栈")
    resident = await f.make_resident(client, 1)
    burst_at = clock.now
    for days in (3, 2, 1):  # the baseline: one scan a day at this hour
        clock.now = burst_at - timedelta(days=days)
        await scan(client, resident, shop["cashier"], f.store(shop))
    clock.now = burst_at
    for _ in range(12):
        await scan(client, resident, shop["cashier"], f.store(shop))
        clock.advance(seconds=3)
    for _ in range(9):  # below the minimum count: no signal at the quiet store
        await scan(client, resident, quiet["cashier"], f.store(quiet))
    clock.advance(minutes=2)

    found = await signals(client, kind="scan_burst")

    assert len(found) == 1, found
    burst = found[0]
    assert burst["store_id"] == f.store(shop) and burst["merchant_id"] == shop["id"]
    assert burst["count"] == 12 and burst["resident_ref"] is None
    assert burst["window_start"].startswith(burst_at.replace(second=0).isoformat()[:16])
    assert burst["detail"]["baseline_per_minute"] == pytest.approx(3 / 180, abs=0.001)

    # Running again, even from scratch, finds the same signal rather than another one.
    again = await signals(client)
    await SignalWatermark.all().update(done_until=None)
    after_reset = await signals(client)
    assert [s["id"] for s in again] == [s["id"] for s in after_reset] == [burst["id"]]


async def test_the_same_burst_over_a_busy_baseline_is_no_signal(client, clock):
    thresholds(
        client, signal_burst_min=6, signal_burst_factor=2.0, signal_baseline_days=1, signals_lookback_s=3600
    )
    shop = await f.make_shop(client)
    resident = await f.make_resident(client, 2)
    burst_at = clock.now
    clock.now = burst_at - timedelta(days=1, minutes=20)
    for _ in range(200):  # yesterday, around this hour: 200 scans in the hour, over 3 a minute
        await scan(client, resident, shop["cashier"], f.store(shop))
        clock.advance(seconds=10)
    clock.now = burst_at
    for _ in range(6):
        await scan(client, resident, shop["cashier"], f.store(shop))
    clock.advance(minutes=2)

    assert await signals(client, kind="scan_burst") == []


async def test_a_store_refusing_most_scans_is_a_refusal_spike(client, clock):
    thresholds(client, signal_refusal_min_scans=8, signal_refusal_share=0.5)
    shop = await f.make_shop(client)
    resident = await f.make_resident(client, 3)
    for _ in range(2):
        await scan(client, resident, shop["cashier"], f.store(shop))
    for i in range(7):
        r = await f.make_scan(client, shop["cashier"], f"forged.pass.{i}", f.store(shop))
        assert r.status_code in (400, 401, 403, 422), r.text
        clock.advance(seconds=20)

    found = await signals(client, kind="refusal_spike")

    assert len(found) == 1, found
    spike = found[0]
    assert spike["store_id"] == f.store(shop) and spike["count"] == 7
    assert spike["detail"]["scans"] == 9 and spike["detail"]["share"] == pytest.approx(7 / 9, abs=0.001)
    assert sum(spike["detail"]["reasons"].values()) == 7


async def test_kunming_then_lijiang_twenty_minutes_later_is_impossible_travel(client, clock):
    kunming = await f.make_shop(client, name="昆明老街", region="530100")
    lijiang = await f.make_shop(client, name="丽江古城", region="530700")
    traveller = await f.make_resident(client, 4)
    plausible = await f.make_resident(client, 5)
    start = clock.now
    await scan(client, traveller, kunming["cashier"], f.store(kunming))
    await scan(client, plausible, kunming["cashier"], f.store(kunming))
    clock.advance(minutes=20)
    await scan(client, traveller, lijiang["cashier"], f.store(lijiang))
    clock.advance(hours=4)  # 320 km in four hours and twenty minutes: a car does that
    await scan(client, plausible, lijiang["cashier"], f.store(lijiang))
    clock.advance(minutes=1)

    found = await signals(client, kind="impossible_travel")

    assert len(found) == 1, found
    journey = found[0]
    assert journey["store_id"] == f.store(lijiang) and journey["merchant_id"] == lijiang["id"]
    assert journey["detail"]["from_store_id"] == f.store(kunming)
    assert (journey["detail"]["from_region"], journey["detail"]["to_region"]) == ("530100", "530700")
    assert journey["detail"]["distance_km"] > 250 and journey["detail"]["minutes"] == 20
    assert journey["detail"]["speed_kmh"] > 300
    assert journey["window_start"].startswith(start.isoformat()[:19])
    # A pseudonym for regulators: neither the resident's id nor what the merchants saw.
    ref = journey["resident_ref"]
    assert ref and len(ref) == 20
    assert ref != traveller["resident"]["id"]


async def test_a_cashier_redeeming_for_the_same_resident_again_and_again(client, clock):
    thresholds(client, signal_repeat_redemptions=5)
    shop = await f.make_shop(client)
    offer = await f.make_offer(client, shop, type="amount_off", value=500, label="立减5元")
    regular = await f.make_resident(client, 6)
    other = await f.make_resident(client, 7)
    for _ in range(6):
        scanned = await scan(client, regular, shop["cashier"], f.store(shop))
        r = await f.redeem(client, shop["cashier"], scanned["scan_id"], offer["id"])
        assert r.status_code == 201, r.text
        clock.advance(minutes=5)
    for _ in range(5):  # five is the limit, not over it
        scanned = await scan(client, other, shop["cashier"], f.store(shop))
        r = await f.redeem(client, shop["cashier"], scanned["scan_id"], offer["id"])
        assert r.status_code == 201, r.text

    found = await signals(client, kind="redemption_pattern")

    assert len(found) == 1, found
    pattern = found[0]
    assert pattern["count"] == 6 and pattern["store_id"] == f.store(shop)
    assert pattern["detail"]["redemptions"] == 6 and pattern["resident_ref"]


async def test_signals_recorded_by_other_domains_are_listed_once_and_filtered(client, clock):
    shop = await f.make_shop(client)
    at = clock.now - timedelta(hours=1)
    for _ in range(2):
        await record_signal(
            "offline_duplicate",
            shop["id"],
            f.store(shop),
            resident_ref="a" * 20,
            window_start=at,
            window_end=at + timedelta(minutes=1),
            count=2,
            detail={"device_id": "till-1", "seq": [4, 9]},
        )

    assert [s["kind"] for s in await signals(client)] == ["offline_duplicate"]
    assert len(await signals(client, kind="offline_duplicate", merchant_id=shop["id"])) == 1
    assert await signals(client, merchant_id=str(uuid.uuid4())) == []
    later = (clock.now + timedelta(minutes=5)).isoformat()
    assert await signals(client, **{"from": later}) == []
    assert len(await signals(client, **{"to": later})) == 1


@pytest.mark.parametrize(
    "params",
    [{"kind": "bogus"}, {"from": "yesterday"}, {"from": "2026-05-02", "to": "2026-05-01"}, {"limit": "0"}],
)
async def test_bad_filters_are_422(client, params):
    r = await client.get(f"{ADMIN}/signals", params=params, headers=await client.admin_headers())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_only_regulators_read_signals(client):
    assert (await client.get(f"{ADMIN}/signals")).status_code == 401
    shop = await f.make_shop(client)
    r = await client.get(f"{ADMIN}/signals", headers=shop["headers"])
    assert r.status_code in (401, 403)
