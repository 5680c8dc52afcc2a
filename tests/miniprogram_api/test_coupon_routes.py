"""Residents' coupons over HTTP: claim, the wallet, redeeming a coupon at the store, the history."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from redemptions.models import Coupon
from redemptions.wallet import unused_coupons
from tests import factories as f

MP = "/api/v1/mp"
MERCHANT = "/api/v1/merchant"


@pytest.fixture
async def hotel(client):
    """A hotel with a deposit-free stay that needs a claimed coupon (stock 3, one a month per resident)."""
    m = await f.make_shop(client, name="丽江古城酒店", category="hotel")
    m["stay"] = await f.make_offer(
        client,
        m,
        scenario="rental",
        type="deposit_waiver",
        value=80000,
        label="免押金入住",
        requires_claim=True,
        total_stock=3,
        per_resident_limit=1,
        per_resident_period="month",
    )
    return m


async def claim(client, resident, offer_id, *, key: str | None = None):
    headers = {**resident["headers"], **({"Idempotency-Key": key} if key else {})}
    return await client.post(f"{MP}/offers/{offer_id}/claim", headers=headers)


class TestClaim:
    async def test_a_claim_puts_an_active_coupon_in_the_wallet_and_takes_a_unit(self, client, hotel):
        resident = await f.make_resident(client, 1)
        r = await claim(client, resident, hotel["stay"]["id"])
        assert r.status_code == 201, r.text
        coupon = r.json()["coupon"]
        assert set(coupon) == {"id", "offer_id", "status", "expires_at"}
        assert (coupon["offer_id"], coupon["status"]) == (hotel["stay"]["id"], "active")
        expires = datetime.fromisoformat(coupon["expires_at"])
        assert datetime.now(UTC) + timedelta(days=29) < expires <= datetime.now(UTC) + timedelta(days=30)
        wallet = (await client.get(f"{MP}/coupons", headers=resident["headers"])).json()["items"]
        assert [(c["id"], c["status"], c["label"], c["merchant"]["name"]) for c in wallet] == [
            (coupon["id"], "active", "免押金入住", "丽江古城酒店")
        ]
        state = await f.offer_state(client, hotel, hotel["stay"]["id"])
        assert (state["redeemed_count"], state["remaining"]) == (1, 2)

    async def test_a_second_claim_in_the_month_is_limit_reached(self, client, hotel):
        resident = await f.make_resident(client, 2)
        assert (await claim(client, resident, hotel["stay"]["id"])).status_code == 201
        r = await claim(client, resident, hotel["stay"]["id"])
        assert r.status_code == 409 and f.error_code(r) == "LIMIT_REACHED"

    async def test_claims_stop_at_the_stock(self, client, hotel):
        for seed in (3, 4, 5):
            assert (
                await claim(client, await f.make_resident(client, seed), hotel["stay"]["id"])
            ).status_code == 201
        r = await claim(client, await f.make_resident(client, 6), hotel["stay"]["id"])
        assert r.status_code == 409 and f.error_code(r) == "OUT_OF_STOCK"

    async def test_racing_claims_never_exceed_the_stock(self, client, hotel):
        residents = [await f.make_resident(client, 10 + i) for i in range(8)]
        answers = await asyncio.gather(*(claim(client, r, hotel["stay"]["id"]) for r in residents))
        assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 5, [r.text for r in answers]
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"OUT_OF_STOCK"}
        assert await Coupon.filter(offer_id=hotel["stay"]["id"]).count() == 3

    async def test_tier_and_black_list_are_checked_live(self, client, hotel, id_number):
        suite = await f.make_offer(
            client,
            hotel,
            scenario="rental",
            type="amount_off",
            value=10000,
            label="套房立减",
            requires_claim=True,
            min_tier="AA",
        )
        resident = await f.make_resident(client, 20)
        r = await claim(client, resident, suite["id"])
        assert r.status_code == 403 and f.error_code(r) == "TIER_TOO_LOW"
        await f.blacklist(client, id_number(20))
        r = await claim(client, resident, hotel["stay"]["id"])
        assert r.status_code == 403 and f.error_code(r) == "TIER_RESTRICTED"

    async def test_an_offer_granted_at_the_scan_is_not_claimable(self, client, hotel):
        plain = await f.make_offer(client, hotel)
        r = await claim(client, await f.make_resident(client, 21), plain["id"])
        assert r.status_code == 409 and f.error_code(r) == "OFFER_NOT_CLAIMABLE"
        r = await claim(client, await f.make_resident(client, 22), str(uuid.uuid4()))
        assert r.status_code == 404

    async def test_a_retry_with_the_same_key_gets_the_same_coupon(self, client, hotel):
        resident = await f.make_resident(client, 23)
        key = f.new_key()
        first = await claim(client, resident, hotel["stay"]["id"], key=key)
        again = await claim(client, resident, hotel["stay"]["id"], key=key)
        assert first.status_code == again.status_code == 201 and again.json() == first.json()
        assert again.headers["Idempotency-Replayed"] == "true"
        other = await f.make_offer(
            client, hotel, type="amount_off", value=100, label="立减", requires_claim=True
        )
        r = await claim(client, resident, other["id"], key=key)
        assert r.status_code == 409 and f.error_code(r) == "IDEMPOTENCY_CONFLICT"
        assert (await f.offer_state(client, hotel, hotel["stay"]["id"]))["redeemed_count"] == 1

    async def test_claiming_needs_consent_and_identity(self, client, hotel):
        resident = await client.login_resident()
        r = await claim(client, resident, hotel["stay"]["id"])
        assert r.status_code == 403 and f.error_code(r) == "CONSENT_REQUIRED"


class TestRedeemWithCoupon:
    async def test_the_coupon_is_used_once_and_takes_no_second_unit(self, client, hotel):
        scanned = await f.make_scanned_pass(client, hotel, 30)
        resident = scanned["resident"]
        coupon = (await claim(client, resident, hotel["stay"]["id"])).json()["coupon"]
        r = await f.redeem(client, hotel["cashier"], scanned["scan_id"], hotel["stay"]["id"])
        assert r.status_code == 409 and f.error_code(r) == "COUPON_REQUIRED"
        r = await f.redeem(
            client, hotel["cashier"], scanned["scan_id"], hotel["stay"]["id"], coupon_id=coupon["id"]
        )
        assert r.status_code == 201, r.text
        assert (r.json()["coupon_id"], r.json()["deposit_waived_fen"]) == (coupon["id"], 80000)
        assert (await f.offer_state(client, hotel, hotel["stay"]["id"]))["redeemed_count"] == 1
        again = await f.make_scanned_pass(client, hotel, 30, resident=resident)
        r = await f.redeem(
            client, hotel["cashier"], again["scan_id"], hotel["stay"]["id"], coupon_id=coupon["id"]
        )
        assert r.status_code == 409 and f.error_code(r) == "COUPON_USED"
        wallet = (await client.get(f"{MP}/coupons", headers=resident["headers"])).json()["items"]
        assert [(c["status"], c["used_at"] is not None) for c in wallet] == [("used", True)]

    async def test_someone_elses_coupon_is_invalid(self, client, hotel):
        owner_of_coupon = await f.make_resident(client, 31)
        coupon = (await claim(client, owner_of_coupon, hotel["stay"]["id"])).json()["coupon"]
        stranger = await f.make_scanned_pass(client, hotel, 32)
        r = await f.redeem(
            client, hotel["cashier"], stranger["scan_id"], hotel["stay"]["id"], coupon_id=coupon["id"]
        )
        assert r.status_code == 409 and f.error_code(r) == "COUPON_INVALID"

    async def test_a_reversal_gives_the_coupon_back(self, client, hotel):
        scanned = await f.make_scanned_pass(client, hotel, 33)
        coupon = (await claim(client, scanned["resident"], hotel["stay"]["id"])).json()["coupon"]
        rid = (
            await f.redeem(
                client, hotel["cashier"], scanned["scan_id"], hotel["stay"]["id"], coupon_id=coupon["id"]
            )
        ).json()["id"]
        r = await client.post(
            f"{MERCHANT}/redemptions/{rid}/reverse", json={"reason": "客人改期"}, headers=hotel["cashier"]
        )
        assert r.status_code == 200
        wallet = (await client.get(f"{MP}/coupons", headers=scanned["resident"]["headers"])).json()["items"]
        assert [c["status"] for c in wallet] == ["active"]
        # The stock stays with the coupon: nothing came back to the offer.
        assert (await f.offer_state(client, hotel, hotel["stay"]["id"]))["redeemed_count"] == 1
        again = await f.make_scanned_pass(client, hotel, 33, resident=scanned["resident"])
        r = await f.redeem(
            client, hotel["cashier"], again["scan_id"], hotel["stay"]["id"], coupon_id=coupon["id"]
        )
        assert r.status_code == 201

    async def test_an_expired_coupon_is_refused_and_shown_expired(self, client, hotel):
        scanned = await f.make_scanned_pass(client, hotel, 34)
        coupon = (await claim(client, scanned["resident"], hotel["stay"]["id"])).json()["coupon"]
        await Coupon.filter(id=coupon["id"]).update(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        r = await f.redeem(
            client, hotel["cashier"], scanned["scan_id"], hotel["stay"]["id"], coupon_id=coupon["id"]
        )
        assert r.status_code == 409 and f.error_code(r) == "COUPON_EXPIRED"
        r = await client.get(
            f"{MP}/coupons", params={"status": "expired"}, headers=scanned["resident"]["headers"]
        )
        assert [c["id"] for c in r.json()["items"]] == [coupon["id"]]
        r = await client.get(
            f"{MP}/coupons", params={"status": "active"}, headers=scanned["resident"]["headers"]
        )
        assert r.json()["items"] == []

    async def test_a_coupon_expires_with_its_offer(self, client, hotel):
        resident = await f.make_resident(client, 35)
        await claim(client, resident, hotel["stay"]["id"])
        soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        r = await client.patch(
            f"{MERCHANT}/offers/{hotel['stay']['id']}", json={"valid_until": soon}, headers=hotel["headers"]
        )
        assert r.status_code == 200, r.text
        wallet = (await client.get(f"{MP}/coupons", headers=resident["headers"])).json()["items"]
        assert datetime.fromisoformat(wallet[0]["expires_at"]) == datetime.fromisoformat(soon)

    async def test_the_scan_finds_the_residents_unused_coupon(self, client, hotel):
        resident = await f.make_resident(client, 36)
        coupon = (await claim(client, resident, hotel["stay"]["id"])).json()["coupon"]
        other_offer = uuid.uuid4()
        found = await unused_coupons(
            uuid.UUID(resident["resident"]["id"]), [uuid.UUID(hotel["stay"]["id"]), other_offer]
        )
        assert found == {uuid.UUID(hotel["stay"]["id"]): uuid.UUID(coupon["id"])}
        stranger = await f.make_resident(client, 37)
        assert (
            await unused_coupons(uuid.UUID(stranger["resident"]["id"]), [uuid.UUID(hotel["stay"]["id"])])
            == {}
        )

    async def test_the_scan_answer_carries_the_coupon_of_a_holder_only(self, client, hotel):
        holder = await f.make_resident(client, 38)
        coupon = (await claim(client, holder, hotel["stay"]["id"])).json()["coupon"]
        seen = await f.make_scanned_pass(client, hotel, 38, resident=holder)
        stay = [b for b in seen["benefits"] if b["offer_id"] == hotel["stay"]["id"]]
        assert stay == [
            {
                "offer_id": hotel["stay"]["id"],
                "type": "deposit_waiver",
                "label": "免押金入住",
                "value": 80000,
                "coupon_id": coupon["id"],
            }
        ]
        other = await f.make_scanned_pass(client, hotel, 39)
        assert all(b["offer_id"] != hotel["stay"]["id"] for b in other["benefits"])
        r = await f.redeem(
            client, hotel["cashier"], seen["scan_id"], hotel["stay"]["id"], coupon_id=stay[0]["coupon_id"]
        )
        assert r.status_code == 201, r.text


class TestHistory:
    async def test_the_resident_sees_every_redemption_with_merchant_and_reversal(self, client):
        shop = await f.make_shop(client)
        ticket = await f.make_offer(client, shop)
        first = await f.make_scanned_pass(client, shop, 40)
        second = await f.make_scanned_pass(client, shop, 40, resident=first["resident"])
        a = (
            await f.redeem(client, shop["cashier"], first["scan_id"], ticket["id"], order_amount_fen=5000)
        ).json()
        b = (
            await f.redeem(client, shop["cashier"], second["scan_id"], ticket["id"], order_amount_fen=1000)
        ).json()
        await client.post(
            f"{MERCHANT}/redemptions/{a['id']}/reverse", json={"reason": "退票"}, headers=shop["cashier"]
        )
        r = await client.get(f"{MP}/redemptions", headers=first["resident"]["headers"])
        assert r.status_code == 200
        items = r.json()["items"]
        assert [
            (i["id"], i["status"], i["discount_fen"], i["label"], i["merchant"]["name"]) for i in items
        ] == [
            (b["id"], "completed", 200, "门票八折", "玉龙雪山景区"),
            (a["id"], "reversed", 1000, "门票八折", "玉龙雪山景区"),
        ]
        assert items[1]["reversed_at"] is not None
        stranger = await f.make_resident(client, 41)
        assert (await client.get(f"{MP}/redemptions", headers=stranger["headers"])).json()["items"] == []
        assert (await client.get(f"{MP}/redemptions", headers=shop["headers"])).status_code == 401
