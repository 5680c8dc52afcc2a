"""POST /api/v1/merchant/redemptions, reversals, the ledger and its statistics, over HTTP.

The race tests send real concurrent requests (``asyncio.gather`` through the app, each on its
own pool connection): on PostgreSQL they race for row locks and unique indexes; on SQLite the
writers are serialised, and the same assertions must hold.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coupons import stock
from passes.models import Scan
from redemptions.models import AuditEntry, IdempotencyRecord, Redemption
from tests import factories as f

MERCHANT = "/api/v1/merchant"


@pytest.fixture
async def shop(client):
    """A merchant with two stores, a cashier of the first, and a 20 % off ticket offer (A and up)."""
    m = await f.make_shop(client, stores=2)
    m["ticket"] = await f.make_offer(client, m)
    return m


async def ledger_rows(offer_id: str) -> list[Redemption]:
    return await Redemption.filter(offer_id=offer_id).order_by("created_at")


class TestRedeem:
    async def test_percent_off_is_rounded_down_to_the_fen_and_the_offer_loses_one_unit(self, client, shop):
        offer = await f.make_offer(client, shop, label="八五折", value=15, total_stock=10)
        s = await f.make_scanned_pass(client, shop, 1)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], offer["id"], order_amount_fen=1999)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "completed" and body["offer_id"] == offer["id"]
        assert body["discount_fen"] == 299  # 15 % of 19.99 is 2.9985: rounded down
        assert body["store_id"] == f.store(shop) and body["order_amount_fen"] == 1999
        assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
        state = await f.offer_state(client, shop, offer["id"])
        assert (state["redeemed_count"], state["remaining"]) == (1, 9)

    async def test_amount_off_is_capped_at_the_order(self, client, shop):
        offer = await f.make_offer(client, shop, type="amount_off", value=5000, label="立减50元")
        small, big = await f.make_scanned_pass(client, shop, 2), await f.make_scanned_pass(client, shop, 3)
        r = await f.redeem(client, shop["cashier"], small["scan_id"], offer["id"], order_amount_fen=3000)
        assert r.status_code == 201 and r.json()["discount_fen"] == 3000
        r = await f.redeem(client, shop["cashier"], big["scan_id"], offer["id"], order_amount_fen=8800)
        assert r.status_code == 201 and r.json()["discount_fen"] == 5000

    async def test_a_deposit_waiver_records_the_waived_deposit_and_discounts_nothing(self, client, shop):
        offer = await f.make_offer(client, shop, type="deposit_waiver", value=50000, label="免押金入住")
        s = await f.make_scanned_pass(client, shop, 4)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], offer["id"])
        assert r.status_code == 201, r.text
        assert (r.json()["discount_fen"], r.json()["deposit_waived_fen"]) == (0, 50000)

    async def test_a_priority_lane_has_no_amount(self, client, shop):
        offer = await f.make_offer(client, shop, type="priority_lane", value=None, label="优先通道")
        s = await f.make_scanned_pass(client, shop, 5)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], offer["id"], order_amount_fen=12000)
        assert r.status_code == 201 and (r.json()["discount_fen"], r.json()["deposit_waived_fen"]) == (0, 0)

    async def test_percent_off_without_the_order_amount_is_422_and_takes_nothing(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 6)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"])
        assert r.status_code == 422 and "order_amount_fen" in r.json()["error"]["fields"]
        assert await ledger_rows(shop["ticket"]["id"]) == []

    async def test_a_resident_black_listed_between_scan_and_redeem_gets_tier_restricted(
        self, client, shop, id_number
    ):
        s = await f.make_scanned_pass(client, shop, 7)
        assert s["tier"] == "A" and s["benefits"]
        await f.blacklist(client, id_number(7))
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000)
        assert r.status_code == 403 and f.error_code(r) == "TIER_RESTRICTED"
        assert await ledger_rows(shop["ticket"]["id"]) == []

    async def test_an_offer_above_the_live_tier_is_tier_too_low(self, client, shop):
        lane = await f.make_offer(
            client, shop, type="priority_lane", value=None, label="索道优先", min_tier="AA"
        )
        s = await f.make_scanned_pass(client, shop, 8)
        assert lane["id"] not in {b["offer_id"] for b in s["benefits"]}
        r = await f.redeem(client, shop["cashier"], s["scan_id"], lane["id"])
        assert r.status_code == 403 and f.error_code(r) == "TIER_TOO_LOW"

    async def test_a_scan_older_than_five_minutes_is_scan_expired(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 9)
        await Scan.filter(id=s["scan_id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000)
        assert r.status_code == 409 and f.error_code(r) == "SCAN_EXPIRED"

    async def test_a_scan_of_another_merchant_is_not_found_and_redeems_nothing(self, client, shop):
        other = await f.make_shop(client, name="丽江古城酒店", category="hotel")
        theirs = await f.make_offer(client, other)
        s = await f.make_scanned_pass(client, other, 10)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000)
        assert r.status_code == 404 and f.error_code(r) == "SCAN_NOT_FOUND"
        r = await f.redeem(client, shop["cashier"], s["scan_id"], theirs["id"], order_amount_fen=1000)
        assert r.status_code == 404 and f.error_code(r) == "SCAN_NOT_FOUND"
        # Their own scan, our offer: not theirs to grant.
        r = await f.redeem(
            client, other["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000
        )
        assert r.status_code == 404 and f.error_code(r) == "OFFER_NOT_FOUND"
        assert await Redemption.all().count() == 0

    async def test_a_cashier_redeems_only_scans_of_the_assigned_stores(self, client, shop):
        s = await f.make_scanned_pass(
            client, shop, 11, headers=shop["headers"], store_index=1
        )  # the owner scanned in store 2
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000)
        assert r.status_code == 403 and f.error_code(r) == "STORE_NOT_YOURS"
        r = await f.redeem(client, shop["headers"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000)
        assert r.status_code == 201

    async def test_an_offer_of_another_store_is_not_granted_here(self, client, shop):
        elsewhere = await f.make_offer(
            client, shop, type="amount_off", value=500, label="二店立减", store_ids=[f.store(shop, 1)]
        )
        s = await f.make_scanned_pass(client, shop, 12)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], elsewhere["id"], order_amount_fen=1000)
        assert r.status_code == 409 and f.error_code(r) == "OFFER_NOT_AT_STORE"

    async def test_a_paused_offer_is_not_active(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 13)
        r = await client.patch(
            f"{MERCHANT}/offers/{shop['ticket']['id']}", json={"status": "paused"}, headers=shop["headers"]
        )
        assert r.status_code == 200, r.text
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000)
        assert r.status_code == 409 and f.error_code(r) == "OFFER_NOT_ACTIVE"

    async def test_one_redemption_per_scan_and_offer_until_it_is_reversed(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 14)
        first = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000
        )
        assert first.status_code == 201
        again = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000
        )
        assert again.status_code == 409 and f.error_code(again) == "ALREADY_REDEEMED"
        r = await client.post(
            f"{MERCHANT}/redemptions/{first.json()['id']}/reverse",
            json={"reason": "按错了"},
            headers=shop["cashier"],
        )
        assert r.status_code == 200
        redo = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=2000
        )
        assert redo.status_code == 201 and redo.json()["id"] != first.json()["id"]

    async def test_the_last_unit_goes_once_then_out_of_stock(self, client, shop):
        offer = await f.make_offer(
            client, shop, total_stock=1, type="amount_off", value=100, label="限量一份"
        )
        first, second = (
            await f.make_scanned_pass(client, shop, 15),
            await f.make_scanned_pass(client, shop, 16),
        )
        assert (await f.redeem(client, shop["cashier"], first["scan_id"], offer["id"])).status_code == 201
        r = await f.redeem(client, shop["cashier"], second["scan_id"], offer["id"])
        assert r.status_code == 409 and f.error_code(r) == "OUT_OF_STOCK"

    async def test_a_once_a_day_offer_is_limit_reached_the_second_time(self, client, shop):
        offer = await f.make_offer(client, shop, per_resident_limit=1, per_resident_period="day")
        first = await f.make_scanned_pass(client, shop, 17)
        second = await f.make_scanned_pass(client, shop, 17, resident=first["resident"])
        assert (
            await f.redeem(client, shop["cashier"], first["scan_id"], offer["id"], order_amount_fen=100)
        ).status_code == 201
        r = await f.redeem(client, shop["cashier"], second["scan_id"], offer["id"], order_amount_fen=100)
        assert r.status_code == 409 and f.error_code(r) == "LIMIT_REACHED"
        # Another resident is not limited by it.
        other = await f.make_scanned_pass(client, shop, 18)
        assert (
            await f.redeem(client, shop["cashier"], other["scan_id"], offer["id"], order_amount_fen=100)
        ).status_code == 201

    async def test_every_redemption_writes_an_audit_row(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 19)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=5000)
        rows = await AuditEntry.filter(target_id=r.json()["id"])
        assert [(a.action, a.actor_type, a.details["discount_fen"]) for a in rows] == [
            ("redemption.completed", "staff", 1000)
        ]
        assert rows[0].actor_id is not None and rows[0].at is not None


class TestWithTheOfferTermsCached:
    """After a first redemption the worker knows the offer's terms and sends one statement that re-checks
    everything itself: every refusal must still happen, and a change of terms must be noticed."""

    @pytest.fixture
    async def warm(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 200)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1000)
        assert r.status_code == 201, r.text
        return shop

    async def refused(self, client, headers, scan_id, offer_id, status, code, **body):
        before = await Redemption.all().count()
        r = await f.redeem(client, headers, scan_id, offer_id, **body)
        assert (r.status_code, f.error_code(r)) == (status, code), r.text
        assert await Redemption.all().count() == before

    async def test_the_live_tier_scan_store_and_body_are_still_checked(self, client, warm, id_number):
        offer = warm["ticket"]["id"]
        black = await f.make_scanned_pass(client, warm, 201)
        await f.blacklist(client, id_number(201))
        await self.refused(
            client, warm["cashier"], black["scan_id"], offer, 403, "TIER_RESTRICTED", order_amount_fen=1
        )
        old = await f.make_scanned_pass(client, warm, 202)
        await Scan.filter(id=old["scan_id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        await self.refused(
            client, warm["cashier"], old["scan_id"], offer, 409, "SCAN_EXPIRED", order_amount_fen=1
        )
        elsewhere = await f.make_scanned_pass(client, warm, 203, headers=warm["headers"], store_index=1)
        await self.refused(
            client, warm["cashier"], elsewhere["scan_id"], offer, 403, "STORE_NOT_YOURS", order_amount_fen=1
        )
        other = await f.make_shop(client, name="丽江古城酒店", category="hotel")
        theirs = await f.make_scanned_pass(client, other, 204)
        await self.refused(
            client, warm["cashier"], theirs["scan_id"], offer, 404, "SCAN_NOT_FOUND", order_amount_fen=1
        )
        await self.refused(
            client, other["cashier"], theirs["scan_id"], offer, 404, "OFFER_NOT_FOUND", order_amount_fen=1
        )
        fresh = await f.make_scanned_pass(client, warm, 205)
        await self.refused(client, warm["cashier"], fresh["scan_id"], offer, 422, "VALIDATION_ERROR")
        await self.refused(
            client,
            warm["cashier"],
            fresh["scan_id"],
            offer,
            409,
            "COUPON_INVALID",
            order_amount_fen=1,
            coupon_id=str(uuid.uuid4()),
        )
        assert (
            await f.redeem(client, warm["cashier"], fresh["scan_id"], offer, order_amount_fen=1)
        ).status_code == 201

    async def test_a_paused_or_ended_offer_is_not_active(self, client, warm):
        offer = warm["ticket"]["id"]
        s = await f.make_scanned_pass(client, warm, 206)
        await client.patch(f"{MERCHANT}/offers/{offer}", json={"status": "paused"}, headers=warm["headers"])
        await self.refused(
            client, warm["cashier"], s["scan_id"], offer, 409, "OFFER_NOT_ACTIVE", order_amount_fen=1
        )
        await client.patch(f"{MERCHANT}/offers/{offer}", json={"status": "active"}, headers=warm["headers"])
        soon = datetime.now(UTC) + timedelta(seconds=1)
        r = await client.patch(
            f"{MERCHANT}/offers/{offer}", json={"valid_until": soon.isoformat()}, headers=warm["headers"]
        )
        assert r.status_code == 200, r.text
        await asyncio.sleep(max((soon - datetime.now(UTC)).total_seconds(), 0) + 0.05)
        await self.refused(
            client, warm["cashier"], s["scan_id"], offer, 409, "OFFER_NOT_ACTIVE", order_amount_fen=1
        )

    async def test_new_terms_are_used_at_once(self, client, warm):
        offer = warm["ticket"]["id"]
        # The first redemption was of an offer without a stock limit: counted in right away or a
        # moment later (folded), it takes one of the two units set now either way.
        r = await client.patch(f"{MERCHANT}/offers/{offer}", json={"total_stock": 2}, headers=warm["headers"])
        assert r.status_code == 200, r.text
        a, b = await f.make_scanned_pass(client, warm, 207), await f.make_scanned_pass(client, warm, 208)
        assert (
            await f.redeem(client, warm["cashier"], a["scan_id"], offer, order_amount_fen=1)
        ).status_code == 201
        await self.refused(
            client, warm["cashier"], b["scan_id"], offer, 409, "OUT_OF_STOCK", order_amount_fen=1
        )
        r = await client.patch(f"{MERCHANT}/offers/{offer}", json={"value": 50}, headers=warm["headers"])
        assert r.status_code == 200 and r.json()["status"] == "pending_approval"
        await self.refused(
            client, warm["cashier"], b["scan_id"], offer, 409, "OFFER_NOT_ACTIVE", order_amount_fen=1
        )
        await client.post(f"/api/v1/admin/offers/{offer}/approve", headers=await client.admin_headers())
        await client.patch(f"{MERCHANT}/offers/{offer}", json={"total_stock": None}, headers=warm["headers"])
        r = await f.redeem(client, warm["cashier"], b["scan_id"], offer, order_amount_fen=1000)
        assert r.status_code == 201 and r.json()["discount_fen"] == 500  # the new 50 %
        await stock.fold_counts(client.app.ctx.ledger)
        assert (await f.offer_state(client, warm, offer))["redeemed_count"] == 3


class TestAuth:
    async def test_no_token_is_401_even_with_a_bad_body(self, client):
        r = await client.post(f"{MERCHANT}/redemptions", content=b"{not json")
        assert r.status_code == 401 and f.error_code(r) == "UNAUTHENTICATED"

    async def test_a_resident_token_is_not_a_staff_token(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 20)
        r = await f.redeem(
            client, s["resident"]["headers"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=1
        )
        assert r.status_code == 401

    async def test_a_disabled_staff_account_cannot_redeem(self, client, shop):
        from merchants.models import Staff

        s = await f.make_scanned_pass(client, shop, 21)
        await Staff.filter(role="cashier").update(is_active=False)
        r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=100)
        assert r.status_code == 401 and await Redemption.all().count() == 0

    async def test_a_bad_body_is_422_with_the_fields(self, client, shop):
        r = await client.post(
            f"{MERCHANT}/redemptions",
            json={"scan_id": "nope", "offer_id": shop["ticket"]["id"], "order_amount_fen": -5},
            headers=shop["cashier"],
        )
        assert r.status_code == 422 and {"scan_id", "order_amount_fen"} <= set(r.json()["error"]["fields"])
        r = await f.redeem(
            client, shop["cashier"], str(uuid.uuid4()), shop["ticket"]["id"], key="bad key with spaces"
        )
        assert r.status_code == 422 and "Idempotency-Key" in r.json()["error"]["fields"]


class TestIdempotency:
    async def test_a_retry_with_the_same_key_gets_the_same_redemption_and_takes_stock_once(
        self, client, shop
    ):
        offer = await f.make_offer(client, shop, total_stock=5)
        s = await f.make_scanned_pass(client, shop, 22)
        key = f.new_key()
        first = await f.redeem(
            client, shop["cashier"], s["scan_id"], offer["id"], key=key, order_amount_fen=1000
        )
        again = await f.redeem(
            client, shop["cashier"], s["scan_id"], offer["id"], key=key, order_amount_fen=1000
        )
        assert first.status_code == again.status_code == 201
        assert again.content == first.content and again.headers["Idempotency-Replayed"] == "true"
        assert (await f.offer_state(client, shop, offer["id"]))["redeemed_count"] == 1

    async def test_a_retry_is_answered_even_after_the_scan_expired(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 23)
        key = f.new_key()
        first = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=800
        )
        await Scan.filter(id=s["scan_id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        again = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=800
        )
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]

    async def test_the_same_key_with_another_body_is_a_conflict(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 24)
        key = f.new_key()
        assert (
            await f.redeem(
                client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=1000
            )
        ).status_code == 201
        r = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=9000
        )
        assert r.status_code == 409 and f.error_code(r) == "IDEMPOTENCY_CONFLICT"
        assert len(await ledger_rows(shop["ticket"]["id"])) == 1

    async def test_keys_belong_to_the_staff_member(self, client, shop):
        other_cashier = await f.make_staff(client, shop, store_ids=[f.store(shop)])
        a, b = await f.make_scanned_pass(client, shop, 25), await f.make_scanned_pass(client, shop, 26)
        key = f.new_key()
        ra = await f.redeem(
            client, shop["cashier"], a["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=100
        )
        rb = await f.redeem(
            client, other_cashier, b["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=100
        )
        assert ra.status_code == rb.status_code == 201 and ra.json()["id"] != rb.json()["id"]

    async def test_a_refused_request_is_not_stored_so_a_retry_can_succeed(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 27)
        key = f.new_key()
        r = await client.patch(
            f"{MERCHANT}/offers/{shop['ticket']['id']}", json={"status": "paused"}, headers=shop["headers"]
        )
        assert r.status_code == 200
        r = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=100
        )
        assert r.status_code == 409 and f.error_code(r) == "OFFER_NOT_ACTIVE"
        await client.patch(
            f"{MERCHANT}/offers/{shop['ticket']['id']}", json={"status": "active"}, headers=shop["headers"]
        )
        r = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=100
        )
        assert r.status_code == 201

    async def test_a_retry_after_a_restart_gets_the_same_redemption(self, client, settings, shop):
        s = await f.make_scanned_pass(client, shop, 28)
        key = f.new_key()
        first = await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=4200
        )
        assert first.status_code == 201
        async with f.started_client(f.new_app(settings)) as restarted:  # a new server on the same database
            again = await f.redeem(
                restarted, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=4200
            )
            assert again.status_code == 201 and again.content == first.content
            assert len(await ledger_rows(shop["ticket"]["id"])) == 1

    async def test_concurrent_first_uses_of_one_key_make_one_redemption(self, client, shop):
        offer = await f.make_offer(client, shop, total_stock=50)
        s = await f.make_scanned_pass(client, shop, 29)
        key = f.new_key()
        answers = await asyncio.gather(
            *(
                f.redeem(client, shop["cashier"], s["scan_id"], offer["id"], key=key, order_amount_fen=1000)
                for _ in range(8)
            )
        )
        assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers]
        assert len({r.json()["id"] for r in answers}) == 1
        assert len(await ledger_rows(offer["id"])) == 1
        assert (await f.offer_state(client, shop, offer["id"]))["redeemed_count"] == 1

    async def test_stored_answers_are_kept_at_least_a_day_then_purged(self, client, shop):
        from redemptions.tasks import purge_idempotency_records

        s = await f.make_scanned_pass(client, shop, 30)
        key = f.new_key()
        await f.redeem(
            client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=100
        )
        record = await IdempotencyRecord.get(key=key)
        assert record.expires_at - record.created_at >= timedelta(hours=24)
        assert await purge_idempotency_records(datetime.now(UTC) + timedelta(hours=23)) == 0
        assert await purge_idempotency_records(record.expires_at + timedelta(seconds=1)) == 1


class TestRaces:
    async def test_twenty_residents_for_a_stock_of_five_get_five_redemptions(self, client, shop):
        offer = await f.make_offer(
            client, shop, total_stock=5, type="amount_off", value=1000, label="限量五份"
        )
        scans = [await f.make_scanned_pass(client, shop, 100 + i) for i in range(20)]
        answers = await asyncio.gather(
            *(f.redeem(client, shop["cashier"], s["scan_id"], offer["id"]) for s in scans)
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] * 5 + [409] * 15, [
            r.text for r in answers if r.status_code not in (201, 409)
        ]
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"OUT_OF_STOCK"}
        assert len(await ledger_rows(offer["id"])) == 5
        state = await f.offer_state(client, shop, offer["id"])
        assert (state["redeemed_count"], state["remaining"]) == (5, 0)

    async def test_one_resident_racing_eight_redemptions_of_a_once_a_day_offer_gets_one(self, client, shop):
        offer = await f.make_offer(client, shop, per_resident_limit=1, per_resident_period="day")
        first = await f.make_scanned_pass(client, shop, 130)
        scans = [first] + [
            await f.make_scanned_pass(client, shop, 130, resident=first["resident"]) for _ in range(7)
        ]
        answers = await asyncio.gather(
            *(
                f.redeem(client, shop["cashier"], s["scan_id"], offer["id"], order_amount_fen=1000)
                for s in scans
            )
        )
        assert sorted(r.status_code for r in answers) == [201] + [409] * 7, [r.text for r in answers]
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"LIMIT_REACHED"}
        assert len(await ledger_rows(offer["id"])) == 1

    async def test_racing_reversals_give_the_stock_back_exactly_once(self, client, shop):
        offer = await f.make_offer(client, shop, total_stock=3)
        a, b = await f.make_scanned_pass(client, shop, 140), await f.make_scanned_pass(client, shop, 141)
        ra = await f.redeem(client, shop["cashier"], a["scan_id"], offer["id"], order_amount_fen=100)
        await f.redeem(client, shop["cashier"], b["scan_id"], offer["id"], order_amount_fen=100)
        assert (await f.offer_state(client, shop, offer["id"]))["redeemed_count"] == 2
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{MERCHANT}/redemptions/{ra.json()['id']}/reverse",
                    json={"reason": "顾客取消"},
                    headers=shop["cashier"],
                )
                for _ in range(6)
            )
        )
        assert sorted(r.status_code for r in answers) == [200] + [409] * 5
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"ALREADY_REVERSED"}
        state = await f.offer_state(client, shop, offer["id"])
        assert (state["redeemed_count"], state["remaining"]) == (1, 2)


class TestReverse:
    async def test_a_reversal_gives_back_the_unit_and_the_daily_limit(self, client, shop):
        offer = await f.make_offer(
            client, shop, total_stock=1, per_resident_limit=1, per_resident_period="day"
        )
        first = await f.make_scanned_pass(client, shop, 150)
        r = await f.redeem(client, shop["cashier"], first["scan_id"], offer["id"], order_amount_fen=100)
        r = await client.post(
            f"{MERCHANT}/redemptions/{r.json()['id']}/reverse",
            json={"reason": "顾客取消"},
            headers=shop["cashier"],
        )
        assert r.status_code == 200 and r.json()["status"] == "reversed" and r.json()["reason"] == "顾客取消"
        again = await f.make_scanned_pass(client, shop, 150, resident=first["resident"])
        r = await f.redeem(client, shop["cashier"], again["scan_id"], offer["id"], order_amount_fen=100)
        assert r.status_code == 201, r.text

    async def test_a_second_reversal_is_already_reversed_and_both_are_audited(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 151)
        rid = (
            await f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=100)
        ).json()["id"]
        path = f"{MERCHANT}/redemptions/{rid}/reverse"
        assert (await client.post(path, json={"reason": "错单"}, headers=shop["cashier"])).status_code == 200
        r = await client.post(path, json={"reason": "错单"}, headers=shop["cashier"])
        assert r.status_code == 409 and f.error_code(r) == "ALREADY_REVERSED"
        r = await client.get(
            "/api/v1/admin/ledger-audit", params={"target_id": rid}, headers=await client.admin_headers()
        )
        assert r.status_code == 200, r.text
        trail = r.json()["items"]  # newest first
        assert [(a["action"], a["actor_type"]) for a in trail] == [
            ("redemption.reversed", "staff"),
            ("redemption.completed", "staff"),
        ]
        assert trail[0]["details"]["reason"] == "错单" and trail[0]["actor_id"] == trail[1]["actor_id"]
        assert trail[0]["at"] >= trail[1]["at"] and trail[1]["details"]["discount_fen"] == 20
        assert (await client.get("/api/v1/admin/ledger-audit", headers=shop["headers"])).status_code == 401

    async def test_only_staff_of_the_store_and_merchant_may_reverse(self, client, shop):
        other = await f.make_shop(client, name="丽江古城酒店", category="hotel")
        s = await f.make_scanned_pass(client, shop, 152, headers=shop["headers"], store_index=1)
        rid = (
            await f.redeem(client, shop["headers"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=100)
        ).json()["id"]
        path = f"{MERCHANT}/redemptions/{rid}/reverse"
        r = await client.post(path, json={"reason": "x"}, headers=shop["cashier"])  # store 1 only
        assert r.status_code == 403 and f.error_code(r) == "STORE_NOT_YOURS"
        r = await client.post(path, json={"reason": "x"}, headers=other["headers"])
        assert r.status_code == 404 and f.error_code(r) == "REDEMPTION_NOT_FOUND"
        r = await client.post(path, json={"reason": " "}, headers=shop["headers"])
        assert r.status_code == 422
        assert (await client.post(path, json={"reason": "x"}, headers=shop["headers"])).status_code == 200


class TestLedgerViews:
    async def test_the_merchant_lists_redemptions_by_store_and_window_with_pseudonyms(self, client, shop):
        here, there = (
            await f.make_scanned_pass(client, shop, 160),
            await f.make_scanned_pass(client, shop, 161, headers=shop["headers"], store_index=1),
        )
        a = (
            await f.redeem(
                client, shop["cashier"], here["scan_id"], shop["ticket"]["id"], order_amount_fen=1000
            )
        ).json()
        b = (
            await f.redeem(
                client, shop["headers"], there["scan_id"], shop["ticket"]["id"], order_amount_fen=2000
            )
        ).json()

        async def listing(headers, **params):
            r = await client.get(f"{MERCHANT}/redemptions", params=params, headers=headers)
            assert r.status_code == 200, r.text
            return r.json()

        everything = await listing(shop["headers"])
        assert [i["id"] for i in everything["items"]] == [b["id"], a["id"]]
        item = everything["items"][1]
        assert (
            item["resident_ref"] == here["resident_ref"]
            and item["discount_fen"] == 200
            and item["channel"] == "store"
        )
        assert here["resident"]["resident"]["id"] not in str(everything)
        assert [i["id"] for i in (await listing(shop["cashier"]))["items"]] == [a["id"]]
        assert [i["id"] for i in (await listing(shop["headers"], store_id=f.store(shop, 1)))["items"]] == [
            b["id"]
        ]
        r = await client.get(
            f"{MERCHANT}/redemptions", params={"store_id": f.store(shop, 1)}, headers=shop["cashier"]
        )
        assert r.status_code == 403
        tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        assert (await listing(shop["headers"], **{"from": tomorrow}))["items"] == []
        page1 = await listing(shop["headers"], limit=1)
        page2 = await listing(shop["headers"], limit=1, cursor=page1["next_cursor"])
        assert [page1["items"][0]["id"], page2["items"][0]["id"]] == [b["id"], a["id"]] and page2[
            "next_cursor"
        ] is None

    async def test_stats_count_and_sum_completed_redemptions_by_offer_and_day(self, client, shop):
        waiver = await f.make_offer(client, shop, type="deposit_waiver", value=30000, label="免押金")
        scans = [await f.make_scanned_pass(client, shop, 170 + i) for i in range(3)]
        ids = []
        for s, amount in zip(scans, (1000, 2500, 999), strict=True):
            r = await f.redeem(
                client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=amount
            )
            ids.append(r.json()["id"])
        await f.redeem(client, shop["cashier"], scans[0]["scan_id"], waiver["id"])
        await client.post(
            f"{MERCHANT}/redemptions/{ids[2]}/reverse", json={"reason": "退单"}, headers=shop["cashier"]
        )
        r = await client.get(f"{MERCHANT}/stats", headers=shop["headers"])
        assert r.status_code == 200, r.text
        stats = r.json()
        assert stats["totals"] == {
            "redemptions": 3,
            "reversed": 1,
            "discount_fen": 200 + 500,
            "deposit_waived_fen": 30000,
        }
        by_offer = {o["offer_id"]: o for o in stats["by_offer"]}
        assert (
            by_offer[shop["ticket"]["id"]]["redemptions"],
            by_offer[shop["ticket"]["id"]]["discount_fen"],
        ) == (2, 700)
        assert (
            by_offer[waiver["id"]]["deposit_waived_fen"] == 30000
            and by_offer[waiver["id"]]["label"] == "免押金"
        )
        assert [d["redemptions"] for d in stats["by_day"]] == [3]
        r = await client.get(
            f"{MERCHANT}/stats", params={"from": "2020-01-01", "to": "2020-01-02"}, headers=shop["headers"]
        )
        assert r.json()["totals"]["redemptions"] == 0
        r = await client.get(
            f"{MERCHANT}/stats", params={"from": "2020-01-01", "to": "2024-01-01"}, headers=shop["headers"]
        )
        assert r.status_code == 422


async def test_the_ledger_routes_are_documented(client):
    paths = (await client.get("/docs/openapi.json")).json()["paths"]
    for path, method in (
        ("/api/v1/merchant/redemptions", "post"),
        ("/api/v1/merchant/redemptions", "get"),
        ("/api/v1/merchant/redemptions/{redemption_id}/reverse", "post"),
        ("/api/v1/merchant/stats", "get"),
        ("/api/v1/merchant/breaches", "post"),
        ("/api/v1/mp/offers/{offer_id}/claim", "post"),
        ("/api/v1/mp/coupons", "get"),
        ("/api/v1/mp/redemptions", "get"),
        ("/api/v1/admin/breaches", "get"),
        ("/api/v1/admin/breaches/{breach_id}/decision", "post"),
    ):
        assert paths[path][method]["summary"], (method, path)
