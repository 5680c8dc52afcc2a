"""Merchants, stores and staff made by regulators; staff login with lockout."""

from __future__ import annotations

import uuid

import pytest

from merchants.models import Staff

ADMIN = "/api/v1/admin"
MERCHANT = "/api/v1/merchant"


class TestAdminCreatesMerchants:
    async def test_merchant_store_and_staff(self, client):
        admin = await client.admin_headers()
        r = await client.post(
            f"{ADMIN}/merchants",
            json={"name": "大理古城客栈", "category": "hotel", "region": "532900"},
            headers=admin,
        )
        assert r.status_code == 201
        merchant = r.json()
        assert merchant["category"] == "hotel" and merchant["region"] == "532900"
        r = await client.post(
            f"{ADMIN}/merchants/{merchant['id']}/stores",
            json={"name": "古城店", "region": "532900"},
            headers=admin,
        )
        assert r.status_code == 201
        store = r.json()
        r = await client.post(
            f"{ADMIN}/merchants/{merchant['id']}/staff",
            json={
                "username": "cashier-1",
                "password": "cashier-password",
                "role": "cashier",
                "store_ids": [store["id"]],
            },
            headers=admin,
        )
        assert r.status_code == 201 and r.json()["store_ids"] == [store["id"]]
        login = await client.post(
            f"{MERCHANT}/auth/login", json={"username": "cashier-1", "password": "cashier-password"}
        )
        assert login.status_code == 200
        assert login.json()["staff"] == {
            "id": r.json()["id"],
            "merchant_id": merchant["id"],
            "role": "cashier",
            "store_ids": [store["id"]],
        }

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"name": "x", "category": "casino", "region": "530100"}, "category"),
            ({"name": "x", "category": "hotel", "region": "5301"}, "region"),
            ({"name": "x", "category": "hotel", "region": "990100"}, "region"),
            ({"name": "", "category": "hotel", "region": "530100"}, "name"),
        ],
    )
    async def test_bad_merchant_fields_are_named(self, client, body, field):
        r = await client.post(f"{ADMIN}/merchants", json=body, headers=await client.admin_headers())
        assert r.status_code == 422 and field in r.json()["error"]["fields"]

    async def test_unknown_merchant_is_404(self, client):
        admin = await client.admin_headers()
        for mid in (str(uuid.uuid4()), "not-a-uuid"):
            r = await client.post(
                f"{ADMIN}/merchants/{mid}/stores", json={"name": "s", "region": "530100"}, headers=admin
            )
            assert r.status_code == 404

    async def test_staff_cannot_be_given_another_merchants_store(self, client):
        a = await client.make_merchant(name="A")
        b = await client.make_merchant(name="B")
        r = await client.post(
            f"{ADMIN}/merchants/{a['id']}/staff",
            json={
                "username": "sneaky",
                "password": "sneaky-password",
                "role": "cashier",
                "store_ids": [b["stores"][0]["id"]],
            },
            headers=await client.admin_headers(),
        )
        assert r.status_code == 422 and "store_ids" in r.json()["error"]["fields"]
        assert not await Staff.exists(username="sneaky")

    async def test_usernames_are_unique(self, client):
        m = await client.make_merchant()
        r = await client.post(
            f"{ADMIN}/merchants/{m['id']}/staff",
            json={
                "username": m["owner"]["username"],
                "password": "another-password",
                "role": "owner",
                "store_ids": [],
            },
            headers=await client.admin_headers(),
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "USERNAME_TAKEN"

    async def test_passwords_are_stored_as_argon2_hashes(self, client):
        m = await client.make_merchant()
        staff = await Staff.get(username=m["owner"]["username"])
        assert staff.password_hash.startswith("$argon2") and m["owner"]["password"] not in staff.password_hash


class TestOwnerManagesStaff:
    async def test_owner_creates_a_cashier_and_a_cashier_cannot(self, client):
        m = await client.make_merchant()
        owner = await client.staff_headers(m["owner"]["username"], m["owner"]["password"])
        body = {
            "username": "till-1",
            "password": "till-password",
            "role": "cashier",
            "store_ids": [m["stores"][0]["id"]],
        }
        r = await client.post(f"{MERCHANT}/staff", json=body, headers=owner)
        assert r.status_code == 201
        cashier = await client.staff_headers("till-1", "till-password")
        r = await client.post(f"{MERCHANT}/staff", json={**body, "username": "till-2"}, headers=cashier)
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


FAILURES_BEFORE_A_WAIT = 5  # the first rung of LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS


class TestStaffLogin:
    async def test_wrong_password_is_invalid_credentials(self, client):
        m = await client.make_merchant()
        r = await client.post(
            f"{MERCHANT}/auth/login", json={"username": m["owner"]["username"], "password": "wrong-one!"}
        )
        assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_CREDENTIALS"

    async def test_lockout_after_repeated_failures_even_with_the_right_password(self, client):
        m = await client.make_merchant()
        user = m["owner"]["username"]
        for _ in range(FAILURES_BEFORE_A_WAIT):
            r = await client.post(f"{MERCHANT}/auth/login", json={"username": user, "password": "wrong-one!"})
            assert r.status_code == 401
        r = await client.post(
            f"{MERCHANT}/auth/login", json={"username": user, "password": m["owner"]["password"]}
        )
        assert r.status_code == 429 and r.json()["error"]["code"] == "TOO_MANY_REQUESTS"
        assert int(r.headers["Retry-After"]) > 0

    async def test_unknown_usernames_lock_out_the_same_way(self, client):
        for _ in range(FAILURES_BEFORE_A_WAIT):
            assert (
                await client.post(f"{MERCHANT}/auth/login", json={"username": "ghost", "password": "x"})
            ).status_code == 401
        assert (
            await client.post(f"{MERCHANT}/auth/login", json={"username": "ghost", "password": "x"})
        ).status_code == 429

    async def test_a_success_resets_the_counter(self, client):
        m = await client.make_merchant()
        user, pw = m["owner"]["username"], m["owner"]["password"]
        for _ in range(FAILURES_BEFORE_A_WAIT - 1):
            await client.post(f"{MERCHANT}/auth/login", json={"username": user, "password": "wrong-one!"})
        assert (
            await client.post(f"{MERCHANT}/auth/login", json={"username": user, "password": pw})
        ).status_code == 200
        await client.post(f"{MERCHANT}/auth/login", json={"username": user, "password": "wrong-one!"})
        assert (
            await client.post(f"{MERCHANT}/auth/login", json={"username": user, "password": pw})
        ).status_code == 200

    async def test_staff_refresh_rotates(self, client):
        m = await client.make_merchant()
        login = (
            await client.post(
                f"{MERCHANT}/auth/login",
                json={"username": m["owner"]["username"], "password": m["owner"]["password"]},
            )
        ).json()
        r = await client.post(f"{MERCHANT}/auth/refresh", json={"refresh_token": login["refresh_token"]})
        assert r.status_code == 200 and r.json()["staff"]["role"] == "owner"
        assert (
            await client.post(f"{MERCHANT}/auth/refresh", json={"refresh_token": login["refresh_token"]})
        ).status_code == 401


class TestAdminLogin:
    async def test_admin_login_and_lockout(self, client):
        await client.admin_headers("boss", "boss-password-1")
        r = await client.post(f"{ADMIN}/auth/login", json={"username": "boss", "password": "nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_CREDENTIALS"
        for _ in range(FAILURES_BEFORE_A_WAIT):
            await client.post(f"{ADMIN}/auth/login", json={"username": "boss", "password": "nope"})
        assert (
            await client.post(f"{ADMIN}/auth/login", json={"username": "boss", "password": "boss-password-1"})
        ).status_code == 429
