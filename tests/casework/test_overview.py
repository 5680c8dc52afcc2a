"""GET /api/v1/admin/overview over HTTP: the regulator's cards count a seeded set exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests import factories as f
from tests.conftest import valid_id_number

MP, ADMIN = f.MP, f.ADMIN


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def clock(client) -> Clock:
    c = Clock()
    client.app.ctx.clock = c
    return c


async def overview(client) -> dict:
    r = await client.get(f"{ADMIN}/overview", headers=await client.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def test_an_empty_database(client):
    assert await overview(client) == {
        "residents": 0,
        "consented": 0,
        "identity_bound": 0,
        "tiers": {},
        "records_by_category": {},
        "cases_open": 0,
        "cases_overdue": 0,
        "offers_pending": 0,
    }


async def test_the_counts_of_a_seeded_set(client, clock):
    admin = await client.admin_headers()
    bound = await f.make_resident(client, 811)  # consented, identity bound: scored
    listed = await f.make_resident(client, 812)
    await client.login_resident(consent=True)  # consented, no identity
    await client.login_resident()  # logged in only
    erased = await client.login_resident(consent=True)
    r = await client.delete(f"{MP}/me", headers=erased["headers"])
    assert r.status_code == 204, r.text

    items = [
        f.credit_record_item(valid_id_number(811), n=1, severity="minor"),
        f.credit_record_item(valid_id_number(811), n=2, category="arrears", severity="general"),
        f.credit_record_item(valid_id_number(899), n=3, category="commendation", severity=None),  # no account
    ]
    r = await client.post(f"{ADMIN}/credit-records", json={"items": items}, headers=admin)
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    # a black-list entry under notice: its record does not count yet, and it is an open case
    r = await client.post(
        f"{ADMIN}/list-entries",
        json={
            "kind": "black",
            "id_number": valid_id_number(812),
            "name": "李四",
            "category": "tourism",
            "title": "强迫购物",
            "basis": "《旅游法》第三十五条",
            "decided_at": date.today().isoformat(),
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{MP}/objections", json={"target": "score", "reason": "请复核"}, headers=bound["headers"]
    )
    assert r.status_code == 201, r.text

    shop = await f.make_shop(client)
    await f.make_offer(client, shop)  # approved
    await f.make_offer(client, shop, approve=False)
    await f.make_offer(client, shop, approve=False, label="第二件")

    tiers: dict[str, int] = {}
    for resident in (bound, listed):
        tier = (await client.get(f"{MP}/score", headers=resident["headers"])).json()["tier"]
        tiers[tier] = tiers.get(tier, 0) + 1

    seen = await overview(client)
    assert seen == {
        "residents": 4,
        "consented": 3,
        "identity_bound": 2,
        "tiers": tiers,
        "records_by_category": {"admin_penalty": 1, "arrears": 1, "commendation": 1},
        "cases_open": 2,
        "cases_overdue": 0,
        "offers_pending": 2,
    }

    clock.now += timedelta(days=11)  # the list notice's window (10 days) passed, not yet advanced
    assert (await overview(client))["cases_overdue"] == 1
    clock.now += timedelta(days=10)  # and the objection's 20 days
    later = await overview(client)
    assert (later["cases_open"], later["cases_overdue"]) == (2, 2)
