"""The subject's rights over HTTP: a black-list entry through every state, objections, repairs, and the inbox.

Time moves by the app's clock (``client.app.ctx.clock``), as a daily job would see it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from partners.models import WebhookDelivery
from tests import factories as f
from tests.conftest import valid_id_number

MP, ADMIN = f.MP, f.ADMIN


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


def entry_body(seed: int, **changes):
    body = {
        "kind": "black",
        "id_number": valid_id_number(seed),
        "name": "张三",
        "category": "tourism",
        "title": "恶意拖欠导游服务费",
        "basis": "《云南省旅游市场失信行为认定办法》第八条",
        "decided_at": date.today().isoformat(),
    }
    return {**body, **changes}


async def identify(client, seed: int, **changes) -> dict:
    r = await client.post(
        f"{ADMIN}/list-entries", json=entry_body(seed, **changes), headers=await client.admin_headers()
    )
    assert r.status_code == 201, r.text
    return r.json()


async def tier(client, resident) -> str:
    r = await client.get(f"{MP}/score", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()["tier"]


async def my_record(client, resident, record_id: str) -> dict:
    r = await client.get(f"{MP}/records", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return next(item for item in r.json()["items"] if item["id"] == record_id)


async def inbox(client, resident) -> list[dict]:
    r = await client.get(f"{MP}/notifications", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def advance(client) -> dict:
    r = await client.post(f"{ADMIN}/list-entries/advance", headers=await client.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def entry(client, entry_id: str) -> dict:
    r = await client.get(f"{ADMIN}/list-entries/{entry_id}", headers=await client.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def decide_objection(client, objection_id: str, outcome: str, **extra) -> dict:
    r = await client.post(
        f"{ADMIN}/objections/{objection_id}/decision",
        json={"outcome": outcome, "note": "经复核", **extra},
        headers=await client.admin_headers(),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def history_reasons(client, resident) -> list[str]:
    r = await client.get(f"{MP}/score/history", headers=resident["headers"])
    return [item["reason"] for item in r.json()["items"]]


class TestNoticeObjectionUpheld:
    async def test_notice_then_objection_upheld_then_exited(self, client, clock):
        resident = await f.make_resident(client, 301)
        created = await identify(client, 301)
        assert created["state"] == "notified"
        until = datetime.fromisoformat(created["objection_until"])
        assert timedelta(days=9, hours=23) < until - clock.now <= timedelta(days=10)

        record = await my_record(client, resident, created["record_id"])
        assert record["status"] == "notified" and record["objection_until"]
        assert await tier(client, resident) == "A"  # told first: nothing counts yet
        notices = await inbox(client, resident)
        assert [n["kind"] for n in notices] == ["list_notice"]
        assert "认定依据" in notices[0]["body"] and notices[0]["read"] is False

        r = await client.post(
            f"{MP}/objections",
            json={"record_id": created["record_id"], "reason": "费用已结清"},
            headers=resident["headers"],
        )
        assert r.status_code == 201, r.text
        objection = r.json()
        assert objection["status"] == "open" and objection["record_id"] == created["record_id"]
        assert timedelta(days=19, hours=23) < datetime.fromisoformat(objection["due_at"]) - clock.now
        assert (await my_record(client, resident, created["record_id"]))["status"] == "disputed"

        again = await client.post(
            f"{MP}/objections",
            json={"record_id": created["record_id"], "reason": "再次"},
            headers=resident["headers"],
        )
        assert f.status_and_code(again) == (409, "OBJECTION_OPEN")

        clock.advance(days=11)  # the window passes while the objection is open: the entry waits
        assert (await advance(client))["activated"] == 0
        assert await tier(client, resident) == "A"

        decided = await decide_objection(client, objection["id"], "upheld")
        assert decided["status"] == "upheld" and decided["note"] == "经复核"
        assert (await my_record(client, resident, created["record_id"]))["status"] == "withdrawn"
        shown = await entry(client, created["id"])
        assert shown["state"] == "exited"
        assert [(t["from"], t["to"]) for t in shown["transitions"]] == [
            (None, "notified"),
            ("notified", "exited"),
        ]
        assert shown["transitions"][1]["actor"].startswith("admin:")
        mine = await client.get(f"{MP}/objections/{objection['id']}", headers=resident["headers"])
        assert mine.json()["status"] == "upheld" and mine.json()["note"] == "经复核"
        assert [n["kind"] for n in await inbox(client, resident)] == ["case_decision", "list_notice"]
        assert await tier(client, resident) == "A"

    async def test_another_persons_record_is_not_found(self, client, clock):
        await f.make_resident(client, 302)
        stranger = await f.make_resident(client, 303)
        created = await identify(client, 302)
        for body in (
            {"record_id": created["record_id"], "reason": "x"},
            {"record_id": "999999", "reason": "x"},
        ):
            r = await client.post(f"{MP}/objections", json=body, headers=stranger["headers"])
            assert f.status_and_code(r) == (404, "NOT_FOUND")
        r = await client.post(
            f"{MP}/repairs",
            json={"record_id": created["record_id"], "commitment": "x"},
            headers=stranger["headers"],
        )
        assert f.status_and_code(r) == (404, "NOT_FOUND")


class TestWindowActiveRepair:
    async def test_window_passes_then_active_then_repair_refused_then_approved(self, client, clock):
        resident = await f.make_resident(client, 311)
        partner = await f.tourism_partner(client, webhook_url="http://127.0.0.1:9/hooks")
        await f.granted_ref(client, resident, partner, ("tier:read",))
        created = await identify(client, 311, severity="general")

        clock.advance(days=10, minutes=1)
        moved = await advance(client)
        assert moved["activated"] == 1
        assert await tier(client, resident) == "restricted"
        assert f"list_active:{created['id']}" in await history_reasons(client, resident)
        hooks = [
            (d.type, d.status) for d in await WebhookDelivery.filter(partner_id=uuid.UUID(partner["id"]))
        ]
        assert hooks == [("tier.changed", "pending")]
        assert (await entry(client, created["id"]))["state"] == "active"

        body = {"record_id": created["record_id"], "commitment": "本人承诺依法诚信经营"}
        early = await client.post(f"{MP}/repairs", json=body, headers=resident["headers"])
        assert f.status_and_code(early) == (409, "REPAIR_NOT_ELIGIBLE")
        decided_at = date.fromisoformat(entry_body(311)["decided_at"])
        eligible_from = date.fromisoformat(early.json()["error"]["eligible_from"])
        assert (eligible_from - decided_at).days in range(89, 93)  # general: 3 months of publicity

        clock.now = datetime.combine(eligible_from, datetime.min.time(), UTC) + timedelta(hours=1)
        r = await client.post(f"{MP}/repairs", json=body, headers=resident["headers"])
        assert r.status_code == 201, r.text
        repair = r.json()
        assert repair["status"] == "under_review"
        twice = await client.post(f"{MP}/repairs", json=body, headers=resident["headers"])
        assert f.status_and_code(twice) == (409, "REPAIR_OPEN")

        r = await client.post(
            f"{ADMIN}/repairs/{repair['id']}/decision",
            json={"outcome": "approved", "note": "承诺已履行"},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 200 and r.json()["status"] == "approved"
        assert await tier(client, resident) == "A"
        assert (await my_record(client, resident, created["record_id"]))["status"] == "repaired"
        assert f"repair_approved:{repair['id']}" in await history_reasons(client, resident)
        shown = await entry(client, created["id"])
        assert [t["to"] for t in shown["transitions"]] == ["notified", "active", "exited"]
        hooks = [d.type for d in await WebhookDelivery.filter(partner_id=uuid.UUID(partner["id"]))]
        assert hooks == ["tier.changed", "tier.changed"]
        kinds = [n["kind"] for n in await inbox(client, resident)]
        assert kinds.count("tier_changed") == 2 and "case_decision" in kinds

        r = await client.post(
            f"{ADMIN}/repairs/{repair['id']}/decision",
            json={"outcome": "rejected", "note": "again"},
            headers=await client.admin_headers(),
        )
        assert f.status_and_code(r) == (409, "CASE_ALREADY_DECIDED")

    async def test_a_court_list_is_not_repaired_here(self, client, clock):
        resident = await f.make_resident(client, 312)
        created = await identify(client, 312, category="court_dishonest_debtor")
        clock.advance(days=400)
        await advance(client)
        r = await client.post(
            f"{MP}/repairs",
            json={"record_id": created["record_id"], "commitment": "x"},
            headers=resident["headers"],
        )
        assert f.status_and_code(r) == (409, "REPAIR_NOT_APPLICABLE")


class TestObjectionRejectedAndOverdue:
    async def test_rejected_objection_changes_nothing_and_the_entry_takes_effect(self, client, clock):
        resident = await f.make_resident(client, 321)
        created = await identify(client, 321)
        r = await client.post(
            f"{MP}/objections",
            json={"record_id": created["record_id"], "reason": "不服"},
            headers=resident["headers"],
        )
        objection = r.json()
        clock.advance(days=12)
        decided = await decide_objection(client, objection["id"], "rejected")
        assert decided["status"] == "rejected"
        assert (await my_record(client, resident, created["record_id"]))["status"] == "active"
        assert (await entry(client, created["id"]))["state"] == "active"
        assert await tier(client, resident) == "restricted"

    async def test_an_overdue_objection_stops_the_record_counting_until_decided(self, client, clock):
        resident = await f.make_resident(client, 322)
        created = await identify(client, 322)
        clock.advance(days=11)
        await advance(client)
        assert await tier(client, resident) == "restricted"
        r = await client.post(
            f"{MP}/objections",
            json={"record_id": created["record_id"], "reason": "不服"},
            headers=resident["headers"],
        )
        objection = r.json()
        assert (
            await tier(client, resident) == "restricted"
        )  # a black-list entry keeps counting while disputed

        clock.advance(days=21)
        moved = await advance(client)
        assert moved["overdue_objections"] == 1
        assert await tier(client, resident) == "A"
        queue = await client.get(f"{ADMIN}/objections?overdue=true", headers=await client.admin_headers())
        assert [item["id"] for item in queue.json()["items"]] == [objection["id"]]
        assert queue.json()["items"][0]["overdue"] is True

        await decide_objection(client, objection["id"], "rejected")
        assert await tier(client, resident) == "restricted"

    async def test_a_score_review_is_answered_with_a_note(self, client, clock):
        resident = await f.make_resident(client, 323)
        r = await client.post(
            f"{MP}/objections",
            json={"target": "score", "reason": "请人工复核我的评分"},
            headers=resident["headers"],
        )
        assert r.status_code == 201 and r.json()["target"] == "score" and r.json()["record_id"] is None
        decided = await decide_objection(client, r.json()["id"], "rejected")
        assert decided["note"] == "经复核"

    async def test_a_regulators_read_of_a_case_shows_in_the_access_log(self, client, clock):
        resident = await f.make_resident(client, 324)
        r = await client.post(
            f"{MP}/objections", json={"target": "score", "reason": "复核"}, headers=resident["headers"]
        )
        shown = await client.get(f"{ADMIN}/objections/{r.json()['id']}", headers=await client.admin_headers())
        assert shown.status_code == 200 and [e["to"] for e in shown.json()["events"]] == ["open"]
        log = await client.get(f"{MP}/access-log", headers=resident["headers"])
        assert [(i["actor_type"], i["purpose"]) for i in log.json()["items"]] == [("regulator", "case_read")]


class TestSubscriptions:
    async def test_templates_accepted_are_counted_and_unknown_ones_refused(self, client):
        resident = await f.make_resident(client, 331)
        r = await client.post(
            f"{MP}/notifications/subscriptions",
            json={"accepted": ["list_notice", "list_notice", "case_decision"]},
            headers=resident["headers"],
        )
        assert r.status_code == 200
        assert r.json()["allowances"] == {
            "list_notice": 2,
            "case_decision": 1,
            "tier_changed": 0,
            "publicity_ending": 0,
        }
        bad = await client.post(
            f"{MP}/notifications/subscriptions", json={"accepted": ["spam"]}, headers=resident["headers"]
        )
        assert f.status_and_code(bad) == (422, "VALIDATION_ERROR")

    async def test_a_notice_is_marked_read(self, client):
        resident = await f.make_resident(client, 332)
        await identify(client, 332)
        (notice,) = await inbox(client, resident)
        r = await client.post(f"{MP}/notifications/{notice['id']}/read", headers=resident["headers"])
        assert r.status_code == 200 and r.json()["read"] is True
        other = await f.make_resident(client, 333)
        r = await client.post(f"{MP}/notifications/{notice['id']}/read", headers=other["headers"])
        assert f.status_and_code(r) == (404, "NOT_FOUND")


class TestSubscribeMessages:
    async def test_the_sandbox_receives_what_the_inbox_shows_and_nothing_unaccepted(
        self, client, clock, wechat_sandbox
    ):
        from notices.sender import send_pending

        subscribed = await f.make_resident(client, 341, openid="o-subscribed-341")
        silent = await f.make_resident(client, 342, openid="o-silent-342")
        r = await client.post(
            f"{MP}/notifications/subscriptions",
            json={"accepted": ["list_notice", "case_decision"]},
            headers=subscribed["headers"],
        )
        assert r.status_code == 200
        mine = await identify(client, 341)
        await identify(client, 342)
        r = await client.post(
            f"{MP}/objections",
            json={"record_id": mine["record_id"], "reason": "不服"},
            headers=subscribed["headers"],
        )
        await decide_objection(client, r.json()["id"], "upheld")
        already = len(wechat_sandbox.sent_messages)

        ctx = client.app.ctx
        assert await send_pending(ctx.wechat, ctx.settings.wechat_subscribe_templates) == 2
        assert await send_pending(ctx.wechat, ctx.settings.wechat_subscribe_templates) == 0  # each one once
        sent = wechat_sandbox.sent_messages[already:]
        assert sorted(m["template_id"] for m in sent) == ["sandbox-case_decision", "sandbox-list_notice"]
        assert {m["touser"] for m in sent} == {"o-subscribed-341"}

        shown = await inbox(client, subscribed)
        assert sorted(n["kind"] for n in shown if n["subscribe_message_sent"]) == [
            "case_decision",
            "list_notice",
        ]
        assert not any(n["subscribe_message_sent"] for n in await inbox(client, silent))
        allowances = await client.post(
            f"{MP}/notifications/subscriptions", json={"accepted": []}, headers=subscribed["headers"]
        )
        assert allowances.json()["allowances"]["list_notice"] == 0  # the acceptance was used


class TestProvincialEntries:
    async def test_an_imported_black_list_record_is_an_active_entry_and_exits_when_revoked(
        self, client, clock
    ):
        resident = await f.make_resident(client, 351)
        await f.blacklist(client, valid_id_number(351), source_record_id="bl-351")
        assert await tier(client, resident) == "restricted"
        moved = await advance(client)
        assert moved["adopted"] == 1
        listed = await client.get(f"{ADMIN}/list-entries?state=active", headers=await client.admin_headers())
        (item,) = listed.json()["items"]
        assert item["kind"] == "black" and item["category"] == "provincial" and item["resident_bound"] is True
        assert [t["to"] for t in (await entry(client, item["id"]))["transitions"]] == ["active"]
        assert (await advance(client))["adopted"] == 0  # once

        revoked = {
            **f.credit_record_item(valid_id_number(351), n=1, category="black_list", severity="serious")
        }
        revoked.update(source_record_id="bl-351", title="失信被执行人", status="revoked")
        r = await client.post(
            f"{ADMIN}/credit-records", json={"items": [revoked]}, headers=await client.admin_headers()
        )
        assert r.status_code == 200, r.text
        await advance(client)
        assert (await entry(client, item["id"]))["state"] == "exited"
        assert await tier(client, resident) == "A"
