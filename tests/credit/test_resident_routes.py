"""The resident's credit views: /score, /score/history, /records, /volunteer-hours, and /me's tier."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from credit import service
from tests.credit.conftest import MP, today

CREDIT_PATHS = ["/score", "/score/history", "/records", "/volunteer-hours"]


def months_later_minus_a_day(day, months):
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    return datetime(year, month, min(day.day, calendar.monthrange(year, month)[1])).date() - timedelta(days=1)


class TestGuards:
    @pytest.mark.parametrize("path", CREDIT_PATHS)
    async def test_consent_comes_first(self, client, path):
        resident = await client.login_resident()
        r = await client.get(f"{MP}{path}", headers=resident["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "CONSENT_REQUIRED"

    @pytest.mark.parametrize("path", CREDIT_PATHS)
    async def test_identity_is_required_after_consent(self, client, path):
        resident = await client.login_resident(consent=True)
        r = await client.get(f"{MP}{path}", headers=resident["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "IDENTITY_REQUIRED"

    async def test_no_token_is_401(self, client):
        assert (await client.get(f"{MP}/score")).status_code == 401


class TestScore:
    async def test_a_resident_without_records_is_in_tier_a_with_the_next_tier_and_points(
        self, client, id_number
    ):
        resident = await client.login_resident(identity=id_number(1))
        r = await client.get(f"{MP}/score", headers=resident["headers"])
        assert r.status_code == 200
        body = r.json()
        assert (body["score"], body["tier"], body["ruleset_version"]) == (600, "A", "default-v1")
        assert body["next_tier"] == {"tier": "AA", "points_needed": 100}
        assert body["factors"] == [{"code": "BASE", "label": "基础分", "points": 600, "record_ids": []}]
        assert datetime.fromisoformat(body["computed_at"]).tzinfo is not None

    async def test_factors_name_their_records(self, client, post_records, record, id_number):
        resident = await client.login_resident(identity=id_number(2))
        await post_records(
            [
                record(id_number(2), category="commendation", severity=None),
                record(id_number(2), severity="minor"),
            ]
        )
        body = (await client.get(f"{MP}/score", headers=resident["headers"])).json()
        records = (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"]
        ids = {r["category"]: r["id"] for r in records}
        factors = {f["code"]: f for f in body["factors"]}
        assert factors["COMMENDATION"]["record_ids"] == [ids["commendation"]]
        assert factors["ADMIN_PENALTY_MINOR"] == {
            "code": "ADMIN_PENALTY_MINOR",
            "label": "行政处罚（轻微）",
            "points": -10,
            "record_ids": [ids["admin_penalty"]],
        }
        assert body["score"] == 610 == sum(f["points"] for f in body["factors"])

    async def test_black_listing_makes_the_resident_restricted_everywhere(
        self, client, post_records, record, id_number
    ):
        resident = await client.login_resident(identity=id_number(3))
        h = resident["headers"]
        assert (await client.get(f"{MP}/me", headers=h)).json()["tier"] == "A"
        black = record(id_number(3), category="black_list", severity=None)
        await post_records([black])
        score = (await client.get(f"{MP}/score", headers=h)).json()
        assert score["tier"] == "restricted" and score["next_tier"] is None
        assert (await client.get(f"{MP}/me", headers=h)).json()["tier"] == "restricted"
        assert await service.live_tier(uuid.UUID(resident["resident"]["id"])) == "restricted"
        # The source withdraws the listing: the tier comes back.
        await post_records([{**black, "status": "revoked"}])
        assert (await client.get(f"{MP}/me", headers=h)).json()["tier"] == "A"
        history = (await client.get(f"{MP}/score/history", headers=h)).json()["items"]
        assert [(i["tier"], i["previous_tier"]) for i in history] == [
            ("A", "restricted"),
            ("restricted", "A"),
            ("A", None),
        ]

    async def test_me_has_no_tier_before_binding(self, client):
        resident = await client.login_resident(consent=True)
        assert (await client.get(f"{MP}/me", headers=resident["headers"])).json()["tier"] is None


class TestRecords:
    async def test_publicity_windows_show_as_counts_until(self, client, post_records, record, id_number):
        resident = await client.login_resident(identity=id_number(4))
        decided = today() - timedelta(days=20)
        long_ago = today() - timedelta(days=200)
        await post_records(
            [
                record(id_number(4), severity="minor", days_ago=20),
                record(id_number(4), severity="serious", days_ago=20),
                record(id_number(4), severity="minor", days_ago=200),  # its 3 months are over
            ]
        )
        items = (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"]
        by_key = {(i["severity"], i["occurred_at"]): i for i in items}
        minor = by_key[("minor", decided.isoformat())]
        serious = by_key[("serious", decided.isoformat())]
        expired = by_key[("minor", long_ago.isoformat())]
        assert (
            minor["counts_until"] == months_later_minus_a_day(decided, 3).isoformat()
            and minor["points"] == -10
        )
        assert serious["counts_until"] == months_later_minus_a_day(decided, 36).isoformat()
        assert serious["points"] == -120
        assert expired["counts_until"] < today().isoformat() and expired["points"] == 0
        assert set(items[0]) >= {
            "id",
            "category",
            "title",
            "source",
            "occurred_at",
            "status",
            "counts_until",
            "points",
        }

    async def test_capped_bonuses_share_the_cap_in_record_order(
        self, client, post_records, record, id_number
    ):
        resident = await client.login_resident(identity=id_number(5))
        await post_records([record(id_number(5), category="commendation", severity=None) for _ in range(4)])
        items = (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"]
        assert sorted(i["points"] for i in items) == [0, 20, 20, 20]
        assert (await client.get(f"{MP}/score", headers=resident["headers"])).json()["score"] == 660

    async def test_cursor_pagination_walks_every_record_once(self, client, post_records, record, id_number):
        resident = await client.login_resident(identity=id_number(6))
        await post_records(
            [record(id_number(6), severity="minor", days_ago=d) for d in (5, 5, 5, 9, 30, 400, 401)]
        )
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            body = (await client.get(f"{MP}/records", params=params, headers=resident["headers"])).json()
            seen += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and len(seen) == 7 and len({i["id"] for i in seen}) == 7
        keys = [(i["occurred_at"], int(i["id"])) for i in seen]
        assert keys == sorted(keys, reverse=True)

    async def test_a_forged_cursor_is_422(self, client, id_number):
        resident = await client.login_resident(identity=id_number(7))
        r = await client.get(f"{MP}/records", params={"cursor": "bm9wZQ"}, headers=resident["headers"])
        assert r.status_code == 422 and "cursor" in r.json()["error"]["fields"]

    async def test_limit_is_bounded(self, client, id_number):
        resident = await client.login_resident(identity=id_number(8))
        r = await client.get(f"{MP}/records", params={"limit": 1000}, headers=resident["headers"])
        assert r.status_code == 422 and "limit" in r.json()["error"]["fields"]


class TestHistory:
    async def test_history_pages_newest_first_with_reasons(self, client, post_records, record, id_number):
        resident = await client.login_resident(identity=id_number(9))
        for _ in range(3):
            await post_records([record(id_number(9), category="commendation", severity=None)])
        h = resident["headers"]
        first = (await client.get(f"{MP}/score/history", params={"limit": 2}, headers=h)).json()
        assert [i["score"] for i in first["items"]] == [660, 640] and first["next_cursor"]
        second = (
            await client.get(
                f"{MP}/score/history", params={"limit": 2, "cursor": first["next_cursor"]}, headers=h
            )
        ).json()
        assert [(i["score"], i["reason"]) for i in second["items"]] == [
            (620, "records_changed"),
            (600, "identity_bound"),
        ]
        assert second["next_cursor"] is None

    async def test_the_same_records_again_add_no_history(self, client, post_records, record, id_number):
        resident = await client.login_resident(identity=id_number(10))
        items = [record(id_number(10), severity="minor")]
        await post_records(items)
        await post_records(items)
        history = (await client.get(f"{MP}/score/history", headers=resident["headers"])).json()["items"]
        assert len(history) == 2


class TestVolunteerHours:
    async def test_hours_are_listed_with_a_total_that_counts_an_activity_once(self, client, id_number, app):
        resident = await client.login_resident(identity=id_number(11))
        now = datetime.now(UTC)
        start = now - timedelta(days=2)
        ctx = app.ctx
        common = {
            "id_number": id_number(11),
            "name": "张三",
            "activity": "景区讲解",
            "organization": "丽江志愿者协会",
            "hasher": ctx.hasher,
            "cipher": ctx.cipher,
            "now": now,
        }
        await service.upsert_volunteer_record(
            partner_id=uuid.uuid4(), external_id="a", started_at=start, hours=Decimal("3"), **common
        )
        await service.upsert_volunteer_record(
            partner_id=uuid.uuid4(),
            external_id="b",
            started_at=start + timedelta(hours=1),
            hours=Decimal("2"),
            **common,
        )
        await service.upsert_volunteer_record(
            partner_id=uuid.uuid4(),
            external_id="c",
            started_at=start - timedelta(days=3),
            hours=Decimal("1.5"),
            **common,
        )
        body = (
            await client.get(f"{MP}/volunteer-hours", params={"limit": 2}, headers=resident["headers"])
        ).json()
        assert body["total_hours"] == 4.5
        assert [(i["hours"], i["counted"]) for i in body["items"]] == [(2.0, False), (3.0, True)]
        assert body["next_cursor"]
        rest = (
            await client.get(
                f"{MP}/volunteer-hours", params={"cursor": body["next_cursor"]}, headers=resident["headers"]
            )
        ).json()
        assert [i["hours"] for i in rest["items"]] == [1.5] and rest["next_cursor"] is None
        score = (await client.get(f"{MP}/score", headers=resident["headers"])).json()
        volunteer = next(f for f in score["factors"] if f["code"] == "VOLUNTEER_HOURS")
        assert volunteer["points"] > 0 and len(volunteer["record_ids"]) == 2
