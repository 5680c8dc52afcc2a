"""POST /api/v1/merchant/scans and the scan log, over HTTP, as scanners and residents would."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from passes.service import pass_runtime
from passes.tokens import PassSigningKey, issue_pass_token
from tests import factories as f

MERCHANT = "/api/v1/merchant"


@pytest.fixture
async def shop(client):
    """A merchant with two stores, a cashier of the first, and three approved offers."""
    m = await f.make_merchant(client, stores=2)
    stores = [s["id"] for s in m["stores"]]
    m["cashier"] = await f.make_staff(client, m, store_ids=[stores[0]])
    m["offers"] = {
        "ticket": await f.make_offer(client, m),  # 20 % off, A and up
        "lane": await f.make_offer(
            client, m, type="priority_lane", value=None, label="优先通道", min_tier="AA"
        ),
        "second_store_only": await f.make_offer(
            client, m, type="amount_off", value=500, label="立减5元", store_ids=[stores[1]]
        ),
    }
    return m


def store(m, index: int = 0) -> str:
    return m["stores"][index]["id"]


class TestScan:
    async def test_answers_the_tier_the_benefits_and_a_pseudonym_only(self, client, shop, id_number):
        resident = await f.make_resident(client, 31, name="王五")
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        r = await f.make_scan(client, shop["cashier"], token, store(shop))
        assert r.status_code == 201, r.text
        body = r.json()
        assert set(body) == {"scan_id", "tier", "resident_ref", "benefits", "expires_at"}
        assert body["tier"] == "A"
        # The AA lane is above the resident's tier; the amount off is for the other store.
        assert body["benefits"] == [
            {
                "offer_id": shop["offers"]["ticket"]["id"],
                "type": "percent_off",
                "label": "门票八折",
                "value": 20,
            }
        ]
        for secret in ("王五", id_number(31), resident["resident"]["id"], "score"):
            assert secret not in r.text

    async def test_offers_limited_to_a_store_are_granted_there(self, client, shop):
        resident = await f.make_resident(client, 32)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        r = await f.make_scan(
            client, shop["headers"], token, store(shop, 1)
        )  # the owner works in every store
        assert r.status_code == 201, r.text
        assert {b["offer_id"] for b in r.json()["benefits"]} == {
            shop["offers"]["ticket"]["id"],
            shop["offers"]["second_store_only"]["id"],
        }

    async def test_a_pass_scanned_once_fails_at_any_other_store(self, client, shop):
        other = await f.make_merchant(client, name="丽江古城酒店", category="hotel")
        resident = await f.make_resident(client, 33)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await f.make_scan(client, shop["cashier"], token, store(shop))).status_code == 201
        for headers, store_id in (
            (shop["headers"], store(shop, 1)),
            (other["headers"], store(other)),
            (shop["cashier"], store(shop)),
        ):
            r = await f.make_scan(client, headers, token, store_id)
            assert r.status_code == 409 and r.json()["error"]["code"] == "PASS_ALREADY_USED"

    async def test_a_resident_black_listed_after_the_pass_was_issued_gets_nothing(
        self, client, shop, id_number
    ):
        resident = await f.make_resident(client, 34)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        assert f.b64url_json(token.split(".")[1])["t"] == "A"
        await f.blacklist(client, id_number(34))
        r = await f.make_scan(client, shop["cashier"], token, store(shop))
        assert r.status_code == 201, r.text
        assert r.json()["tier"] == "restricted" and r.json()["benefits"] == []

    async def test_resident_ref_is_stable_for_a_merchant_and_differs_between_merchants(self, client, shop):
        other = await f.make_merchant(client, name="丽江古城酒店", category="hotel")
        alice, bob = await f.make_resident(client, 35), await f.make_resident(client, 36)

        async def ref(resident, headers, store_id):
            token = (await f.issue_pass(client, resident["headers"]))["token"]
            r = await f.make_scan(client, headers, token, store_id)
            assert r.status_code == 201, r.text
            return r.json()["resident_ref"]

        here = await ref(alice, shop["cashier"], store(shop))
        assert await ref(alice, shop["headers"], store(shop, 1)) == here
        assert await ref(alice, other["headers"], store(other)) != here
        assert await ref(bob, shop["cashier"], store(shop)) != here

    async def test_a_store_of_another_merchant_is_403_and_the_pass_stays_usable(self, client, shop):
        other = await f.make_merchant(client, name="丽江古城酒店", category="hotel")
        resident = await f.make_resident(client, 37)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        r = await f.make_scan(client, shop["cashier"], token, store(other))
        assert r.status_code == 403 and r.json()["error"]["code"] == "STORE_NOT_YOURS"
        assert (await f.make_scan(client, shop["cashier"], token, store(shop))).status_code == 201

    async def test_a_cashier_scans_only_in_the_assigned_stores(self, client, shop):
        resident = await f.make_resident(client, 38)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        r = await f.make_scan(client, shop["cashier"], token, store(shop, 1))
        assert r.status_code == 403 and r.json()["error"]["code"] == "STORE_NOT_YOURS"

    async def test_a_disabled_staff_account_cannot_scan(self, client, shop):
        from merchants.models import Staff

        resident = await f.make_resident(client, 39)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        await Staff.filter(role="cashier").update(is_active=False)
        r = await f.make_scan(client, shop["cashier"], token, store(shop))
        assert r.status_code == 401

    async def test_access_lost_a_moment_ago_is_enforced_even_if_this_worker_remembers_it(self, client, shop):
        from merchants.models import Staff

        resident = await f.make_resident(client, 47)
        passes = [(await f.issue_pass(client, resident["headers"]))["token"] for _ in range(3)]
        assert (await f.make_scan(client, shop["cashier"], passes[0], store(shop))).status_code == 201
        cashier = await Staff.get(role="cashier")
        await cashier.stores.clear()  # moved out of the store
        r = await f.make_scan(client, shop["cashier"], passes[1], store(shop))
        assert r.status_code == 403 and r.json()["error"]["code"] == "STORE_NOT_YOURS"
        await Staff.filter(id=cashier.id).update(is_active=False)
        assert (await f.make_scan(client, shop["cashier"], passes[2], store(shop))).status_code == 401

    async def test_a_resident_without_a_score_row_yet_scans_with_the_engines_tier(self, client, shop):
        from credit.models import CreditScore
        from passes.models import Scan

        resident = await f.make_resident(client, 48)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        await CreditScore.filter(subject__resident_id=resident["resident"]["id"]).delete()
        r = await f.make_scan(client, shop["cashier"], token, store(shop))
        assert r.status_code == 201 and r.json()["tier"] == "A", r.text
        assert (await Scan.get(id=r.json()["scan_id"])).tier == "A"

    async def test_a_resident_token_is_not_a_staff_token(self, client, shop):
        resident = await f.make_resident(client, 40)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        r = await f.make_scan(client, resident["headers"], token, store(shop))
        assert r.status_code == 401

    async def test_a_bad_body_is_422(self, client, shop):
        r = await client.post(
            f"{MERCHANT}/scans", json={"pass_token": "x", "store_id": "nope"}, headers=shop["cashier"]
        )
        assert r.status_code == 422 and "store_id" in r.json()["error"]["fields"]


class TestRefusedPasses:
    @pytest.fixture
    async def genuine(self, client):
        resident = await f.make_resident(client, 41)
        return resident, (await f.issue_pass(client, resident["headers"]))["token"]

    def forge(self, token: str, **claims) -> str:
        header, payload, signature = token.split(".")
        body = {**f.b64url_json(payload), **claims}
        encoded = jwt.utils.base64url_encode(json.dumps(body, separators=(",", ":")).encode()).decode()
        return f"{header}.{encoded}.{signature}"

    async def test_garbage_forged_none_and_foreign_tokens_are_pass_invalid(self, client, shop, genuine):
        resident, token = genuine
        header = f.b64url_json(token.split(".")[0])
        payload = f.b64url_json(token.split(".")[1])
        stranger = PassSigningKey(
            kid=header["kid"], private_key=Ed25519PrivateKey.generate(), created_at=None
        )  # type: ignore[arg-type]
        attempts = {
            "garbage": "not-a-pass",
            "resident access token": resident["access_token"],
            "alg none": jwt.encode(
                payload, None, algorithm="none", headers={"kid": header["kid"], "typ": "xp"}
            ),
            "tampered tier": self.forge(token, t="AAA"),
            "signed by a stranger with our kid": issue_pass_token(
                key=stranger, subject=payload["sub"], tier="AAA", now=int(time.time()), ttl_s=60
            )[0],
            "HS256 with the public key": jwt.encode(
                payload, "x" * 32, algorithm="HS256", headers={"kid": header["kid"], "typ": "xp"}
            ),
        }
        for name, attempt in attempts.items():
            r = await f.make_scan(client, shop["cashier"], attempt, store(shop))
            assert (r.status_code, r.json()["error"]["code"]) == (400, "PASS_INVALID"), name
        # None of these spent the genuine pass.
        assert (await f.make_scan(client, shop["cashier"], token, store(shop))).status_code == 201

    async def test_an_expired_pass_is_pass_expired(self, client, shop, genuine):
        _, token = genuine
        key = await pass_runtime(client.app).keys.signing_key()
        payload = f.b64url_json(token.split(".")[1])
        old, _ = issue_pass_token(
            key=key, subject=payload["sub"], tier="A", now=int(time.time()) - 200, ttl_s=90
        )
        r = await f.make_scan(client, shop["cashier"], old, store(shop))
        assert r.status_code == 400 and r.json()["error"]["code"] == "PASS_EXPIRED"


class TestRedisDown:
    async def test_scans_go_on_and_a_pass_is_still_spent_once(self, client, settings, shop):
        resident = await f.make_resident(client, 42)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        broken = settings.with_overrides(redis_url="redis://127.0.0.1:1/12")  # nothing listens there
        async with f.started_client(f.new_app(broken)) as down:
            r = await f.make_scan(down, shop["cashier"], token, store(shop))
            assert r.status_code == 201, r.text
            for app in (down, client):  # refused without Redis and with it: the database holds single use
                again = await f.make_scan(app, shop["cashier"], token, store(shop))
                assert again.status_code == 409 and again.json()["error"]["code"] == "PASS_ALREADY_USED"
            log = (
                await client.get(f"{MERCHANT}/scans", params={"outcome": "refused"}, headers=shop["headers"])
            ).json()
            assert [i["reason"] for i in log["items"]] == ["PASS_ALREADY_USED"] * 2


class TestIdempotency:
    async def test_a_retry_with_the_same_key_answers_the_same_scan(self, client, shop):
        resident = await f.make_resident(client, 43)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        key = {"Idempotency-Key": f"scan-{uuid.uuid4().hex}"}
        first = await f.make_scan(client, {**shop["cashier"], **key}, token, store(shop))
        again = await f.make_scan(client, {**shop["cashier"], **key}, token, store(shop))
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()

    async def test_the_same_key_with_another_pass_is_a_conflict(self, client, shop):
        resident = await f.make_resident(client, 44)
        key = {"Idempotency-Key": f"scan-{uuid.uuid4().hex}"}
        first = (await f.issue_pass(client, resident["headers"]))["token"]
        second = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await f.make_scan(client, {**shop["cashier"], **key}, first, store(shop))).status_code == 201
        r = await f.make_scan(client, {**shop["cashier"], **key}, second, store(shop))
        assert r.status_code == 409 and r.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"


class TestScanLog:
    async def test_a_merchant_lists_failed_scans_with_their_reason(self, client, shop):
        resident = await f.make_resident(client, 45)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        accepted = (await f.make_scan(client, shop["cashier"], token, store(shop))).json()
        await f.make_scan(client, shop["cashier"], token, store(shop))  # replay
        await f.make_scan(client, shop["cashier"], "garbage", store(shop))

        def listing(**params):
            return client.get(f"{MERCHANT}/scans", params=params, headers=shop["headers"])

        refused = (await listing(outcome="refused")).json()["items"]
        assert [(i["reason"], i["resident_ref"] is not None) for i in refused] == [
            ("PASS_INVALID", False),
            ("PASS_ALREADY_USED", True),
        ]
        assert refused[1]["resident_ref"] == accepted["resident_ref"]
        ok = (await listing(outcome="accepted")).json()["items"]
        assert [i["id"] for i in ok] == [accepted["scan_id"]] and ok[0]["benefits"] == accepted["benefits"]
        assert (await listing(store_id=store(shop, 1))).json()["items"] == []
        page1 = (await listing(limit=2)).json()
        page2 = (await listing(limit=2, cursor=page1["next_cursor"])).json()
        assert len(page1["items"]) == 2 and len(page2["items"]) == 1 and page2["next_cursor"] is None

    async def test_a_cashier_lists_only_the_assigned_stores(self, client, shop):
        resident = await f.make_resident(client, 46)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        await f.make_scan(client, shop["headers"], token, store(shop, 1))
        assert (await client.get(f"{MERCHANT}/scans", headers=shop["cashier"])).json()["items"] == []
        r = await client.get(
            f"{MERCHANT}/scans", params={"store_id": store(shop, 1)}, headers=shop["cashier"]
        )
        assert r.status_code == 403

    async def test_the_regulator_lists_failed_scans_of_every_merchant(self, client, shop):
        other = await f.make_merchant(client, name="丽江古城酒店", category="hotel")
        await f.make_scan(client, shop["cashier"], "garbage", store(shop))
        await f.make_scan(client, other["headers"], "garbage", store(other))
        r = await client.get(
            "/api/v1/admin/scans", params={"outcome": "refused"}, headers=await client.admin_headers()
        )
        assert r.status_code == 200
        assert {i["merchant_id"] for i in r.json()["items"]} == {shop["id"], other["id"]}
        assert (await client.get("/api/v1/admin/scans", headers=shop["headers"])).status_code == 401


class TestSingleUseHeldByTheDatabase:
    """Redis is the fast first check; PostgreSQL's key on the spent pass is the authority."""

    async def test_a_pass_replayed_after_redis_lost_its_keys_is_refused(self, client, shop):
        resident = await f.make_resident(client, 61)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await f.make_scan(client, shop["cashier"], token, store(shop))).status_code == 201
        await client.app.ctx.redis.flushdb()  # a Redis restart without persistence, a failover
        for headers, store_id in ((shop["cashier"], store(shop)), (shop["headers"], store(shop, 1))):
            r = await f.make_scan(client, headers, token, store_id)
            assert r.status_code == 409 and r.json()["error"]["code"] == "PASS_ALREADY_USED", r.text
        scans = (await client.get(f"{MERCHANT}/scans", headers=shop["headers"])).json()["items"]
        assert [(s["outcome"], s["reason"]) for s in scans[:3]] == [
            ("refused", "PASS_ALREADY_USED"),
            ("refused", "PASS_ALREADY_USED"),
            ("accepted", None),
        ]

    async def test_a_retry_with_its_key_after_redis_lost_its_keys_answers_the_same_scan(self, client, shop):
        resident = await f.make_resident(client, 62)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        key = {"Idempotency-Key": f"scan-{uuid.uuid4().hex}"}
        first = await f.make_scan(client, {**shop["cashier"], **key}, token, store(shop))
        await client.app.ctx.redis.flushdb()
        again = await f.make_scan(client, {**shop["cashier"], **key}, token, store(shop))
        assert first.status_code == again.status_code == 201 and again.json() == first.json()

    async def test_racing_scans_of_one_pass_after_a_flush_accept_exactly_one(self, client, shop):
        resident = await f.make_resident(client, 63)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        answers = []
        for _ in range(2):  # twice: the guard's key set by the first race is flushed before the second
            await client.app.ctx.redis.flushdb()
            answers += await asyncio.gather(
                *(f.make_scan(client, shop["cashier"], token, store(shop)) for _ in range(6))
            )
        assert sorted(r.status_code for r in answers) == [201] + [409] * 11, [r.text for r in answers]

    async def test_spent_passes_are_forgotten_once_they_can_no_longer_verify(self, client, shop):
        from datetime import UTC, datetime, timedelta

        from passes.models import SpentPass
        from passes.service import purge_spent_passes

        resident = await f.make_resident(client, 64)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await f.make_scan(client, shop["cashier"], token, store(shop))).status_code == 201
        spent = await SpentPass.all()
        assert len(spent) == 1 and spent[0].expires_at > datetime.now(UTC)
        assert await purge_spent_passes(datetime.now(UTC)) == 0  # still verifiable: kept
        assert await purge_spent_passes(spent[0].expires_at + timedelta(seconds=1)) == 1
