"""Offers over HTTP: owners propose and change them, regulators approve, scans show the approved ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coupons.models import Offer
from tests import factories as f

MERCHANT = "/api/v1/merchant"
ADMIN = "/api/v1/admin"
NOW = datetime.now(UTC)


@pytest.fixture
async def owner(client):
    return await f.make_merchant(client, stores=2)


async def scan_offer_ids(client, m, seed: int, store_index: int = 0) -> set[str]:
    """What a scanner at the store is shown for a fresh tier-A resident."""
    resident = await f.make_resident(client, seed)
    token = (await f.issue_pass(client, resident["headers"]))["token"]
    r = await f.make_scan(client, m["headers"], token, m["stores"][store_index]["id"])
    assert r.status_code == 201, r.text
    return {b["offer_id"] for b in r.json()["benefits"]}


class TestCreate:
    async def test_the_owner_proposes_an_offer_pending_approval(self, client, owner):
        r = await client.post(
            f"{MERCHANT}/offers",
            json=f.offer_body(total_stock=100, per_resident_limit=1, per_resident_period="day"),
            headers=owner["headers"],
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "pending_approval" and body["merchant_id"] == owner["id"]
        assert (body["type"], body["value"], body["min_tier"], body["total_stock"], body["remaining"]) == (
            "percent_off",
            20,
            "A",
            100,
            100,
        )
        assert body["store_ids"] == [] and body["all_stores"] is True

    async def test_a_cashier_or_manager_may_not(self, client, owner):
        for role in ("cashier", "manager"):
            headers = await f.make_staff(client, owner, role=role, store_ids=[owner["stores"][0]["id"]])
            r = await client.post(f"{MERCHANT}/offers", json=f.offer_body(), headers=headers)
            assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
        assert await Offer.all().count() == 0

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"scenario": "shopping"}, "scenario"),
            ({"type": "cashback"}, "type"),
            ({"value": 0}, "value"),
            ({"value": 101}, "value"),
            ({"value": None}, "value"),
            ({"value": "20"}, "value"),
            ({"type": "amount_off", "value": 0}, "value"),
            ({"type": "deposit_waiver", "value": -100}, "value"),
            ({"type": "priority_lane", "value": 5}, "value"),
            ({"label": "   "}, "label"),
            ({"label": "长" * 65}, "label"),
            ({"min_tier": "restricted"}, "min_tier"),
            ({"min_tier": "AAAA"}, "min_tier"),
            ({"requires_claim": "yes"}, "requires_claim"),
            ({"valid_until": (NOW - timedelta(days=2)).isoformat()}, "valid_until"),
            ({"valid_from": (NOW + timedelta(days=40)).isoformat()}, "valid_until"),
            ({"valid_from": "2025-01-01T00:00:00"}, "valid_from"),
            ({"total_stock": -1}, "total_stock"),
            ({"per_resident_limit": 0, "per_resident_period": "day"}, "per_resident_limit"),
            ({"per_resident_limit": 1, "per_resident_period": "week"}, "per_resident_period"),
            ({"per_resident_limit": 1}, "per_resident_period"),
            ({"per_resident_period": "month"}, "per_resident_limit"),
            ({"store_ids": ["not-a-uuid"]}, "store_ids"),
            ({"store_ids": [str(uuid.uuid4())]}, "store_ids"),
            ({"discount": 5}, "discount"),
        ],
    )
    async def test_each_bad_field_is_named(self, client, owner, overrides, field):
        r = await client.post(f"{MERCHANT}/offers", json=f.offer_body(**overrides), headers=owner["headers"])
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "VALIDATION_ERROR" and field in r.json()["error"]["fields"], (
            r.text
        )

    async def test_a_store_of_another_merchant_is_refused(self, client, owner):
        other = await f.make_merchant(client, name="丽江古城酒店", category="hotel")
        r = await client.post(
            f"{MERCHANT}/offers",
            json=f.offer_body(store_ids=[other["stores"][0]["id"]]),
            headers=owner["headers"],
        )
        assert r.status_code == 422 and "store_ids" in r.json()["error"]["fields"]

    @pytest.mark.parametrize(
        "terms",
        [
            {"type": "percent_off", "value": 100},
            {"type": "amount_off", "value": 5000},
            {"type": "deposit_waiver", "value": 50000, "total_stock": 0},
            {"type": "priority_lane", "value": None},
            {"type": "express_checkout"},
            {"type": "free_ride", "value": None, "min_tier": "AAA", "requires_claim": True},
        ],
    )
    async def test_every_offer_type_with_its_value_rule(self, client, owner, terms):
        body = f.offer_body(**terms)
        if "value" not in terms:
            body.pop("value")
        r = await client.post(f"{MERCHANT}/offers", json=body, headers=owner["headers"])
        assert r.status_code == 201, r.text
        assert r.json()["value"] == terms.get("value")


class TestApproval:
    async def test_an_offer_is_granted_only_once_a_regulator_approved_it(self, client, owner):
        offer = await f.make_offer(client, owner, approve=False)
        assert await scan_offer_ids(client, owner, 51) == set()
        r = await client.post(f"{ADMIN}/offers/{offer['id']}/approve", headers=await client.admin_headers())
        assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["approved_at"]
        assert await scan_offer_ids(client, owner, 52) == {offer["id"]}

    async def test_regulators_see_what_waits_and_approve_once(self, client, owner):
        offer = await f.make_offer(client, owner, approve=False)
        admin = await client.admin_headers()
        waiting = (
            await client.get(f"{ADMIN}/offers", params={"status": "pending_approval"}, headers=admin)
        ).json()
        assert [o["id"] for o in waiting["items"]] == [offer["id"]]
        assert (await client.post(f"{ADMIN}/offers/{offer['id']}/approve", headers=admin)).status_code == 200
        again = await client.post(f"{ADMIN}/offers/{offer['id']}/approve", headers=admin)
        assert again.status_code == 409 and again.json()["error"]["code"] == "OFFER_NOT_PENDING"
        missing = await client.post(f"{ADMIN}/offers/{uuid.uuid4()}/approve", headers=admin)
        assert missing.status_code == 404
        assert (
            await client.post(f"{ADMIN}/offers/{offer['id']}/approve", headers=owner["headers"])
        ).status_code == 401

    async def test_a_rejected_offer_carries_the_note_and_is_never_granted(self, client, owner):
        offer = await f.make_offer(client, owner, approve=False)
        r = await client.post(
            f"{ADMIN}/offers/{offer['id']}/reject",
            json={"note": "折扣超出备案范围"},
            headers=await client.admin_headers(),
        )
        assert (
            r.status_code == 200
            and r.json()["status"] == "rejected"
            and r.json()["review_note"] == "折扣超出备案范围"
        )
        assert await scan_offer_ids(client, owner, 53) == set()


class TestPatch:
    async def patch(self, client, owner, offer, **changes):
        return await client.patch(f"{MERCHANT}/offers/{offer['id']}", json=changes, headers=owner["headers"])

    async def test_changing_a_term_sends_it_back_to_approval(self, client, owner):
        offer = await f.make_offer(client, owner)
        r = await self.patch(client, owner, offer, value=50)
        assert r.status_code == 200 and r.json()["status"] == "pending_approval" and r.json()["value"] == 50
        assert await scan_offer_ids(client, owner, 54) == set()

    async def test_stock_and_an_earlier_end_need_no_new_approval(self, client, owner):
        offer = await f.make_offer(client, owner, total_stock=10)
        sooner = (datetime.fromisoformat(offer["valid_until"]) - timedelta(days=1)).isoformat()
        r = await self.patch(client, owner, offer, total_stock=500, valid_until=sooner)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["total_stock"], r.json()["remaining"]) == ("active", 500, 500)
        later = (datetime.fromisoformat(offer["valid_until"]) + timedelta(days=30)).isoformat()
        r = await self.patch(client, owner, offer, valid_until=later)
        assert r.json()["status"] == "pending_approval"

    async def test_stock_cannot_go_below_what_was_redeemed(self, client, owner):
        offer = await f.make_offer(client, owner, total_stock=10)
        await Offer.filter(id=offer["id"]).update(redeemed_count=4)  # as the redemption ledger would
        r = await self.patch(client, owner, offer, total_stock=3)
        assert r.status_code == 422 and "total_stock" in r.json()["error"]["fields"]
        r = await self.patch(client, owner, offer, total_stock=4)
        assert r.status_code == 200 and r.json()["remaining"] == 0
        assert await scan_offer_ids(client, owner, 55) == set()  # sold out

    async def test_pause_and_resume(self, client, owner):
        offer = await f.make_offer(client, owner)
        r = await self.patch(client, owner, offer, status="paused")
        assert r.json()["status"] == "paused"
        assert await scan_offer_ids(client, owner, 56) == set()
        r = await self.patch(client, owner, offer, status="active")
        assert r.json()["status"] == "active"
        assert await scan_offer_ids(client, owner, 57) == {offer["id"]}

    async def test_an_offer_never_approved_cannot_be_resumed_by_its_owner(self, client, owner):
        offer = await f.make_offer(client, owner, approve=False)
        r = await self.patch(client, owner, offer, status="active")
        assert r.status_code == 409 and r.json()["error"]["code"] == "OFFER_NOT_RESUMABLE"

    async def test_changes_are_validated_against_the_whole_offer(self, client, owner):
        offer = await f.make_offer(client, owner)
        r = await self.patch(client, owner, offer, type="priority_lane")
        assert r.status_code == 422 and "value" in r.json()["error"]["fields"]
        r = await self.patch(client, owner, offer, type="priority_lane", value=None)
        assert r.status_code == 200 and r.json()["value"] is None
        r = await self.patch(client, owner, offer, label=None)
        assert r.status_code == 422 and "label" in r.json()["error"]["fields"]

    async def test_moving_an_offer_to_one_store(self, client, owner):
        offer = await f.make_offer(client, owner)
        second = owner["stores"][1]["id"]
        r = await self.patch(client, owner, offer, store_ids=[second])
        assert r.json()["store_ids"] == [second] and r.json()["status"] == "pending_approval"
        await client.post(f"{ADMIN}/offers/{offer['id']}/approve", headers=await client.admin_headers())
        assert await scan_offer_ids(client, owner, 58, store_index=0) == set()
        assert await scan_offer_ids(client, owner, 59, store_index=1) == {offer["id"]}

    async def test_only_the_owner_of_this_merchant(self, client, owner):
        offer = await f.make_offer(client, owner)
        cashier = await f.make_staff(client, owner, store_ids=[owner["stores"][0]["id"]])
        r = await client.patch(f"{MERCHANT}/offers/{offer['id']}", json={"total_stock": 1}, headers=cashier)
        assert r.status_code == 403
        stranger = await f.make_merchant(client, name="丽江古城酒店", category="hotel")
        r = await client.patch(
            f"{MERCHANT}/offers/{offer['id']}", json={"total_stock": 1}, headers=stranger["headers"]
        )
        assert r.status_code == 404


class TestList:
    async def test_staff_see_their_merchants_offers_by_status(self, client, owner):
        active = await f.make_offer(client, owner)
        pending = await f.make_offer(client, owner, approve=False, label="待审")
        await f.make_offer(client, await f.make_merchant(client, name="丽江古城酒店", category="hotel"))
        cashier = await f.make_staff(client, owner, store_ids=[owner["stores"][0]["id"]])
        everything = (await client.get(f"{MERCHANT}/offers", headers=cashier)).json()
        assert [o["id"] for o in everything["items"]] == [pending["id"], active["id"]]
        only_active = (
            await client.get(f"{MERCHANT}/offers", params={"status": "active"}, headers=cashier)
        ).json()
        assert [o["id"] for o in only_active["items"]] == [active["id"]]
