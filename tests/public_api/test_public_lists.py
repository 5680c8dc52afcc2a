"""The public lists over HTTP, as anyone would read them: masked names, never an ID number, active entries only,
an exit seen at once (through the cache), the region filter, the HTML pages, and the pace per address."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.settings import Settings
from tests import factories as f
from tests.conftest import valid_id_number

ADMIN = f.ADMIN
PUBLIC = "/api/v1/public"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def clock(client) -> Clock:
    c = Clock()
    client.app.ctx.clock = c
    return c


async def identify(client, seed: int, **changes) -> dict:
    body = {
        "kind": "red",
        "id_number": valid_id_number(seed),
        "name": "张三",
        "category": "tourism",
        "title": "见义勇为",
        "basis": "《云南省守信激励办法》第五条",
        "decided_at": date.today().isoformat(),
        **changes,
    }
    r = await client.post(f"{ADMIN}/list-entries", json=body, headers=await client.admin_headers())
    assert r.status_code == 201, r.text
    return r.json()


async def advance(client, clock: Clock) -> None:
    clock.advance(days=11)  # past the objection window (10 days by default)
    r = await client.post(f"{ADMIN}/list-entries/advance", headers=await client.admin_headers())
    assert r.status_code == 200, r.text


async def public_items(client, kind: str = "red", **params) -> list[dict]:
    r = await client.get(f"{PUBLIC}/{kind}-list", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_names_are_masked_and_no_id_number_is_shown(client, clock):
    await identify(client, 1, name="张三", region="532901")
    await identify(client, 2, name="欧阳娜娜", region="530102")
    await identify(client, 3, kind="black", name="李四", title="恶意拖欠导游服务费")
    await advance(client, clock)

    r = await client.get(f"{PUBLIC}/red-list")
    assert r.status_code == 200
    items = r.json()["items"]
    assert sorted(i["name_masked"] for i in items) == ["张*", "欧***"]
    assert set(items[0]) == {
        "name_masked",
        "category",
        "title",
        "basis",
        "region",
        "decided_at",
        "publicity_until",
    }
    black = await public_items(client, "black")
    assert [i["name_masked"] for i in black] == ["李*"]
    assert black[0]["title"] == "恶意拖欠导游服务费"

    page = await client.get("/public/red-list")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "张*" in page.text and "欧***" in page.text and "守信红名单" in page.text
    for seed in (1, 2, 3):
        number = valid_id_number(seed)
        for text in (r.text, page.text, (await client.get(f"{PUBLIC}/black-list")).text):
            assert number not in text and number[:14] not in text
    assert "张三" not in page.text and "欧阳娜娜" not in r.text


async def test_only_active_entries_are_published(client, clock):
    await identify(client, 4, name="王五")
    assert await public_items(client) == []  # notified: the person may still object
    html = (await client.get("/public/red-list")).text
    assert "暂无公示记录" in html and "王*" not in html
    await advance(client, clock)
    assert [i["name_masked"] for i in await public_items(client)] == ["王*"]


async def test_an_exited_entry_disappears_at_once(client, clock):
    entry = await identify(client, 5, name="赵六")
    await identify(client, 6, name="钱七")
    await advance(client, clock)
    first = await client.get(f"{PUBLIC}/red-list")
    assert sorted(i["name_masked"] for i in first.json()["items"]) == ["赵*", "钱*"]
    etag = first.headers["etag"]
    again = await client.get(f"{PUBLIC}/red-list", headers={"If-None-Match": etag})
    assert again.status_code == 304  # unchanged: the browser may show what it has
    await client.get("/public/red-list")  # the page is cached too

    r = await client.post(
        f"{ADMIN}/list-entries/{entry['id']}/exit",
        json={"reason": "认定有误"},
        headers=await client.admin_headers(),
    )
    assert r.status_code == 200, r.text
    after = await client.get(f"{PUBLIC}/red-list", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert [i["name_masked"] for i in after.json()["items"]] == ["钱*"]
    html = (await client.get("/public/red-list")).text
    assert "钱*" in html and "赵*" not in html


async def test_the_region_filter_rolls_up_by_prefix(client, clock):
    await identify(client, 7, name="大理甲", region="532901")
    await identify(client, 8, name="大理乙", region="532923")
    await identify(client, 9, name="昆明丙", region="530102")
    await identify(client, 10, name="无地区")
    await advance(client, clock)
    names = lambda items: sorted(i["name_masked"] for i in items)  # noqa: E731
    assert names(await public_items(client, region="532900")) == ["大**", "大**"]
    assert names(await public_items(client, region="532901")) == ["大**"]
    assert len(await public_items(client, region="530000")) == 3
    assert len(await public_items(client)) == 4
    r = await client.get(f"{PUBLIC}/red-list", params={"region": "53"})
    assert r.status_code == 422 and "region" in r.json()["error"]["fields"]
    page = await client.get("/public/red-list", params={"region": "530100"})
    assert page.status_code == 200 and "昆**" in page.text and "大**" not in page.text
    assert 'value="530100"' in page.text  # the form keeps the filter
    bad = await client.get("/public/red-list", params={"region": "abc"})
    assert bad.status_code == 422 and "地区代码应为" in bad.text


async def test_pages_link_to_the_next_page(client, clock):
    for seed in range(11, 14):
        await identify(client, seed, name="孙八", region="530700")
    await advance(client, clock)
    r = await client.get(f"{PUBLIC}/red-list", params={"limit": 2})
    assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    rest = await public_items(client, limit=2, cursor=r.json()["next_cursor"])
    assert len(rest) == 1
    page = await client.get("/public/red-list", params={"limit": 2, "region": "530700"})
    assert 'rel="next"' in page.text and "cursor=" in page.text and "region=530700" in page.text


async def test_pages_have_their_own_policy_and_stylesheet(client):
    page = await client.get("/public/black-list")
    csp = page.headers["content-security-policy"]
    assert "style-src 'self'" in csp and "script-src" not in csp and "http" not in csp
    assert page.headers["cache-control"] == "public, no-cache" and page.headers["etag"]
    css = await client.get("/public/assets/public.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await client.get("/public/assets/../pages.py")).status_code == 404
    assert (await client.get("/public/assets/nothing.css")).status_code == 404


async def test_a_list_entry_keeps_its_region_for_the_regulator(client):
    made = await identify(client, 20, region="530700")
    r = await client.get(f"{ADMIN}/list-entries/{made['id']}", headers=await client.admin_headers())
    assert r.status_code == 200 and r.json()["region"] == "530700"
    bad = {
        "kind": "red",
        "id_number": valid_id_number(21),
        "name": "张三",
        "category": "tourism",
        "title": "t",
        "basis": "b",
        "decided_at": date.today().isoformat(),
        "region": "990000",
    }
    r = await client.post(f"{ADMIN}/list-entries", json=bad, headers=await client.admin_headers())
    assert r.status_code == 422 and "region" in r.json()["error"]["fields"]


class TestPace:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.with_overrides(proxies_count=1, public_requests_per_address="3/minute")

    async def test_public_lists_and_pages_are_paced_per_address(self, client):
        stranger = {"X-Forwarded-For": "203.0.113.9"}
        paths = [f"{PUBLIC}/red-list", "/public/black-list", f"{PUBLIC}/benefits", "/public/red-list"]
        statuses = [(await client.get(p, headers=stranger)).status_code for p in paths]
        assert statuses == [200, 200, 200, 429]
        r = await client.get(f"{PUBLIC}/black-list", headers=stranger)
        assert r.status_code == 429 and r.json()["error"]["code"] == "TOO_MANY_REQUESTS"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        other = await client.get(f"{PUBLIC}/red-list", headers={"X-Forwarded-For": "198.51.100.4"})
        assert other.status_code == 200
