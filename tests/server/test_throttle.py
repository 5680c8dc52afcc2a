"""Throttling that slows attackers without locking anyone out, and the explicit CORS policy.

Client addresses come from ``X-Forwarded-For`` here (``PROXIES_COUNT=1``, as behind a load balancer).
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from server.settings import Settings
from server.throttle import Throttle, ThrottleLimits

ADMIN = "/api/v1/admin"
MERCHANT = "/api/v1/merchant"
MP = "/api/v1/mp"
DESK = {"X-Forwarded-For": "10.20.0.7"}  # the regulator's usual desk
STRANGER = {"X-Forwarded-For": "203.0.113.9"}


def at(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(proxies_count=1)


async def admin_login(client, password: str, where: dict[str, str], username: str = "boss"):
    return await client.post(
        f"{ADMIN}/auth/login", json={"username": username, "password": password}, headers=where
    )


def assert_throttled(r) -> int:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "TOO_MANY_REQUESTS"
    retry = int(r.headers["Retry-After"])
    assert retry >= 1
    return retry


class TestPasswordLogins:
    async def test_a_strangers_failures_do_not_lock_the_regulator_out_of_the_usual_desk(self, client):
        await client.admin_headers("boss", "boss-password-1")  # creates the account
        assert (await admin_login(client, "boss-password-1", DESK)).status_code == 200
        answers = [(await admin_login(client, f"guess-{i}", STRANGER)).status_code for i in range(30)]
        assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
        assert (await admin_login(client, "boss-password-1", DESK)).status_code == 200

    async def test_many_strangers_slow_the_account_for_new_addresses_only(self, client):
        await client.admin_headers("boss", "boss-password-1")
        assert (await admin_login(client, "boss-password-1", DESK)).status_code == 200
        limit = client.app.ctx.throttle.limits.login_per_account[0].amount  # 10 in 15 minutes by default
        for i in range(limit):  # a botnet: each address fails twice, far below its own pace
            assert (await admin_login(client, "nope", at(f"198.51.100.{i // 2}"))).status_code == 401
        assert_throttled(await admin_login(client, "boss-password-1", at("198.51.100.200")))
        assert (await admin_login(client, "boss-password-1", DESK)).status_code == 200

    async def test_a_right_password_after_five_wrong_ones_from_the_same_address_waits(self, client):
        m = await client.make_merchant()
        owner = m["owner"]
        for _ in range(5):
            r = await client.post(
                f"{MERCHANT}/auth/login",
                json={"username": owner["username"], "password": "wrong!"},
                headers=STRANGER,
            )
            assert r.status_code == 401
        r = await client.post(
            f"{MERCHANT}/auth/login",
            json={"username": owner["username"], "password": owner["password"]},
            headers=STRANGER,
        )
        assert 1 <= assert_throttled(r) <= 60

    async def test_usernames_guessed_from_one_address_are_slowed(self, client):
        answers = [
            (
                await client.post(
                    f"{MERCHANT}/auth/login",
                    json={"username": f"user-{i}", "password": "x"},
                    headers=STRANGER,
                )
            ).status_code
            for i in range(40)
        ]
        assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
        other = await client.post(
            f"{MERCHANT}/auth/login", json={"username": "user-0", "password": "x"}, headers=at("10.9.9.9")
        )
        assert other.status_code == 401  # another address is not slowed by this one


class TestGrowingDelays:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.with_overrides(login_failures_per_account_and_address="2/2 seconds;4/hour")

    async def test_the_wait_grows_with_the_failures(self, client):
        await client.admin_headers("boss", "boss-password-1")
        for _ in range(2):
            assert (await admin_login(client, "nope", STRANGER)).status_code == 401
        assert assert_throttled(await admin_login(client, "nope", STRANGER)) <= 2
        await asyncio.sleep(2.1)
        for _ in range(2):
            assert (await admin_login(client, "nope", STRANGER)).status_code == 401
        assert assert_throttled(await admin_login(client, "boss-password-1", STRANGER)) > 3000

    async def test_a_success_clears_the_failures_of_its_address(self, client):
        await client.admin_headers("boss", "boss-password-1")
        assert (await admin_login(client, "nope", DESK)).status_code == 401
        assert (await admin_login(client, "boss-password-1", DESK)).status_code == 200
        assert (await admin_login(client, "nope", DESK)).status_code == 401
        assert (await admin_login(client, "boss-password-1", DESK)).status_code == 200


class TestTokens:
    async def test_bad_wechat_codes_from_one_address_are_slowed_and_others_still_log_in(self, client):
        answers = [
            (await client.post(f"{MP}/auth/login", json={"code": f"bogus-{i}"}, headers=STRANGER)).status_code
            for i in range(25)
        ]
        assert answers[:20] == [401] * 20 and set(answers[20:]) == {429}
        good = await client.post(
            f"{MP}/auth/login", json={"code": "mock:o-visitor-1:x"}, headers=at("10.1.1.1")
        )
        assert good.status_code == 200

    async def test_a_good_code_does_not_count(self, client):
        for i in range(25):
            r = await client.post(f"{MP}/auth/login", json={"code": f"mock:o-many-{i}:x"}, headers=STRANGER)
            assert r.status_code == 200

    @pytest.mark.parametrize("prefix", [MP, MERCHANT, ADMIN])
    async def test_bad_refresh_tokens_are_slowed(self, client, prefix):
        answers = [
            (
                await client.post(
                    f"{prefix}/auth/refresh", json={"refresh_token": f"rt-{i}" * 4}, headers=STRANGER
                )
            ).status_code
            for i in range(22)
        ]
        assert answers[:20] == [401] * 20 and set(answers[20:]) == {429}


class TestPublicPages:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.with_overrides(proxies_count=1, public_requests_per_address="3/minute")

    async def test_a_public_page_is_paced_per_address(self, client):
        statuses = [
            (await client.get("/.well-known/jwks.json", headers=STRANGER)).status_code for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        r = await client.get("/.well-known/jwks.json", headers=STRANGER)
        assert 1 <= assert_throttled(r) <= 60
        assert (await client.get("/.well-known/jwks.json", headers=DESK)).status_code == 200


class TestFailsClosed:
    async def test_logins_answer_503_when_the_throttles_store_is_unreachable(self, client):
        await client.admin_headers("boss", "boss-password-1")
        ctx = client.app.ctx
        unreachable = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
        ctx.throttle = Throttle(unreachable, ctx.hasher, ThrottleLimits.from_settings(ctx.settings))
        try:
            r = await admin_login(client, "boss-password-1", DESK)
        finally:
            await unreachable.aclose()
        assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(r.headers["Retry-After"]) >= 1


class TestCors:
    PREFLIGHT = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}

    async def test_no_origin_is_allowed_by_default(self, client):
        r = await client.options(f"{ADMIN}/auth/login", headers=self.PREFLIGHT)
        assert r.status_code == 403 and r.json()["error"]["code"] == "CORS_ORIGIN_NOT_ALLOWED"
        assert "access-control-allow-origin" not in r.headers
        r = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers

    async def test_an_options_call_that_is_not_a_preflight_is_still_405(self, client):
        assert (await client.options(f"{ADMIN}/auth/login")).status_code == 405


class TestCorsOrigins:
    CONSOLE = "https://console.xinyi.example"

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.with_overrides(cors_origins=(self.CONSOLE,))

    async def test_a_listed_origin_gets_its_preflight_and_headers(self, client):
        r = await client.options(
            f"{ADMIN}/auth/login",
            headers={"Origin": self.CONSOLE, "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == self.CONSOLE
        assert "Authorization" in r.headers["access-control-allow-headers"]
        assert "POST" in r.headers["access-control-allow-methods"]
        r = await client.get("/healthz", headers={"Origin": self.CONSOLE})
        assert r.headers["access-control-allow-origin"] == self.CONSOLE and r.headers["vary"] == "Origin"
        r = await client.options(
            f"{ADMIN}/auth/login",
            headers={"Origin": "https://other.example", "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 403
