"""Grants over HTTP: a resident authorises two tourism platforms, they exchange codes and read tiers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from partners.models import Grant
from tests import factories as f
from tests.factories import (
    MP,
    exchange,
    granted_ref,
    make_grant,
    make_partner,
    read_tier,
    status_and_code,
    tourism_partner,
)


@pytest.fixture
async def partners(client):
    return await tourism_partner(client, "一部手机游云南"), await tourism_partner(client, "携程旅行")


@pytest.fixture
async def resident(client):
    return await f.make_resident(client, 71, name="赵六")


class TestCreateGrant:
    async def test_answers_a_short_lived_single_use_code(self, client, partners, resident):
        before = datetime.now(UTC)
        r = await client.post(
            f"{MP}/grants",
            json={"partner_id": partners[0]["id"], "scopes": ["tier:read"]},
            headers=resident["headers"],
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert {"id", "authorization_code", "expires_at"} <= set(body)
        expires = datetime.fromisoformat(body["expires_at"])
        assert before < expires <= datetime.now(UTC) + timedelta(minutes=10)
        assert body["status"] == "pending" and body["scopes"] == ["tier:read"]
        stored = await Grant.get(id=body["id"])
        assert body["authorization_code"] not in stored.code_hash  # only its hash is kept

    async def test_scopes_must_be_among_the_partners_own(self, client, resident):
        partner = await tourism_partner(client, scopes=("pass:verify", "tier:read"))
        r = await client.post(
            f"{MP}/grants",
            json={"partner_id": partner["id"], "scopes": ["tier:read", "redemption:write"]},
            headers=resident["headers"],
        )
        assert status_and_code(r) == (422, "VALIDATION_ERROR")
        assert "redemption:write" in r.json()["error"]["fields"]["scopes"]

    @pytest.mark.parametrize(
        "body",
        [
            {"partner_id": "00000000-0000-4000-8000-000000000000", "scopes": ["tier:read"]},
            {"partner_id": "not-a-uuid", "scopes": ["tier:read"]},
            {"scopes": ["tier:read"]},
            {"partner_id": None, "scopes": []},
            {"partner_id": "00000000-0000-4000-8000-000000000000", "scopes": ["root"]},
        ],
    )
    async def test_bad_bodies_are_422(self, client, resident, body):
        r = await client.post(f"{MP}/grants", json=body, headers=resident["headers"])
        assert status_and_code(r) == (422, "VALIDATION_ERROR"), r.text

    async def test_needs_consent_and_identity(self, client, partners):
        body = {"partner_id": partners[0]["id"], "scopes": ["tier:read"]}
        fresh = await client.login_resident()
        assert status_and_code(await client.post(f"{MP}/grants", json=body, headers=fresh["headers"])) == (
            403,
            "CONSENT_REQUIRED",
        )
        consented = await client.login_resident(consent=True)
        r = await client.post(f"{MP}/grants", json=body, headers=consented["headers"])
        assert status_and_code(r) == (403, "IDENTITY_REQUIRED")
        assert (await client.post(f"{MP}/grants", json=body)).status_code == 401


class TestExchange:
    async def test_gives_the_reference_scopes_and_end_of_the_grant(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0], ("tier:read", "redemption:write"))
        r = await exchange(client, partners[0], grant["authorization_code"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"partner_user_ref", "scopes", "expires_at"}
        assert body["scopes"] == ["redemption:write", "tier:read"]
        assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC) + timedelta(days=300)
        for leak in (resident["resident"]["id"], resident["resident"]["id"].replace("-", "")):
            assert leak not in body["partner_user_ref"]

    async def test_a_code_works_once(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0])
        assert (await exchange(client, partners[0], grant["authorization_code"])).status_code == 200
        assert status_and_code(await exchange(client, partners[0], grant["authorization_code"])) == (
            400,
            "GRANT_CODE_INVALID",
        )

    async def test_concurrent_exchanges_of_one_code_let_exactly_one_through(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0])
        answers = await asyncio.gather(
            *(exchange(client, partners[0], grant["authorization_code"]) for _ in range(5))
        )
        assert sorted(r.status_code for r in answers) == [200, 400, 400, 400, 400]

    async def test_another_partners_code_unknown_and_expired_codes_are_refused(
        self, client, partners, resident
    ):
        grant = await make_grant(client, resident, partners[0])
        assert status_and_code(await exchange(client, partners[1], grant["authorization_code"])) == (
            400,
            "GRANT_CODE_INVALID",
        )
        assert status_and_code(await exchange(client, partners[0], "gc_nope")) == (400, "GRANT_CODE_INVALID")
        await Grant.filter(id=grant["id"]).update(code_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        assert status_and_code(await exchange(client, partners[0], grant["authorization_code"])) == (
            400,
            "GRANT_CODE_INVALID",
        )

    async def test_a_revoked_pending_code_cannot_be_exchanged(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0])
        assert (
            await client.delete(f"{MP}/grants/{grant['id']}", headers=resident["headers"])
        ).status_code == 200
        assert status_and_code(await exchange(client, partners[0], grant["authorization_code"])) == (
            400,
            "GRANT_CODE_INVALID",
        )

    async def test_any_partner_may_exchange_but_it_must_sign(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0])
        r = await client.post(
            "/api/v1/partner/grants/exchange", json={"authorization_code": grant["authorization_code"]}
        )
        assert status_and_code(r) == (401, "SIGNATURE_INVALID")


class TestPairwiseReferences:
    async def test_stable_for_one_partner_and_different_between_partners(self, client, partners, resident):
        first = await granted_ref(client, resident, partners[0])
        again = await granted_ref(client, resident, partners[0])
        other = await granted_ref(client, resident, partners[1])
        assert first == again
        assert first != other

    async def test_different_for_two_residents_of_one_partner(self, client, partners, resident):
        someone = await f.make_resident(client, 72)
        assert await granted_ref(client, resident, partners[0]) != await granted_ref(
            client, someone, partners[0]
        )

    async def test_a_new_grant_replaces_the_previous_one_of_the_pair(self, client, partners, resident):
        await granted_ref(client, resident, partners[0], ("tier:read", "redemption:write"))
        await granted_ref(client, resident, partners[0], ("tier:read",))
        r = await client.get(f"{MP}/grants", headers=resident["headers"])
        assert [(g["status"], g["scopes"]) for g in r.json()["items"]] == [
            ("active", ["tier:read"]),
            ("replaced", ["redemption:write", "tier:read"]),
        ]


class TestTierQuery:
    async def test_the_live_tier_with_an_active_grant(self, client, partners, resident, id_number):
        ref = await granted_ref(client, resident, partners[0])
        r = await read_tier(client, partners[0], ref)
        assert r.status_code == 200, r.text
        assert r.json()["tier"] == "A" and datetime.fromisoformat(r.json()["as_of"])
        await f.blacklist(client, id_number(71))
        assert (await read_tier(client, partners[0], ref)).json()["tier"] == "restricted"

    async def test_grant_required_without_a_grant_of_that_partner(self, client, partners, resident):
        ref = await granted_ref(client, resident, partners[0])
        assert status_and_code(await read_tier(client, partners[1], ref)) == (
            403,
            "GRANT_REQUIRED",
        )  # another partner's ref
        assert status_and_code(await read_tier(client, partners[0], "0" * 32)) == (
            403,
            "GRANT_REQUIRED",
        )  # never given
        assert status_and_code(await read_tier(client, partners[0], "not-a-ref")) == (403, "GRANT_REQUIRED")

    async def test_a_pending_grant_is_not_enough(self, client, partners, resident):
        ref = await granted_ref(client, resident, partners[1])
        await make_grant(client, resident, partners[0])  # code never exchanged
        assert status_and_code(await read_tier(client, partners[0], ref)) == (403, "GRANT_REQUIRED")

    async def test_revocation_takes_effect_at_once(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0])
        ref = (await exchange(client, partners[0], grant["authorization_code"])).json()["partner_user_ref"]
        assert (await read_tier(client, partners[0], ref)).status_code == 200
        r = await client.delete(f"{MP}/grants/{grant['id']}", headers=resident["headers"])
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        assert status_and_code(await read_tier(client, partners[0], ref)) == (403, "GRANT_REQUIRED")

    async def test_a_grant_without_tier_read_is_grant_required(self, client, partners, resident):
        ref = await granted_ref(client, resident, partners[0], ("redemption:write",))
        assert status_and_code(await read_tier(client, partners[0], ref)) == (403, "GRANT_REQUIRED")

    async def test_a_partner_without_the_scope_is_scope_missing(self, client, resident):
        volunteer = await make_partner(client, kind="tourism", scopes=("pass:verify",), name="只验码平台")
        assert status_and_code(await read_tier(client, volunteer, "0" * 32)) == (403, "SCOPE_MISSING")

    async def test_an_expired_grant_is_grant_required(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0])
        ref = (await exchange(client, partners[0], grant["authorization_code"])).json()["partner_user_ref"]
        await Grant.filter(id=grant["id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        assert status_and_code(await read_tier(client, partners[0], ref)) == (403, "GRANT_REQUIRED")
        listed = (await client.get(f"{MP}/grants", headers=resident["headers"])).json()["items"]
        assert listed[0]["status"] == "expired"

    async def test_withdrawn_consent_stops_partner_reads(self, client, partners, resident):
        ref = await granted_ref(client, resident, partners[0])
        assert (await client.delete(f"{MP}/consent", headers=resident["headers"])).status_code == 200
        assert status_and_code(await read_tier(client, partners[0], ref)) == (403, "GRANT_REQUIRED")


class TestListAndRevoke:
    async def test_lists_my_grants_with_partner_names_scopes_dates_and_status(
        self, client, partners, resident
    ):
        pending = await make_grant(client, resident, partners[1])
        await granted_ref(client, resident, partners[0], ("tier:read", "pass:verify"))
        r = await client.get(f"{MP}/grants", headers=resident["headers"])
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [(g["partner"]["name"], g["status"]) for g in items] == [
            ("一部手机游云南", "active"),
            ("携程旅行", "pending"),
        ]
        assert items[0]["scopes"] == ["pass:verify", "tier:read"]
        assert items[0]["activated_at"] and items[0]["expires_at"] and items[0]["created_at"]
        assert items[1]["id"] == pending["id"] and "authorization_code" not in items[1]
        someone = await f.make_resident(client, 73)
        assert (await client.get(f"{MP}/grants", headers=someone["headers"])).json()["items"] == []

    async def test_pages_with_a_cursor(self, client, partners, resident):
        for _ in range(3):
            await make_grant(client, resident, partners[0])
        first = (await client.get(f"{MP}/grants", params={"limit": 2}, headers=resident["headers"])).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = (
            await client.get(
                f"{MP}/grants",
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=resident["headers"],
            )
        ).json()
        assert len(rest["items"]) == 1 and rest["next_cursor"] is None
        assert not {g["id"] for g in first["items"]} & {g["id"] for g in rest["items"]}

    async def test_only_my_own_grants_can_be_revoked_and_twice_is_fine(self, client, partners, resident):
        grant = await make_grant(client, resident, partners[0])
        someone = await f.make_resident(client, 74)
        assert status_and_code(
            await client.delete(f"{MP}/grants/{grant['id']}", headers=someone["headers"])
        ) == (
            404,
            "GRANT_NOT_FOUND",
        )
        assert (
            status_and_code(await client.delete(f"{MP}/grants/nope", headers=resident["headers"]))[0] == 404
        )
        for _ in range(2):
            r = await client.delete(f"{MP}/grants/{grant['id']}", headers=resident["headers"])
            assert r.status_code == 200 and r.json()["status"] == "revoked" and r.json()["revoked_at"]
