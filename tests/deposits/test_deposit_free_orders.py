"""Deposit-free stays over HTTP, as a hotel desk, a resident and a regulator would use them.

Time moves by the app's clock (``client.app.ctx.clock``), as the daily ladder would see it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests import factories as f
from tests.conftest import USES_POSTGRES

MP = "/api/v1/mp"
MERCHANT = "/api/v1/merchant"
ADMIN = "/api/v1/admin"
ORDERS = f"{MERCHANT}/deposit-free-orders"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def clock(client) -> Clock:
    c = Clock()
    client.app.ctx.clock = c
    return c


def _year() -> dict:
    now = datetime.now(UTC)
    return {
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_until": (now + timedelta(days=365)).isoformat(),
    }


async def make_hotel(client, name: str = "丽江古城酒店") -> dict:
    """A hotel with a deposit waiver of ¥500 (travel, tier C and up) and a ¥10 discount."""
    hotel = await f.make_shop(client, name=name, category="hotel")
    hotel["waiver"] = await f.make_offer(
        client,
        hotel,
        scenario="travel",
        type="deposit_waiver",
        value=50000,
        label="免押金入住",
        min_tier="C",
        **_year(),
    )
    hotel["discount"] = await f.make_offer(
        client, hotel, type="amount_off", value=1000, label="立减10元", min_tier="C", **_year()
    )
    return hotel


@pytest.fixture
async def hotel(client, clock) -> dict:
    return await make_hotel(client)


async def scan(client, hotel: dict, resident: dict) -> dict:
    return await f.make_scanned_pass(client, hotel, 0, resident=resident)


async def open_order(client, hotel: dict, scanned: dict, **body) -> object:
    payload = {
        "scan_id": scanned["scan_id"],
        "offer_id": hotel["waiver"]["id"],
        "risk_amount_fen": 30000,
        "expected_end_at": (client.app.ctx.clock() + timedelta(days=2)).isoformat(),
        "external_order_id": f"PMS-{uuid.uuid4().hex[:10]}",
        **body,
    }
    return await client.post(ORDERS, json=payload, headers=hotel["cashier"])


async def opened(client, hotel: dict, resident: dict, **body) -> dict:
    r = await open_order(client, hotel, await scan(client, hotel, resident), **body)
    assert r.status_code == 201, r.text
    return r.json()


async def complete(client, hotel: dict, order_id: str, charges: list, **extra) -> object:
    return await client.post(
        f"{ORDERS}/{order_id}/complete", json={"charges": charges, **extra}, headers=hotel["cashier"]
    )


async def advance(client) -> dict:
    r = await client.post(f"{ADMIN}/deposit-free-orders/advance", headers=await client.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def my_orders(client, resident: dict, **params) -> dict:
    r = await client.get(f"{MP}/deposit-free-orders", params=params, headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()


async def merchant_orders(client, hotel: dict, **params) -> list:
    r = await client.get(ORDERS, params=params, headers=hotel["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


class TestStay:
    async def test_a_stay_opened_and_completed_with_no_charge(self, client, hotel):
        guest = await f.make_resident(client, 1)
        order = await opened(client, hotel, guest)
        assert (order["status"], order["risk_amount_fen"]) == ("open", 30000)
        assert [o["status"] for o in await merchant_orders(client, hotel, status="open")] == ["open"]
        # The waiver is a redemption in the merchant's ledger.
        ledger = (await client.get(f"{MERCHANT}/redemptions", headers=hotel["headers"])).json()["items"]
        assert [(x["id"], x["offer_id"]) for x in ledger] == [(order["redemption_id"], hotel["waiver"]["id"])]

        # Express check-out: no charges, no inspection step, nothing owed.
        r = await complete(client, hotel, order["id"], [])
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["amount_due_fen"], r.json()["settle_by"]) == (
            "completed_no_charge",
            0,
            None,
        )
        mine = (await my_orders(client, guest))["items"]
        assert [(o["status"], o["merchant"]["name"], o["charges"]) for o in mine] == [
            ("completed_no_charge", "丽江古城酒店", [])
        ]
        r = await complete(client, hotel, order["id"], [])
        assert r.status_code == 409 and f.error_code(r) == "ORDER_NOT_OPEN"

    async def test_charges_unpaid_run_down_the_ladder_until_settled(self, client, hotel, clock):
        guest = await f.make_resident(client, 2)
        order = await opened(client, hotel, guest)
        r = await complete(
            client,
            hotel,
            order["id"],
            [
                {"kind": "room", "amount_fen": 20000},
                {"kind": "minibar", "amount_fen": 3500, "note": "两瓶水"},
            ],
        )
        assert r.status_code == 200, r.text
        completed = r.json()
        assert (completed["status"], completed["amount_due_fen"]) == ("awaiting_payment", 23500)
        settle_by = datetime.fromisoformat(completed["settle_by"])
        assert settle_by == clock.now + timedelta(days=30)
        mine = (await my_orders(client, guest))["items"][0]
        assert [(c["kind"], c["amount_fen"]) for c in mine["charges"]] == [("room", 20000), ("minibar", 3500)]
        assert datetime.fromisoformat(mine["settle_by"]) == settle_by

        assert await advance(client) == {"overdue": 0, "suspended": 0}  # not yet due
        clock.advance(days=31)
        assert await advance(client) == {"overdue": 1, "suspended": 0}
        assert await advance(client) == {"overdue": 0, "suspended": 0}  # once
        assert (await my_orders(client, guest))["items"][0]["status"] == "overdue"
        inbox = (await client.get(f"{MP}/notifications", headers=guest["headers"])).json()["items"]
        assert [n["kind"] for n in inbox] == ["deposit_free_overdue"]
        breach = {
            "order_id": order["id"],
            "kind": "unpaid",
            "description": "退房后拒付房费",
            "amount_fen": 23500,
        }
        r = await client.post(f"{MERCHANT}/breaches", json=breach, headers=hotel["cashier"])
        assert r.status_code == 409 and f.error_code(r) == "ORDER_NOT_OVERDUE"  # the grace is not over
        # The deposit-free benefit still scans during the grace.
        assert "deposit_waiver" in {b["type"] for b in (await scan(client, hotel, guest))["benefits"]}

        clock.advance(days=7)
        assert await advance(client) == {"overdue": 0, "suspended": 1}
        assert (await my_orders(client, guest))["deposit_free_suspended"] is True
        r = await client.get(f"{MP}/benefits", params={"merchant_id": hotel["id"]}, headers=guest["headers"])
        assert {(b["type"], b["eligible"]) for b in r.json()["items"]} == {
            ("deposit_waiver", False),
            ("amount_off", True),
        }
        # Suspended everywhere: no deposit waiver at the scan, refused at redemption; a discount still granted.
        scanned = await scan(client, hotel, guest)
        assert {b["type"] for b in scanned["benefits"]} == {"amount_off"}
        r = await f.redeem(client, hotel["cashier"], scanned["scan_id"], hotel["waiver"]["id"])
        assert r.status_code == 403 and f.error_code(r) == "DEPOSIT_FREE_SUSPENDED"
        r = await f.redeem(client, hotel["cashier"], scanned["scan_id"], hotel["discount"]["id"])
        assert r.status_code == 201 and r.json()["discount_fen"] == 1000
        other = await make_hotel(client, name="大理洱海客栈")
        r = await open_order(client, other, await scan(client, other, guest), offer_id=other["waiver"]["id"])
        assert r.status_code == 403 and f.error_code(r) == "DEPOSIT_FREE_SUSPENDED"

        # The hotel reports the breach; the regulator upholds it: a contract_breach record.
        r = await client.post(f"{MERCHANT}/breaches", json=breach, headers=hotel["cashier"])
        assert r.status_code == 201, r.text
        assert (r.json()["order_id"], r.json()["redemption_id"], r.json()["status"]) == (
            order["id"],
            None,
            "under_review",
        )
        r = await client.post(
            f"{ADMIN}/breaches/{r.json()['id']}/decision",
            json={"outcome": "upheld", "note": "核实拒付", "severity": "minor"},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "upheld" and r.json()["credit_record_id"]
        records = (await client.get(f"{MP}/records", headers=guest["headers"])).json()["items"]
        assert [x["category"] for x in records] == ["contract_breach"]

        # Paid: settled, and the suspension lifted at once.
        r = await client.post(
            f"{ORDERS}/{order['id']}/settle", json={"paid_fen": 23500}, headers=hotel["cashier"]
        )
        assert r.status_code == 200 and r.json()["status"] == "settled", r.text
        assert (await my_orders(client, guest))["deposit_free_suspended"] is False
        scanned = await scan(client, hotel, guest)
        assert "deposit_waiver" in {b["type"] for b in scanned["benefits"]}
        r = await f.redeem(client, hotel["cashier"], scanned["scan_id"], hotel["waiver"]["id"])
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{ORDERS}/{order['id']}/settle", json={"paid_fen": 1}, headers=hotel["cashier"]
        )
        assert r.status_code == 409 and f.error_code(r) == "ORDER_NOT_PAYABLE"

    async def test_a_disputed_charge_reaches_the_case_queue_and_an_upheld_one_is_waived(
        self, client, hotel, clock
    ):
        guest = await f.make_resident(client, 3)
        order = await opened(client, hotel, guest)
        assert (
            await complete(client, hotel, order["id"], [{"kind": "damage", "amount_fen": 12000}])
        ).status_code == 200
        r = await client.post(
            f"{MP}/deposit-free-orders/{order['id']}/dispute",
            json={"reason": "入住时已有划痕"},
            headers=guest["headers"],
        )
        assert r.status_code == 201, r.text
        dispute = r.json()
        assert dispute["status"] == "open"
        r = await client.post(
            f"{MP}/deposit-free-orders/{order['id']}/dispute",
            json={"reason": "再次"},
            headers=guest["headers"],
        )
        assert r.status_code == 409 and f.error_code(r) == "DISPUTE_OPEN"
        r = await client.get(
            f"{ADMIN}/cases", params={"kind": "charge_dispute"}, headers=await client.admin_headers()
        )
        assert r.status_code == 200, r.text
        assert [(c["kind"], c["id"], c["status"]) for c in r.json()["items"]] == [
            ("charge_dispute", dispute["id"], "open")
        ]
        # Under dispute, the ladder waits.
        clock.advance(days=40)
        assert await advance(client) == {"overdue": 0, "suspended": 0}
        r = await client.post(
            f"{ADMIN}/charge-disputes/{dispute['id']}/decision",
            json={"outcome": "upheld", "note": "照片显示划痕早已存在"},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["order"]["status"], r.json()["order"]["amount_due_fen"]) == (
            "upheld",
            "completed_no_charge",
            0,
        )
        mine = (await my_orders(client, guest))["items"][0]
        assert [c["waived"] for c in mine["charges"]] == [True] and mine["dispute"]["status"] == "upheld"
        r = await client.post(
            f"{MP}/deposit-free-orders/{order['id']}/dispute",
            json={"reason": "again"},
            headers=guest["headers"],
        )
        assert r.status_code == 409 and f.error_code(r) == "ORDER_NOT_DISPUTABLE"
        # Both are in the resident's copy of their data.
        mine = (await client.get(f"{MP}/export", headers=guest["headers"])).json()
        assert [o["id"] for o in mine["deposit_free_orders"]] == [order["id"]]
        assert [(d["id"], d["status"]) for d in mine["charge_disputes"]] == [(dispute["id"], "upheld")]

    async def test_a_second_open_order_is_refused_and_cancelling_frees_the_place(self, client, hotel):
        guest = await f.make_resident(client, 4)
        first = await opened(client, hotel, guest, external_order_id="PMS-1")
        r = await open_order(client, hotel, await scan(client, hotel, guest))
        assert r.status_code == 409 and f.error_code(r) == "DEPOSIT_FREE_BLOCKED"
        # Another merchant may open one at the same time.
        other = await make_hotel(client, name="大理洱海客栈")
        r = await open_order(client, other, await scan(client, other, guest), offer_id=other["waiver"]["id"])
        assert r.status_code == 201, r.text
        # Cancelling gives the waiver back in the ledger and lets a new order open.
        r = await client.post(f"{ORDERS}/{first['id']}/cancel", headers=hotel["cashier"])
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        ledger = (await client.get(f"{MERCHANT}/redemptions", headers=hotel["headers"])).json()["items"]
        assert [x["status"] for x in ledger] == ["reversed"]
        r = await client.post(f"{ORDERS}/{first['id']}/cancel", headers=hotel["cashier"])
        assert r.status_code == 409 and f.error_code(r) == "ORDER_NOT_OPEN"
        assert (await open_order(client, hotel, await scan(client, hotel, guest))).status_code == 201

    async def test_an_overdue_order_anywhere_blocks_a_new_one(self, client, hotel, clock):
        guest = await f.make_resident(client, 5)
        order = await opened(client, hotel, guest)
        await complete(client, hotel, order["id"], [{"kind": "late_return", "amount_fen": 5000}])
        clock.advance(days=31)
        assert (await advance(client))["overdue"] == 1
        other = await make_hotel(client, name="大理洱海客栈")
        r = await open_order(client, other, await scan(client, other, guest), offer_id=other["waiver"]["id"])
        assert r.status_code == 409 and f.error_code(r) == "DEPOSIT_FREE_BLOCKED"
        # A breach the regulator rejects counts against the merchant in the signals.
        clock.advance(days=7)
        breach = {"order_id": order["id"], "kind": "unpaid", "description": "未归还"}
        r = await client.post(f"{MERCHANT}/breaches", json=breach, headers=hotel["cashier"])
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{ADMIN}/breaches/{r.json()['id']}/decision",
            json={"outcome": "rejected", "note": "合同未约定"},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
        r = await client.get(
            f"{ADMIN}/signals", params={"kind": "breach_rejected"}, headers=await client.admin_headers()
        )
        assert [(s["merchant_id"], s["count"]) for s in r.json()["items"]] == [(hotel["id"], 1)]
        r = await client.post(f"{MERCHANT}/breaches", json=breach, headers=hotel["cashier"])
        assert r.status_code == 409 and f.error_code(r) == "BREACH_EXISTS"

    async def test_the_same_external_order_id_answers_the_same_order(self, client, hotel):
        guest = await f.make_resident(client, 6)
        scanned = await scan(client, hotel, guest)
        body = {"external_order_id": "PMS-42", "expected_end_at": "2099-01-01T12:00:00+08:00"}
        first = await open_order(client, hotel, scanned, **body)
        assert first.status_code == 201, first.text
        again = await open_order(client, hotel, scanned, **body)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        other = await open_order(client, hotel, scanned, **body, risk_amount_fen=100)
        assert other.status_code == 409 and f.error_code(other) == "IDEMPOTENCY_CONFLICT"


class TestRefusals:
    async def test_validation_errors(self, client, hotel):
        guest = await f.make_resident(client, 7)
        scanned = await scan(client, hotel, guest)
        r = await open_order(client, hotel, scanned, risk_amount_fen=50001)
        assert r.status_code == 422 and "risk_amount_fen" in r.json()["error"]["fields"]
        r = await open_order(client, hotel, scanned, offer_id=hotel["discount"]["id"])
        assert r.status_code == 422 and "offer_id" in r.json()["error"]["fields"]
        r = await open_order(client, hotel, scanned, risk_amount_fen=0, external_order_id="")
        assert r.status_code == 422 and {"risk_amount_fen", "external_order_id"} <= set(
            r.json()["error"]["fields"]
        )
        r = await open_order(client, hotel, scanned, expected_end_at="2020-01-01T00:00:00+08:00")
        assert r.status_code == 422 and "expected_end_at" in r.json()["error"]["fields"]
        order = await opened(client, hotel, guest)
        r = await complete(client, hotel, order["id"], [{"kind": "spa", "amount_fen": 100}])
        assert r.status_code == 422 and "charges.0.kind" in r.json()["error"]["fields"]
        r = await complete(client, hotel, order["id"], [{"kind": "damage", "amount_fen": 30001}])
        assert r.status_code == 422 and "charges" in r.json()["error"]["fields"]
        r = await client.post(
            f"{ORDERS}/{order['id']}/settle", json={"paid_fen": 1}, headers=hotel["cashier"]
        )
        assert r.status_code == 409 and f.error_code(r) == "ORDER_NOT_PAYABLE"
        r = await client.post(
            f"{ORDERS}/{uuid.uuid4()}/complete", json={"charges": []}, headers=hotel["cashier"]
        )
        assert r.status_code == 404
        r = await client.get(ORDERS, params={"status": "lost"}, headers=hotel["headers"])
        assert r.status_code == 422

    async def test_charges_above_the_risk_go_to_a_regulator_and_show_in_signals(self, client, hotel):
        guest = await f.make_resident(client, 8)
        order = await opened(client, hotel, guest)
        r = await complete(
            client, hotel, order["id"], [{"kind": "damage", "amount_fen": 45000}], regulator_review=True
        )
        assert r.status_code == 200, r.text
        assert (r.json()["over_risk"], r.json()["amount_due_fen"]) == (True, 45000)
        r = await client.get(
            f"{ADMIN}/signals", params={"kind": "charge_over_risk"}, headers=await client.admin_headers()
        )
        assert r.status_code == 200, r.text
        assert [(s["merchant_id"], s["detail"]["order_id"]) for s in r.json()["items"]] == [
            (hotel["id"], order["id"])
        ]

    async def test_a_black_listed_resident_gets_no_order_and_other_merchants_see_nothing(
        self, client, hotel, id_number
    ):
        guest = await f.make_resident(client, 9)
        scanned = await scan(client, hotel, guest)
        await f.blacklist(client, id_number(9))
        r = await open_order(client, hotel, scanned)
        assert r.status_code == 403 and f.error_code(r) == "TIER_RESTRICTED"
        other = await make_hotel(client, name="大理洱海客栈")
        assert await merchant_orders(client, other) == []


@pytest.mark.skipif(not USES_POSTGRES, reason="the race needs PostgreSQL's concurrent writers")
class TestRace:
    async def test_two_desks_opening_at_once_make_exactly_one_order(self, client, hotel):
        guest = await f.make_resident(client, 10)
        first, second = await scan(client, hotel, guest), await scan(client, hotel, guest)
        answers = await asyncio.gather(open_order(client, hotel, first), open_order(client, hotel, second))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"DEPOSIT_FREE_BLOCKED"}
        assert len(await merchant_orders(client, hotel, status="open")) == 1
        ledger = (await client.get(f"{MERCHANT}/redemptions", headers=hotel["headers"])).json()["items"]
        assert sorted(x["status"] for x in ledger) in (["completed"], ["completed", "reversed"])
