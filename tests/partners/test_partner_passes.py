"""POST /api/v1/partner/passes/verify: the same pass rules as a merchant scan, one pass spent once everywhere."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from passes.service import pass_runtime
from passes.tokens import issue_pass_token
from tests import factories as f
from tests.factories import (
    PARTNER,
    granted_ref,
    make_partner,
    send_signed,
    status_and_code,
    tourism_partner,
    verify_pass,
)


@pytest.fixture
async def partner(client):
    return await tourism_partner(client, "一部手机游云南")


@pytest.fixture
async def shop(client):
    m = await f.make_merchant(client)
    m["cashier"] = await f.make_staff(client, m, store_ids=[m["stores"][0]["id"]])
    return m


@pytest.fixture
async def resident(client):
    return await f.make_resident(client, 81, name="钱七")


async def fresh_pass(client, resident) -> str:
    return (await f.issue_pass(client, resident["headers"]))["token"]


class TestVerify:
    async def test_a_good_pass_answers_the_live_tier_and_a_pairwise_reference(
        self, client, partner, resident, id_number
    ):
        token = await fresh_pass(client, resident)
        r = await verify_pass(client, partner, token)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"valid", "tier", "resident_ref", "expires_at"}
        assert body["valid"] is True and body["tier"] == "A"
        assert datetime.fromisoformat(body["expires_at"])
        for secret in (resident["resident"]["id"], id_number(81), "钱七"):
            assert secret not in r.text
        # The same reference as the partner gets from a grant; another partner gets another one.
        assert body["resident_ref"] == await granted_ref(client, resident, partner)
        other = await tourism_partner(client, "携程旅行")
        assert (await verify_pass(client, other, token)).json()["resident_ref"] != body["resident_ref"]

    async def test_the_tier_is_live_not_the_one_in_the_token(self, client, partner, resident, id_number):
        token = await fresh_pass(client, resident)
        await f.blacklist(client, id_number(81))
        body = (await verify_pass(client, partner, token)).json()
        assert body["valid"] is True and body["tier"] == "restricted"

    async def test_without_consume_the_pass_stays_usable(self, client, partner, resident, shop):
        token = await fresh_pass(client, resident)
        for _ in range(2):
            assert (await verify_pass(client, partner, token, consume=False)).json()["valid"] is True
        assert (await f.make_scan(client, shop["cashier"], token, shop["stores"][0]["id"])).status_code == 201

    async def test_bad_passes_are_an_answer_with_the_scan_codes(self, client, partner, resident):
        token = await fresh_pass(client, resident)
        assert (await verify_pass(client, partner, "not-a-pass")).json() == {
            "valid": False,
            "reason": "PASS_INVALID",
        }
        header, payload, signature = token.split(".")
        tampered = f"{header}.{payload[:-2]}AA.{signature}"
        assert (await verify_pass(client, partner, tampered)).json() == {
            "valid": False,
            "reason": "PASS_INVALID",
        }
        key = await pass_runtime(client.app).keys.signing_key()
        sub = f.b64url_json(payload)["sub"]
        old, _ = issue_pass_token(key=key, subject=sub, tier="A", now=int(time.time()) - 200, ttl_s=90)
        assert (await verify_pass(client, partner, old, consume=True)).json() == {
            "valid": False,
            "reason": "PASS_EXPIRED",
        }

    async def test_needs_the_pass_verify_scope_and_a_body(self, client, resident):
        reader = await make_partner(client, kind="bank", scopes=("tier:read",), name="信易贷银行")
        r = await verify_pass(client, reader, "x")
        assert status_and_code(r) == (403, "SCOPE_MISSING")
        error = r.json()["error"]  # the contract's words, not the code's enum
        assert error["scope"] == "pass:verify" and "'pass:verify'" in error["message"], error
        assert "PartnerScope" not in r.text
        partner = await tourism_partner(client, "另一个平台")
        r = await send_signed(client, partner, "POST", f"{PARTNER}/passes/verify", {"consume": "yes"})
        assert status_and_code(r) == (422, "VALIDATION_ERROR")


class TestOneSpendingAcrossPaths:
    async def test_a_pass_consumed_by_a_partner_is_already_used_at_a_merchant(
        self, client, partner, resident, shop
    ):
        token = await fresh_pass(client, resident)
        assert (await verify_pass(client, partner, token, consume=True)).json()["valid"] is True
        r = await f.make_scan(client, shop["cashier"], token, shop["stores"][0]["id"])
        assert status_and_code(r) == (409, "PASS_ALREADY_USED")

    async def test_a_pass_scanned_by_a_merchant_is_already_used_for_a_partner(
        self, client, partner, resident, shop
    ):
        token = await fresh_pass(client, resident)
        assert (await f.make_scan(client, shop["cashier"], token, shop["stores"][0]["id"])).status_code == 201
        r = await verify_pass(client, partner, token, consume=True)
        assert r.status_code == 200 and r.json() == {"valid": False, "reason": "PASS_ALREADY_USED"}

    async def test_a_spent_pass_is_already_used_even_when_only_checked(self, client, partner, resident, shop):
        token = await fresh_pass(client, resident)
        assert (await f.make_scan(client, shop["cashier"], token, shop["stores"][0]["id"])).status_code == 201
        r = await verify_pass(client, partner, token, consume=False)
        assert r.status_code == 200 and r.json() == {"valid": False, "reason": "PASS_ALREADY_USED"}

    async def test_a_pass_is_consumed_once_by_partners(self, client, partner, resident):
        token = await fresh_pass(client, resident)
        other = await tourism_partner(client, "携程旅行")
        assert (await verify_pass(client, partner, token, consume=True)).json()["valid"] is True
        assert (await verify_pass(client, other, token, consume=True)).json() == {
            "valid": False,
            "reason": "PASS_ALREADY_USED",
        }


class TestRedisDown:
    async def test_verification_answers_503_with_retry_after(self, client, settings, partner, resident):
        token = await fresh_pass(client, resident)
        broken = settings.with_overrides(redis_url="redis://127.0.0.1:1/12")
        async with f.started_client(f.new_app(broken)) as down:
            r = await verify_pass(down, partner, token, consume=True)
        assert r.status_code == 503 and r.headers.get("Retry-After")

    async def test_across_paths_the_database_remembers_what_redis_forgot(
        self, client, partner, resident, shop
    ):
        scanned, verified = await fresh_pass(client, resident), await fresh_pass(client, resident)
        assert (
            await f.make_scan(client, shop["cashier"], scanned, shop["stores"][0]["id"])
        ).status_code == 201
        assert (await verify_pass(client, partner, verified, consume=True)).json()["valid"] is True
        await client.app.ctx.redis.flushdb()
        for token in (scanned, verified):
            for consume in (False, True):
                r = await verify_pass(client, partner, token, consume=consume)
                assert r.json() == {"valid": False, "reason": "PASS_ALREADY_USED"}, (consume, r.text)
        r = await f.make_scan(client, shop["cashier"], verified, shop["stores"][0]["id"])
        assert status_and_code(r) == (409, "PASS_ALREADY_USED")
