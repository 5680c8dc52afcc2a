"""The public benefit catalogue over HTTP: no login, by merchant, filtered by region and scenario, no `eligible`."""

from __future__ import annotations

from tests import factories as f

PUBLIC = "/api/v1/public"


async def test_the_catalogue_is_public_and_filters_by_region_and_scenario(client):
    lijiang = await f.make_merchant(client, name="玉龙雪山景区", region="530701")
    dali = await f.make_merchant(client, name="大理古城客栈", region="532901", category="hotel")
    ticket = await f.make_offer(client, lijiang, label="门票八折")
    ride = await f.make_offer(
        client, dali, label="接驳车免费", scenario="transport", type="free_ride", value=None
    )
    await f.make_offer(client, dali, approve=False, label="待审批的优惠")

    r = await client.get(f"{PUBLIC}/benefits")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert {i["offer_id"] for i in items} == {ticket["id"], ride["id"]}  # never one waiting for approval
    for item in items:
        assert "eligible" not in item and "tier" not in r.json()
        assert set(item) >= {"offer_id", "merchant", "scenario", "type", "label", "min_tier", "valid_until"}
    by_offer = {i["offer_id"]: i for i in items}
    assert by_offer[ticket["id"]]["merchant"] == {"id": lijiang["id"], "name": "玉龙雪山景区"}

    in_dali = (await client.get(f"{PUBLIC}/benefits", params={"region": "532900"})).json()["items"]
    assert [i["offer_id"] for i in in_dali] == [ride["id"]]
    in_yunnan = (await client.get(f"{PUBLIC}/benefits", params={"region": "530000"})).json()["items"]
    assert len(in_yunnan) == 2
    travel = (await client.get(f"{PUBLIC}/benefits", params={"scenario": "travel"})).json()["items"]
    assert [i["offer_id"] for i in travel] == [ticket["id"]]
    bad = await client.get(f"{PUBLIC}/benefits", params={"region": "5307"})
    assert bad.status_code == 422 and "region" in bad.json()["error"]["fields"]
    assert (await client.get(f"{PUBLIC}/benefits", params={"scenario": "gambling"})).status_code == 422

    cached = await client.get(f"{PUBLIC}/benefits")
    assert cached.headers["etag"] and cached.headers["cache-control"] == "public, no-cache"
    again = await client.get(f"{PUBLIC}/benefits", headers={"If-None-Match": cached.headers["etag"]})
    assert again.status_code == 304
