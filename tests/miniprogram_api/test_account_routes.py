"""Resident account flow over HTTP: login → consent → identity → me, refresh rotation."""

from __future__ import annotations

import pytest

from residents.models import Resident

MP = "/api/v1/mp"


class TestLogin:
    async def test_new_openid_creates_a_resident_without_consent_or_identity(self, client):
        r = await client.post(f"{MP}/auth/login", json={"code": "mock:openid-alice:1"})
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] > 0
        assert body["resident"]["consented"] is False and body["resident"]["identity_bound"] is False
        assert "X-Request-Id" in r.headers

    async def test_same_openid_logs_into_the_same_account(self, client):
        a = (await client.post(f"{MP}/auth/login", json={"code": "mock:openid-bob:1"})).json()
        b = (await client.post(f"{MP}/auth/login", json={"code": "mock:openid-bob:2"})).json()
        assert a["resident"]["id"] == b["resident"]["id"]

    async def test_reused_code_is_refused(self, client):
        assert (await client.post(f"{MP}/auth/login", json={"code": "mock:carol:x"})).status_code == 200
        r = await client.post(f"{MP}/auth/login", json={"code": "mock:carol:x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "WECHAT_CODE_INVALID"

    @pytest.mark.parametrize("code", ["garbage", "mock::x", "mock:bad openid:1"])
    async def test_invalid_code_is_refused(self, client, code):
        r = await client.post(f"{MP}/auth/login", json={"code": code})
        assert r.status_code == 401 and r.json()["error"]["code"] == "WECHAT_CODE_INVALID"


class TestRefresh:
    async def test_rotation_gives_a_new_pair_and_kills_the_old_token(self, client):
        login = await client.login_resident()
        r = await client.post(f"{MP}/auth/refresh", json={"refresh_token": login["refresh_token"]})
        assert r.status_code == 200
        fresh = r.json()
        assert fresh["refresh_token"] != login["refresh_token"]
        me = await client.get(f"{MP}/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
        assert me.status_code == 200 and me.json()["id"] == login["resident"]["id"]
        again = await client.post(f"{MP}/auth/refresh", json={"refresh_token": login["refresh_token"]})
        assert again.status_code == 401 and again.json()["error"]["code"] == "UNAUTHENTICATED"

    async def test_reusing_a_used_token_revokes_the_whole_family(self, client):
        login = await client.login_resident()
        fresh = (
            await client.post(f"{MP}/auth/refresh", json={"refresh_token": login["refresh_token"]})
        ).json()
        assert (
            await client.post(f"{MP}/auth/refresh", json={"refresh_token": login["refresh_token"]})
        ).status_code == 401
        # The thief replayed the old token: the legitimate newer token dies too.
        r = await client.post(f"{MP}/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
        assert r.status_code == 401

    async def test_other_sessions_survive_a_family_revocation(self, client):
        first = await client.login_resident("same-person")
        second = await client.login_resident("same-person")
        await client.post(f"{MP}/auth/refresh", json={"refresh_token": first["refresh_token"]})
        await client.post(f"{MP}/auth/refresh", json={"refresh_token": first["refresh_token"]})
        r = await client.post(f"{MP}/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert r.status_code == 200

    async def test_unknown_token_is_401(self, client):
        r = await client.post(f"{MP}/auth/refresh", json={"refresh_token": "x" * 43})
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"


class TestConsent:
    async def test_terms_accept_and_withdraw(self, client):
        login = await client.login_resident()
        h = login["headers"]
        terms = (await client.get(f"{MP}/consent", headers=h)).json()
        assert terms["version"] and terms["scopes"] and terms["consented"] is False
        r = await client.post(f"{MP}/consent", json={"version": terms["version"]}, headers=h)
        assert r.status_code == 200 and r.json()["consented"] is True
        assert (await client.get(f"{MP}/me", headers=h)).json()["consented"] is True
        r = await client.delete(f"{MP}/consent", headers=h)
        assert r.status_code == 200 and r.json()["consented"] is False
        assert (await client.get(f"{MP}/me", headers=h)).json()["consented"] is False

    async def test_an_old_version_is_refused(self, client):
        h = (await client.login_resident())["headers"]
        r = await client.post(f"{MP}/consent", json={"version": "2001-01-01"}, headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "CONSENT_VERSION_OUTDATED"


class TestIdentity:
    async def test_binding_needs_consent(self, client, id_number):
        h = (await client.login_resident())["headers"]
        r = await client.post(f"{MP}/identity", json={"name": "张三", "id_number": id_number(1)}, headers=h)
        assert r.status_code == 403 and r.json()["error"]["code"] == "CONSENT_REQUIRED"

    async def test_bind_then_me_shows_masked_values_only(self, client, id_number, wechat_sandbox):
        h = (await client.login_resident(consent=True))["headers"]
        number = id_number(7)
        r = await client.post(
            f"{MP}/identity",
            json={"name": "李小龙", "id_number": number, "phone_code": "phone:13800138000"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"identity_bound": True, "id_number_masked": number[:3] + "*" * 11 + number[-4:]}
        me = (await client.get(f"{MP}/me", headers=h)).json()
        assert me["identity_bound"] is True
        assert me["name_masked"] == "李**"
        assert me["phone_masked"] == "138****8000"
        assert number not in str(me) and "13800138000" not in str(me)

    async def test_id_number_and_phone_are_not_stored_in_plain_text(self, client, id_number):
        login = await client.login_resident(consent=True)
        number = id_number(8)
        await client.post(
            f"{MP}/identity",
            json={"name": "王五", "id_number": number, "phone_code": "phone:13912345678"},
            headers=login["headers"],
        )
        row = await Resident.get(id=login["resident"]["id"])
        stored = " ".join(str(v) for v in row.__dict__.values())
        assert number not in stored and number[:-1] not in stored
        assert "13912345678" not in stored and "王五" not in stored
        assert row.id_number_hash and len(row.id_number_hash) == 64

    @pytest.mark.parametrize(
        "bad",
        [
            "53010219900101001",
            "530102199001010010",
            "5301021990010100AX",
            "990102199001010015",
            "530102199013010016",
        ],
    )
    async def test_bad_id_numbers_get_id_number_invalid(self, client, bad):
        h = (await client.login_resident(consent=True))["headers"]
        r = await client.post(f"{MP}/identity", json={"name": "张三", "id_number": bad}, headers=h)
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == "ID_NUMBER_INVALID" and "id_number" in err["fields"]

    async def test_lowercase_x_check_digit_is_accepted(self, client):
        from residents.identity import with_check_digit

        number = next(
            with_check_digit(f"53010219900101{i:03d}")
            for i in range(1000)
            if with_check_digit(f"53010219900101{i:03d}").endswith("X")
        )
        h = (await client.login_resident(consent=True))["headers"]
        r = await client.post(f"{MP}/identity", json={"name": "张三", "id_number": number.lower()}, headers=h)
        assert r.status_code == 200, r.text

    async def test_one_account_per_id_number(self, client, id_number):
        number = id_number(9)
        await client.login_resident(consent=True, identity=number)
        h = (await client.login_resident(consent=True))["headers"]
        r = await client.post(f"{MP}/identity", json={"name": "张三", "id_number": number}, headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "IDENTITY_TAKEN"

    async def test_rebinding_the_same_number_is_idempotent_and_another_is_refused(self, client, id_number):
        login = await client.login_resident(consent=True, identity=id_number(10))
        h = login["headers"]
        r = await client.post(f"{MP}/identity", json={"name": "张三", "id_number": id_number(10)}, headers=h)
        assert r.status_code == 200
        r = await client.post(f"{MP}/identity", json={"name": "张三", "id_number": id_number(11)}, headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "IDENTITY_ALREADY_BOUND"

    async def test_bad_phone_code(self, client, id_number):
        h = (await client.login_resident(consent=True))["headers"]
        r = await client.post(
            f"{MP}/identity",
            json={"name": "张三", "id_number": id_number(12), "phone_code": "nope"},
            headers=h,
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "PHONE_CODE_INVALID"
        me = (await client.get(f"{MP}/me", headers=h)).json()
        assert me["identity_bound"] is False
