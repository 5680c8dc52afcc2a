"""Breach reports: a merchant reports, a regulator decides; the resident's score moves only when upheld."""

from __future__ import annotations

import uuid

import pytest

from redemptions.models import AuditEntry
from tests import factories as f

MP = "/api/v1/mp"
MERCHANT = "/api/v1/merchant"
ADMIN = "/api/v1/admin"


@pytest.fixture
async def stay(client):
    """A hotel, a deposit-free stay redeemed for a tier-A resident (no records: score 600)."""
    hotel = await f.make_shop(client, name="丽江古城酒店", category="hotel")
    offer = await f.make_offer(
        client, hotel, scenario="rental", type="deposit_waiver", value=80000, label="免押金入住"
    )
    scanned = await f.make_scanned_pass(client, hotel, 1)
    r = await f.redeem(client, hotel["cashier"], scanned["scan_id"], offer["id"])
    assert r.status_code == 201, r.text
    return {"hotel": hotel, "offer": offer, "resident": scanned["resident"], "redemption": r.json()}


async def score(client, resident) -> dict:
    r = await client.get(f"{MP}/score", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()


async def report(client, stay, **body):
    payload = {
        "redemption_id": stay["redemption"]["id"],
        "kind": "no_show",
        "description": "预订后未入住，也未取消",
        **body,
    }
    return await client.post(f"{MERCHANT}/breaches", json=payload, headers=stay["hotel"]["cashier"])


async def decide(client, breach_id: str, outcome: str, **extra):
    return await client.post(
        f"{ADMIN}/breaches/{breach_id}/decision",
        json={"outcome": outcome, "note": "核实", **extra},
        headers=await client.admin_headers(),
    )


class TestReport:
    async def test_a_report_is_under_review_and_changes_no_score(self, client, stay):
        before = await score(client, stay["resident"])
        r = await report(client, stay, kind="damage", amount_fen=25000)
        assert r.status_code == 201, r.text
        assert (r.json()["status"], r.json()["kind"], r.json()["amount_fen"]) == (
            "under_review",
            "damage",
            25000,
        )
        assert await score(client, stay["resident"]) == before
        listed = (await client.get(f"{MERCHANT}/breaches", headers=stay["hotel"]["headers"])).json()["items"]
        assert [b["id"] for b in listed] == [r.json()["id"]]

    async def test_one_report_per_redemption(self, client, stay):
        assert (await report(client, stay)).status_code == 201
        r = await report(client, stay, kind="unpaid")
        assert r.status_code == 409 and f.error_code(r) == "BREACH_EXISTS"

    async def test_only_for_the_merchants_own_completed_redemptions(self, client, stay):
        other = await f.make_shop(client, name="玉龙雪山景区")
        r = await client.post(
            f"{MERCHANT}/breaches",
            json={"redemption_id": stay["redemption"]["id"], "kind": "no_show", "description": "?"},
            headers=other["headers"],
        )
        assert r.status_code == 404 and f.error_code(r) == "REDEMPTION_NOT_FOUND"
        r = await client.post(
            f"{MERCHANT}/redemptions/{stay['redemption']['id']}/reverse",
            json={"reason": "取消"},
            headers=stay["hotel"]["cashier"],
        )
        assert r.status_code == 200
        r = await report(client, stay)
        assert r.status_code == 409 and f.error_code(r) == "REDEMPTION_REVERSED"

    async def test_bad_reports_are_422_and_need_a_staff_token(self, client, stay):
        r = await report(client, stay, kind="late")
        assert r.status_code == 422 and "kind" in r.json()["error"]["fields"]
        r = await report(client, stay, amount_fen=0)
        assert r.status_code == 422 and "amount_fen" in r.json()["error"]["fields"]
        r = await client.post(
            f"{MERCHANT}/breaches", content=b"nonsense", headers=stay["resident"]["headers"]
        )
        assert r.status_code == 401


class TestDecision:
    async def test_upheld_creates_a_contract_breach_record_and_the_score_follows(self, client, stay):
        breach = (await report(client, stay)).json()
        before = await score(client, stay["resident"])
        assert before["tier"] == "A"
        r = await decide(client, breach["id"], "upheld", severity="minor")
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["severity"]) == ("upheld", "minor") and r.json()[
            "credit_record_id"
        ]
        after = await score(client, stay["resident"])
        assert after["score"] == before["score"] - 10 and after["tier"] == "B"
        records = (await client.get(f"{MP}/records", headers=stay["resident"]["headers"])).json()["items"]
        assert [(x["category"], x["status"]) for x in records] == [("contract_breach", "active")]
        assert "丽江古城酒店" in records[0]["title"]
        # The live tier is what the next scan and redemption see.
        s = await f.make_scanned_pass(client, stay["hotel"], 1, resident=stay["resident"])
        r = await f.redeem(client, stay["hotel"]["cashier"], s["scan_id"], stay["offer"]["id"])
        assert r.status_code == 403 and f.error_code(r) == "TIER_TOO_LOW"

    async def test_rejected_changes_nothing(self, client, stay):
        breach = (await report(client, stay)).json()
        before = await score(client, stay["resident"])
        r = await decide(client, breach["id"], "rejected")
        assert (
            r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["credit_record_id"] is None
        )
        assert await score(client, stay["resident"]) == before
        assert (await client.get(f"{MP}/records", headers=stay["resident"]["headers"])).json()["items"] == []

    async def test_deciding_twice_is_a_conflict_and_each_decision_is_audited(self, client, stay):
        breach = (await report(client, stay)).json()
        assert (await decide(client, breach["id"], "rejected")).status_code == 200
        r = await decide(client, breach["id"], "upheld")
        assert r.status_code == 409 and f.error_code(r) == "BREACH_ALREADY_DECIDED"
        assert (await client.get(f"{MP}/records", headers=stay["resident"]["headers"])).json()["items"] == []
        actions = [
            (a.action, a.actor_type)
            for a in await AuditEntry.filter(target_id=breach["id"]).order_by("at", "id")
        ]
        assert actions == [("breach.reported", "staff"), ("breach.rejected", "admin")]

    async def test_the_regulator_lists_reports_to_decide(self, client, stay):
        breach = (await report(client, stay)).json()
        r = await client.get(
            f"{ADMIN}/breaches", params={"status": "under_review"}, headers=await client.admin_headers()
        )
        assert r.status_code == 200
        items = r.json()["items"]
        assert [(i["id"], i["merchant_name"], i["resident_id"]) for i in items] == [
            (breach["id"], "丽江古城酒店", stay["resident"]["resident"]["id"])
        ]
        await decide(client, breach["id"], "upheld")
        r = await client.get(
            f"{ADMIN}/breaches", params={"status": "under_review"}, headers=await client.admin_headers()
        )
        assert r.json()["items"] == []

    async def test_unknown_reports_bad_outcomes_and_other_audiences(self, client, stay):
        breach = (await report(client, stay)).json()
        assert (await decide(client, str(uuid.uuid4()), "upheld")).status_code == 404
        r = await decide(client, breach["id"], "maybe")
        assert r.status_code == 422 and "outcome" in r.json()["error"]["fields"]
        r = await client.post(
            f"{ADMIN}/breaches/{breach['id']}/decision", content=b"{", headers=stay["hotel"]["headers"]
        )
        assert r.status_code == 401
        assert (await client.get(f"{ADMIN}/breaches", headers=stay["hotel"]["headers"])).status_code == 401
