"""GET /api/v1/mp/benefits: active offers with `eligible` for the caller's live tier."""

from __future__ import annotations

import pytest

from tests import factories as f

MP = "/api/v1/mp"


@pytest.fixture
async def offers(client):
    """A scenic spot (A and AA offers, one still pending) and a shuttle (transport, C and up)."""
    spot = await f.make_merchant(client)
    shuttle = await f.make_merchant(client, name="大理摆渡车", category="shuttle", region="532900")
    return {
        "spot": spot,
        "shuttle": shuttle,
        "ticket": await f.make_offer(client, spot),
        "lane": await f.make_offer(
            client, spot, type="priority_lane", value=None, label="优先通道", min_tier="AA"
        ),
        "pending": await f.make_offer(client, spot, approve=False, label="待审"),
        "ride": await f.make_offer(
            client,
            shuttle,
            scenario="transport",
            type="free_ride",
            value=None,
            label="免费摆渡",
            min_tier="C",
        ),
    }


def eligibility(body) -> dict[str, bool]:
    return {item["offer_id"]: item["eligible"] for item in body["items"]}


class TestBenefits:
    async def test_eligible_follows_the_live_tier(self, client, offers):
        resident = await f.make_resident(client, 61)
        r = await client.get(f"{MP}/benefits", headers=resident["headers"])
        assert r.status_code == 200, r.text
        assert r.json()["tier"] == "A"
        assert eligibility(r.json()) == {
            offers["ticket"]["id"]: True,
            offers["lane"]["id"]: False,
            offers["ride"]["id"]: True,
        }
        item = next(i for i in r.json()["items"] if i["offer_id"] == offers["ride"]["id"])
        assert item["merchant"] == {"id": offers["shuttle"]["id"], "name": "大理摆渡车"}
        assert {"scenario", "type", "label", "value", "min_tier", "requires_claim", "valid_until"} <= set(
            item
        )

    async def test_a_black_listed_resident_is_eligible_for_nothing(self, client, offers, id_number):
        resident = await f.make_resident(client, 62)
        await f.blacklist(client, id_number(62))
        body = (await client.get(f"{MP}/benefits", headers=resident["headers"])).json()
        assert body["tier"] == "restricted" and not any(eligibility(body).values()) and body["items"]

    async def test_filters_by_scenario_and_merchant(self, client, offers):
        resident = await f.make_resident(client, 63)
        travel = (
            await client.get(f"{MP}/benefits", params={"scenario": "transport"}, headers=resident["headers"])
        ).json()
        assert set(eligibility(travel)) == {offers["ride"]["id"]}
        spot = (
            await client.get(
                f"{MP}/benefits", params={"merchant_id": offers["spot"]["id"]}, headers=resident["headers"]
            )
        ).json()
        assert set(eligibility(spot)) == {offers["ticket"]["id"], offers["lane"]["id"]}
        r = await client.get(f"{MP}/benefits", params={"scenario": "shopping"}, headers=resident["headers"])
        assert r.status_code == 422 and "scenario" in r.json()["error"]["fields"]

    async def test_paginates(self, client, offers):
        resident = await f.make_resident(client, 64)
        first = (await client.get(f"{MP}/benefits", params={"limit": 2}, headers=resident["headers"])).json()
        rest = (
            await client.get(
                f"{MP}/benefits",
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=resident["headers"],
            )
        ).json()
        assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None

    async def test_needs_consent_and_without_identity_nothing_is_eligible(self, client, offers):
        anonymous = await client.login_resident()
        r = await client.get(f"{MP}/benefits", headers=anonymous["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "CONSENT_REQUIRED"
        consented = await client.login_resident(consent=True)
        body = (await client.get(f"{MP}/benefits", headers=consented["headers"])).json()
        assert body["tier"] is None and len(body["items"]) == 3 and not any(eligibility(body).values())
