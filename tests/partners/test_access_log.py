"""GET /api/v1/mp/access-log: every partner read or verification and every merchant scan, newest first."""

from __future__ import annotations

import pytest

from tests import factories as f
from tests.factories import MP, granted_ref, read_tier, tourism_partner, verify_pass


@pytest.fixture
async def resident(client):
    return await f.make_resident(client, 91)


async def access_log(client, resident, **params):
    r = await client.get(f"{MP}/access-log", params=params, headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()


class TestAccessLog:
    async def test_partner_reads_verifications_and_merchant_scans_show_newest_first(self, client, resident):
        partner = await tourism_partner(client, "一部手机游云南")
        shop = await f.make_merchant(client, name="大理古城客栈")
        ref = await granted_ref(client, resident, partner)
        assert (await read_tier(client, partner, ref)).status_code == 200
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await verify_pass(client, partner, token)).json()["valid"] is True
        assert (await f.make_scan(client, shop["headers"], token, shop["stores"][0]["id"])).status_code == 201
        assert (
            await f.make_scan(client, shop["headers"], token, shop["stores"][0]["id"])
        ).status_code == 409  # replayed

        items = (await access_log(client, resident))["items"]
        assert [(i["actor_type"], i["actor_name"], i["purpose"]) for i in items] == [
            ("merchant", "大理古城客栈", "pass_scan"),
            ("merchant", "大理古城客栈", "pass_scan"),
            ("partner", "一部手机游云南", "pass_verify"),
            ("partner", "一部手机游云南", "tier_read"),
        ]
        assert [i["outcome"] for i in items[:2]] == ["refused", "accepted"]
        assert all(i["at"] and i["purpose_label"] for i in items)

    async def test_refused_partner_reads_and_bad_passes_are_not_reads(self, client, resident):
        partner = await tourism_partner(client)
        await granted_ref(client, resident, partner, ("redemption:write",))
        assert (await read_tier(client, partner, "0" * 32)).status_code == 403
        assert (await verify_pass(client, partner, "garbage")).json()["valid"] is False
        assert (await access_log(client, resident))["items"] == []

    async def test_only_my_own_entries(self, client, resident):
        partner = await tourism_partner(client)
        someone = await f.make_resident(client, 92)
        ref = await granted_ref(client, someone, partner)
        await read_tier(client, partner, ref)
        assert (await access_log(client, resident))["items"] == []
        assert len((await access_log(client, someone))["items"]) == 1

    async def test_pages_across_both_sources_without_gaps_or_repeats(self, client, resident):
        partner = await tourism_partner(client)
        shop = await f.make_merchant(client)
        ref = await granted_ref(client, resident, partner)
        for _ in range(3):
            await read_tier(client, partner, ref)
            token = (await f.issue_pass(client, resident["headers"]))["token"]
            await f.make_scan(client, shop["headers"], token, shop["stores"][0]["id"])
        everything = (await access_log(client, resident))["items"]
        assert len(everything) == 6
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await access_log(client, resident, **params)
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == everything

    async def test_a_bad_cursor_is_422(self, client, resident):
        r = await client.get(f"{MP}/access-log", params={"cursor": "nope"}, headers=resident["headers"])
        assert r.status_code == 422
