"""Pilots over HTTP: a scenario in pilot is offered only at stores inside its regions (benefits, scans,
claims, redemptions, approval), and ``GET /mp/benefits?region=`` filters by the store's region."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories as f

ADMIN = "/api/v1/admin"
MP = "/api/v1/mp"


@pytest.fixture
async def shops(client) -> dict[str, Any]:
    """A shop in 大理市 (532901) and one in 丽江 (530700), each with an approved travel offer; a resident."""
    dali = await f.make_shop(client, name="大理古城客栈", region="532901")
    lijiang = await f.make_shop(client, name="丽江古城客栈", region="530700")
    return {
        "dali": dali,
        "lijiang": lijiang,
        "dali_offer": await f.make_offer(client, dali, label="大理八折"),
        "lijiang_offer": await f.make_offer(client, lijiang, label="丽江八折"),
        "resident": await f.make_resident(client, 11),
    }


async def put_pilot(client: Any, scenario: str, regions: list[str]) -> Any:
    return await client.put(
        f"{ADMIN}/pilots/{scenario}", json={"regions": regions}, headers=await client.admin_headers()
    )


async def end_pilot(client: Any, scenario: str) -> Any:
    return await client.delete(f"{ADMIN}/pilots/{scenario}", headers=await client.admin_headers())


async def benefit_labels(client: Any, resident: dict[str, Any], **params: Any) -> list[str]:
    r = await client.get(f"{MP}/benefits", params=params, headers=resident["headers"])
    assert r.status_code == 200, r.text
    return sorted(item["label"] for item in r.json()["items"])


async def scanned_labels(
    client: Any, shop: dict[str, Any], resident: dict[str, Any]
) -> tuple[str, list[str]]:
    answer = await f.make_scanned_pass(client, shop, 0, resident=resident)
    return answer["scan_id"], [b["label"] for b in answer["benefits"]]


async def test_a_pilot_hides_offers_outside_its_regions_until_it_ends(client, shops):
    resident = shops["resident"]
    assert await benefit_labels(client, resident) == ["丽江八折", "大理八折"]

    r = await put_pilot(client, "travel", ["532900"])
    assert r.status_code == 200, r.text
    assert r.json()["scenario"] == "travel" and r.json()["regions"] == ["532900"]

    # the catalogue and the scan's offers: only 大理's
    assert await benefit_labels(client, resident) == ["大理八折"]
    assert (await scanned_labels(client, shops["dali"], resident))[1] == ["大理八折"]
    scan_id, labels = await scanned_labels(client, shops["lijiang"], resident)
    assert labels == []
    # redeeming it anyway is refused with a clear code
    r = await f.redeem(
        client, shops["lijiang"]["cashier"], scan_id, shops["lijiang_offer"]["id"], order_amount_fen=10000
    )
    assert f.status_and_code(r) == (409, "OFFER_OUTSIDE_PILOT")
    # another scenario is not in pilot: offered everywhere
    transport = await f.make_offer(
        client, shops["lijiang"], scenario="transport", label="接驳车免费", type="free_ride", value=None
    )
    assert "接驳车免费" in await benefit_labels(client, resident)

    r = await client.get(f"{ADMIN}/pilots", headers=await client.admin_headers())
    assert [(p["scenario"], p["regions"]) for p in r.json()["items"]] == [("travel", ["532900"])]

    r = await end_pilot(client, "travel")
    assert r.status_code == 204, r.text
    assert await benefit_labels(client, resident, scenario="travel") == ["丽江八折", "大理八折"]
    scan_id, labels = await scanned_labels(client, shops["lijiang"], resident)
    assert sorted(labels) == ["丽江八折", "接驳车免费"]
    r = await f.redeem(
        client, shops["lijiang"]["cashier"], scan_id, shops["lijiang_offer"]["id"], order_amount_fen=10000
    )
    assert r.status_code == 201, r.text
    assert transport["status"] == "active"
    r = await client.get(f"{ADMIN}/pilots", headers=await client.admin_headers())
    assert r.json()["items"] == []


async def test_a_province_code_rolls_up_and_a_county_narrows(client, shops):
    resident = shops["resident"]
    assert (await put_pilot(client, "travel", ["530000"])).status_code == 200
    assert await benefit_labels(client, resident) == ["丽江八折", "大理八折"]
    assert (await put_pilot(client, "travel", ["532922"])).status_code == 200  # 漾濞县, not 大理市
    assert await benefit_labels(client, resident) == []
    assert (await put_pilot(client, "travel", ["532901", "530700"])).status_code == 200
    assert await benefit_labels(client, resident) == ["丽江八折", "大理八折"]


async def test_approval_refuses_an_offer_with_stores_outside_the_pilot(client, shops):
    assert (await put_pilot(client, "travel", ["532900"])).status_code == 200
    admin = await client.admin_headers()
    outside = await f.make_offer(client, shops["lijiang"], approve=False, label="丽江新优惠")
    inside = await f.make_offer(client, shops["dali"], approve=False, label="大理新优惠")

    r = await client.post(f"{ADMIN}/offers/{outside['id']}/approve", headers=admin)
    assert f.status_and_code(r) == (409, "OFFER_OUTSIDE_PILOT")
    error = r.json()["error"]
    assert "门店1 (530700)" in error["message"]
    assert [s["id"] for s in error["stores"]] == [f.store(shops["lijiang"])]
    r = await client.post(f"{ADMIN}/offers/{inside['id']}/approve", headers=admin)
    assert r.status_code == 200, r.text
    # still waiting: approved once the pilot ends
    assert (await f.offer_state(client, shops["lijiang"], outside["id"]))["status"] == "pending_approval"
    assert (await end_pilot(client, "travel")).status_code == 204
    r = await client.post(f"{ADMIN}/offers/{outside['id']}/approve", headers=admin)
    assert r.status_code == 200, r.text


async def test_a_coupon_of_an_offer_outside_the_pilot_cannot_be_claimed(client, shops):
    coupon_offer = await f.make_offer(client, shops["lijiang"], requires_claim=True, label="丽江领券")
    assert (await put_pilot(client, "travel", ["532900"])).status_code == 200
    r = await client.post(f"{MP}/offers/{coupon_offer['id']}/claim", headers=shops["resident"]["headers"])
    assert f.status_and_code(r) == (409, "OFFER_OUTSIDE_PILOT")
    assert (await end_pilot(client, "travel")).status_code == 204
    r = await client.post(f"{MP}/offers/{coupon_offer['id']}/claim", headers=shops["resident"]["headers"])
    assert r.status_code == 201, r.text


async def test_benefits_filter_by_the_stores_region(client, shops):
    resident = shops["resident"]
    assert await benefit_labels(client, resident, region="532900") == ["大理八折"]
    assert await benefit_labels(client, resident, region="532901") == ["大理八折"]
    assert await benefit_labels(client, resident, region="5329") == ["大理八折"]
    assert await benefit_labels(client, resident, region="530700") == ["丽江八折"]
    assert await benefit_labels(client, resident, region="530000") == ["丽江八折", "大理八折"]
    assert await benefit_labels(client, resident, region="530100") == []
    for bad in ("5329001", "abc", "990000"):
        r = await client.get(f"{MP}/benefits", params={"region": bad}, headers=resident["headers"])
        assert f.status_and_code(r) == (422, "VALIDATION_ERROR"), bad


@pytest.mark.parametrize(
    ("scenario", "body"),
    [
        ("travel", {"regions": []}),
        ("travel", {"regions": ["53290"]}),
        ("travel", {}),
        ("holiday", {"regions": ["530000"]}),
    ],
)
async def test_bad_pilots_are_422(client, scenario, body):
    r = await client.put(f"{ADMIN}/pilots/{scenario}", json=body, headers=await client.admin_headers())
    assert f.status_and_code(r) == (422, "VALIDATION_ERROR")


async def test_ending_a_pilot_that_does_not_run_is_404_and_only_regulators_pilot(client):
    assert f.status_and_code(await end_pilot(client, "loan")) == (404, "PILOT_NOT_FOUND")
    r = await client.put(f"{ADMIN}/pilots/travel", json={"regions": ["530000"]})
    assert r.status_code == 401
