"""Online redemptions by partners: merchant links, grants, idempotency by order, stock shared with the stores."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests import factories as f
from tests.conftest import USES_POSTGRES
from tests.factories import (
    ADMIN,
    MP,
    PARTNER,
    exchange,
    granted_ref,
    make_grant,
    send_signed,
    status_and_code,
    tourism_partner,
)

MERCHANT = "/api/v1/merchant"


async def link(client, partner, *merchants) -> object:
    return await client.put(
        f"{ADMIN}/partners/{partner['id']}/merchants",
        json={"merchant_ids": [m["id"] for m in merchants]},
        headers=await client.admin_headers(),
    )


async def redeem(client, partner, ref: str, offer_id: str, order: str, amount: int = 10_000):
    return await send_signed(
        client,
        partner,
        "POST",
        f"{PARTNER}/redemptions",
        {
            "partner_user_ref": ref,
            "offer_id": offer_id,
            "external_order_id": order,
            "order_amount_fen": amount,
        },
    )


async def store_redeem(client, shop, resident, offer_id: str):
    token = (await f.issue_pass(client, resident["headers"]))["token"]
    scan = await f.make_scan(client, shop["headers"], token, shop["stores"][0]["id"])
    assert scan.status_code == 201, scan.text
    return await client.post(
        f"{MERCHANT}/redemptions",
        headers=shop["headers"],
        json={"scan_id": scan.json()["scan_id"], "offer_id": offer_id, "order_amount_fen": 10_000},
    )


async def remaining(client, shop, offer_id: str) -> int | None:
    r = await client.get(f"{MERCHANT}/offers", headers=shop["headers"], params={"limit": 200})
    return next(o for o in r.json()["items"] if o["id"] == offer_id)["remaining"]


@pytest.fixture
async def shop(client):
    m = await f.make_merchant(client, name="玉龙雪山景区")
    m["offer"] = await f.make_offer(client, m, type="amount_off", value=500, label="立减5元", total_stock=10)
    return m


@pytest.fixture
async def partner(client, shop):
    p = await tourism_partner(client, "一部手机游云南")
    assert (await link(client, p, shop)).status_code == 200
    return p


@pytest.fixture
async def resident(client):
    return await f.make_resident(client, 111)


@pytest.fixture
async def ref(client, partner, resident):
    return await granted_ref(client, resident, partner, ("redemption:write",))


class TestMerchantLinks:
    async def test_an_admin_sets_and_replaces_the_merchants_a_partner_may_sell(self, client, shop):
        partner = await tourism_partner(client)
        other = await f.make_merchant(client, name="大理古城")
        admin = await client.admin_headers()
        r = await link(client, partner, shop, other)
        assert r.status_code == 200, r.text
        assert r.json() == {"partner_id": partner["id"], "merchant_ids": sorted([shop["id"], other["id"]])}
        assert (await link(client, partner, other)).json()["merchant_ids"] == [other["id"]]
        r = await client.get(f"{ADMIN}/partners/{partner['id']}/merchants", headers=admin)
        assert r.json()["merchant_ids"] == [other["id"]]
        assert (await link(client, partner)).json()["merchant_ids"] == []

    async def test_unknown_merchants_partners_and_bad_bodies(self, client, shop):
        partner = await tourism_partner(client)
        admin = await client.admin_headers()
        stranger = str(uuid.uuid4())
        r = await client.put(
            f"{ADMIN}/partners/{partner['id']}/merchants", json={"merchant_ids": [stranger]}, headers=admin
        )
        assert (
            status_and_code(r) == (422, "VALIDATION_ERROR")
            and stranger in r.json()["error"]["fields"]["merchant_ids"]
        )
        r = await client.put(
            f"{ADMIN}/partners/{uuid.uuid4()}/merchants", json={"merchant_ids": []}, headers=admin
        )
        assert status_and_code(r) == (404, "PARTNER_NOT_FOUND")
        r = await client.put(
            f"{ADMIN}/partners/{partner['id']}/merchants", json={"merchant_ids": "x"}, headers=admin
        )
        assert status_and_code(r) == (422, "VALIDATION_ERROR")
        r = await client.put(f"{ADMIN}/partners/{partner['id']}/merchants", json={"merchant_ids": []})
        assert r.status_code == 401


class TestOnlineRedemption:
    async def test_a_redemption_through_the_ledger(self, client, partner, shop, ref):
        r = await redeem(client, partner, ref, shop["offer"]["id"], "order-1")
        assert r.status_code == 201, r.text
        body = r.json()
        assert (
            body["offer_id"] == shop["offer"]["id"]
            and body["status"] == "completed"
            and body["discount_fen"] == 500
        )
        assert await remaining(client, shop, shop["offer"]["id"]) == 9

    async def test_the_same_order_again_is_the_same_redemption_and_another_body_a_conflict(
        self, client, partner, shop, ref
    ):
        first = await redeem(client, partner, ref, shop["offer"]["id"], "order-1")
        assert first.status_code == 201, first.text
        again = await redeem(client, partner, ref, shop["offer"]["id"], "order-1")
        assert again.status_code == 200 and again.json() == first.json()
        other = await redeem(client, partner, ref, shop["offer"]["id"], "order-1", amount=20_000)
        assert status_and_code(other) == (409, "IDEMPOTENCY_CONFLICT")
        assert await remaining(client, shop, shop["offer"]["id"]) == 9  # one unit taken, once
        second = await redeem(client, partner, ref, shop["offer"]["id"], "order-2")
        assert second.status_code == 201 and second.json()["id"] != first.json()["id"]

    async def test_orders_are_per_partner(self, client, partner, shop, resident):
        other = await tourism_partner(client, "携程旅行")
        await link(client, other, shop)
        a = await redeem(
            client,
            partner,
            await granted_ref(client, resident, partner, ("redemption:write",)),
            shop["offer"]["id"],
            "order-1",
        )
        b = await redeem(
            client,
            other,
            await granted_ref(client, resident, other, ("redemption:write",)),
            shop["offer"]["id"],
            "order-1",
        )
        assert (a.status_code, b.status_code) == (201, 201) and a.json()["id"] != b.json()["id"]

    async def test_concurrent_retries_of_one_order_make_one_redemption(self, client, partner, shop, ref):
        answers = await asyncio.gather(
            *(redeem(client, partner, ref, shop["offer"]["id"], "order-9") for _ in range(4))
        )
        assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
        assert len({r.json()["id"] for r in answers}) == 1
        assert await remaining(client, shop, shop["offer"]["id"]) == 9

    async def test_an_offer_of_a_merchant_not_linked_is_not_available(self, client, partner, ref):
        elsewhere = await f.make_merchant(client, name="丽江古城客栈")
        offer = await f.make_offer(client, elsewhere, type="amount_off", value=300, label="立减3元")
        assert status_and_code(await redeem(client, partner, ref, offer["id"], "o-1")) == (
            403,
            "OFFER_NOT_AVAILABLE",
        )
        assert status_and_code(await redeem(client, partner, ref, str(uuid.uuid4()), "o-2")) == (
            403,
            "OFFER_NOT_AVAILABLE",
        )

    async def test_needs_a_grant_with_redemption_write(self, client, partner, shop, resident):
        reader_ref = await granted_ref(client, resident, partner, ("tier:read",))
        assert status_and_code(await redeem(client, partner, reader_ref, shop["offer"]["id"], "o-1")) == (
            403,
            "GRANT_REQUIRED",
        )
        grant = await make_grant(client, resident, partner, ("redemption:write",))
        ref = (await exchange(client, partner, grant["authorization_code"])).json()["partner_user_ref"]
        await client.delete(f"{MP}/grants/{grant['id']}", headers=resident["headers"])
        assert status_and_code(await redeem(client, partner, ref, shop["offer"]["id"], "o-2")) == (
            403,
            "GRANT_REQUIRED",
        )

    async def test_needs_the_partner_scope(self, client, shop):
        reader = await tourism_partner(client, "只读平台", scopes=("tier:read",))
        r = await redeem(client, reader, "0" * 32, shop["offer"]["id"], "o-1")
        assert status_and_code(r) == (403, "SCOPE_MISSING")

    async def test_the_ledgers_rules_hold_online(self, client, partner, shop, resident, ref, id_number):
        await f.blacklist(client, id_number(111))
        assert status_and_code(await redeem(client, partner, ref, shop["offer"]["id"], "o-1")) == (
            403,
            "TIER_RESTRICTED",
        )
        r = await send_signed(
            client,
            partner,
            "POST",
            f"{PARTNER}/redemptions",
            {
                "partner_user_ref": ref,
                "offer_id": shop["offer"]["id"],
                "external_order_id": "bad id!",
                "order_amount_fen": -1,
            },
        )
        assert status_and_code(r) == (422, "VALIDATION_ERROR")
        assert {"external_order_id", "order_amount_fen"} <= set(r.json()["error"]["fields"])

    async def test_shows_in_the_residents_access_log(self, client, partner, shop, resident, ref):
        await redeem(client, partner, ref, shop["offer"]["id"], "o-1")
        await redeem(client, partner, ref, shop["offer"]["id"], "o-1")  # a replay reads nothing new
        items = (await client.get(f"{MP}/access-log", headers=resident["headers"])).json()["items"]
        assert [(i["actor_name"], i["purpose"]) for i in items] == [("一部手机游云南", "online_redemption")]


class TestStockSharedWithStores:
    async def test_the_last_unit_goes_to_whoever_comes_first(self, client, partner, shop, resident, ref):
        offer = await f.make_offer(client, shop, type="amount_off", value=200, label="立减2元", total_stock=1)
        walk_in = await f.make_resident(client, 112)
        assert (await store_redeem(client, shop, walk_in, offer["id"])).status_code == 201
        assert status_and_code(await redeem(client, partner, ref, offer["id"], "o-1")) == (
            409,
            "OUT_OF_STOCK",
        )

    @pytest.mark.postgres_only
    @pytest.mark.skipif(not USES_POSTGRES, reason="concurrent transactions need PostgreSQL")
    async def test_online_and_in_store_redemptions_racing_never_oversell(self, client, partner, shop):
        stock = 4
        offer = await f.make_offer(
            client, shop, type="amount_off", value=200, label="立减2元", total_stock=stock
        )
        online = [await f.make_resident(client, 120 + i) for i in range(5)]
        refs = [await granted_ref(client, r, partner, ("redemption:write",)) for r in online]
        in_store = [await f.make_resident(client, 130 + i) for i in range(5)]
        scans = []
        for r in in_store:
            token = (await f.issue_pass(client, r["headers"]))["token"]
            scans.append(
                (await f.make_scan(client, shop["headers"], token, shop["stores"][0]["id"])).json()["scan_id"]
            )

        async def at_store(scan_id: str):
            return await client.post(
                f"{MERCHANT}/redemptions",
                headers=shop["headers"],
                json={"scan_id": scan_id, "offer_id": offer["id"], "order_amount_fen": 10_000},
            )

        answers = await asyncio.gather(
            *(redeem(client, partner, ref, offer["id"], f"race-{i}") for i, ref in enumerate(refs)),
            *(at_store(s) for s in scans),
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [201] * stock + [409] * (10 - stock), [r.text for r in answers]
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"OUT_OF_STOCK"}
        assert await remaining(client, shop, offer["id"]) == 0
