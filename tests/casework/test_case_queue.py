"""The regulators' case queue over HTTP: every kind with its clock, overdue first, filters, pages,
assignment, and a case read landing in the resident's access log.

One resident has a case of every kind, opened a day apart by the app's clock (``client.app.ctx.clock``);
the clock then moves on until some are past due. Deadlines are the default ruleset's: a list notice's
window 10 days, a breach 15, a self-report 15, a repair 15, an objection 20.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from admin.models import AdminUser
from credit.scoring import default_ruleset, ruleset_to_dict
from tests import factories as f
from tests.conftest import valid_id_number

MP, MERCHANT, ADMIN = f.MP, f.MERCHANT, f.ADMIN
SEED = 731


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


async def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


async def open_every_kind(client, clock: Clock) -> dict:
    """A breach (day 0), a self-report (day 1), a list notice (day 2), a repair (day 3), an objection (day 4)."""
    admin = await client.admin_headers()
    t0 = clock.now
    hotel = await f.make_shop(client, name="丽江古城酒店", category="hotel")
    offer = await f.make_offer(
        client, hotel, scenario="rental", type="deposit_waiver", value=80000, label="免押金入住"
    )
    scanned = await f.make_scanned_pass(client, hotel, SEED)
    resident = scanned["resident"]
    redemption = await ok(await f.redeem(client, hotel["cashier"], scanned["scan_id"], offer["id"]), 201)
    breach = await ok(
        await client.post(
            f"{MERCHANT}/breaches",
            json={"redemption_id": redemption["id"], "kind": "no_show", "description": "预订后未入住"},
            headers=hotel["cashier"],
        ),
        201,
    )

    clock.now = t0 + timedelta(days=1)
    report = await ok(
        await client.post(
            f"{MP}/self-reports",
            json={
                "category": "blood_donation",
                "title": "无偿献血 400 毫升",
                "description": "在昆明市血液中心无偿献血",
                "occurred_at": (date.today() - timedelta(days=3)).isoformat(),
                "attachment_ids": [],
            },
            headers=resident["headers"],
        ),
        201,
    )

    clock.now = t0 + timedelta(days=2)
    entry = await ok(
        await client.post(
            f"{ADMIN}/list-entries",
            json={
                "kind": "black",
                "id_number": valid_id_number(SEED),
                "name": "张三",
                "category": "tourism",
                "title": "恶意拖欠导游服务费",
                "basis": "《云南省旅游市场失信行为认定办法》第八条",
                "decided_at": date.today().isoformat(),
            },
            headers=admin,
        ),
        201,
    )

    clock.now = t0 + timedelta(days=3)
    item = f.credit_record_item(valid_id_number(SEED), n=1, severity="minor", days_ago=10)
    await ok(await client.post(f"{ADMIN}/credit-records", json={"items": [item]}, headers=admin))
    records = (await ok(await client.get(f"{MP}/records", headers=resident["headers"])))["items"]
    penalty = next(r for r in records if r["category"] == "admin_penalty")
    repair = await ok(
        await client.post(
            f"{MP}/repairs",
            json={"record_id": penalty["id"], "commitment": "已按期缴纳罚款，承诺守法经营"},
            headers=resident["headers"],
        ),
        201,
    )

    clock.now = t0 + timedelta(days=4)
    objection = await ok(
        await client.post(
            f"{MP}/objections", json={"target": "score", "reason": "请人工复核"}, headers=resident["headers"]
        ),
        201,
    )
    return {
        "t0": t0,
        "resident": resident,
        "resident_id": resident["resident"]["id"],
        "breach": breach["id"],
        "self_report": report["id"],
        "list_notice": entry["id"],
        "repair": repair["id"],
        "objection": objection["id"],
    }


async def queue(client, **params) -> dict:
    return await ok(await client.get(f"{ADMIN}/cases", params=params, headers=await client.admin_headers()))


def kinds(page: dict) -> list[str]:
    return [item["kind"] for item in page["items"]]


@pytest.fixture
async def cases(client, clock) -> dict:
    seeded = await open_every_kind(client, clock)
    clock.now = seeded["t0"] + timedelta(days=17)  # list notice (12), breach (15), self-report (16) are late
    return seeded


class TestQueue:
    async def test_every_kind_with_its_clock_overdue_first(self, client, clock, cases):
        page = await queue(client)
        assert kinds(page) == ["list_notice", "breach", "self_report", "repair", "objection"]
        assert [i["overdue"] for i in page["items"]] == [True, True, True, False, False]
        assert page["next_cursor"] is None
        t0 = cases["t0"]
        due = {i["kind"]: datetime.fromisoformat(i["due_at"]) for i in page["items"]}
        opened = {i["kind"]: datetime.fromisoformat(i["opened_at"]) for i in page["items"]}
        assert due == {
            "list_notice": t0 + timedelta(days=12),
            "breach": t0 + timedelta(days=15),
            "self_report": t0 + timedelta(days=16),
            "repair": t0 + timedelta(days=18),
            "objection": t0 + timedelta(days=24),
        }
        assert opened["repair"] == t0 + timedelta(days=3) and opened["list_notice"] == t0 + timedelta(days=2)
        for item in page["items"]:
            assert item["id"] == cases[item["kind"]]
            assert item["resident_ref"] == cases["resident_id"]  # the pseudonym the case lists show
            assert item["assignee"] is None and item["title"]
            assert "张三" not in str(item) and valid_id_number(SEED) not in str(item)
        statuses = {i["kind"]: i["status"] for i in page["items"]}
        assert statuses == {
            "list_notice": "notified",
            "breach": "under_review",
            "self_report": "under_review",
            "repair": "under_review",
            "objection": "open",
        }

    async def test_overdue_filter_and_kind_filter(self, client, cases):
        assert kinds(await queue(client, overdue="true")) == ["list_notice", "breach", "self_report"]
        assert kinds(await queue(client, overdue="false")) == ["repair", "objection"]
        only = await queue(client, kind="breach")
        assert [(i["kind"], i["id"], i["overdue"]) for i in only["items"]] == [
            ("breach", cases["breach"], True)
        ]
        assert (await queue(client, kind="charge_dispute"))["items"] == []

    async def test_a_decided_case_is_no_longer_open_nor_overdue(self, client, cases):
        r = await client.post(
            f"{ADMIN}/breaches/{cases['breach']}/decision",
            json={"outcome": "rejected", "note": "证据不足"},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 200, r.text
        assert kinds(await queue(client, overdue="true")) == ["list_notice", "self_report"]
        assert kinds(await queue(client)) == ["list_notice", "self_report", "repair", "objection"]
        assert kinds(await queue(client, status="open")) == kinds(await queue(client))
        decided = await queue(client, status="rejected")
        assert [(i["kind"], i["overdue"]) for i in decided["items"]] == [("breach", False)]
        every = await queue(client, status="all")
        assert kinds(every) == ["list_notice", "self_report", "breach", "repair", "objection"]
        assert [i["status"] for i in every["items"]][2] == "rejected"
        assert (await queue(client, status="under_review", overdue="true"))["items"][0][
            "kind"
        ] == "self_report"

    async def test_a_list_notice_leaves_the_queue_once_the_entry_is_active(self, client, cases):
        r = await client.post(f"{ADMIN}/list-entries/advance", headers=await client.admin_headers())
        assert r.status_code == 200 and r.json()["activated"] == 1
        assert kinds(await queue(client, overdue="true")) == ["breach", "self_report"]

    async def test_the_ruleset_sets_the_clock(self, client, clock, cases):
        """A ruleset giving breaches 20 days: the breach (day 0) is no longer late on day 17."""
        admin = await client.admin_headers()
        data = {**ruleset_to_dict(default_ruleset()), "version": "casework-v2"}
        data["rights"] = {**data["rights"], "breach_due_days": 20}
        await ok(await client.post(f"{ADMIN}/rulesets", json=data, headers=admin), 201)
        await ok(await client.post(f"{ADMIN}/rulesets/casework-v2/activate", headers=admin))
        page = await queue(client)
        assert kinds(page) == ["list_notice", "self_report", "repair", "breach", "objection"]
        breach = next(i for i in page["items"] if i["kind"] == "breach")
        assert datetime.fromisoformat(breach["due_at"]) == cases["t0"] + timedelta(days=20)

    async def test_pages_keep_the_order(self, client, clock, cases):
        whole = await queue(client)
        seen, cursor = [], None
        while True:
            page = await queue(client, limit=2, **({"cursor": cursor} if cursor else {}))
            assert len(page["items"]) <= 2
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            clock.advance(days=1)  # the repair falls due between pages: it neither repeats nor goes missing
        assert [i["id"] for i in seen] == [i["id"] for i in whole["items"]]

    async def test_bad_query_is_422(self, client, cases):
        admin = await client.admin_headers()
        for params in ({"kind": "parking"}, {"overdue": "maybe"}, {"cursor": "not-a-cursor"}, {"limit": "0"}):
            r = await client.get(f"{ADMIN}/cases", params=params, headers=admin)
            assert f.status_and_code(r) == (422, "VALIDATION_ERROR"), params

    async def test_only_regulators(self, client, cases):
        r = await client.get(f"{ADMIN}/cases", headers=cases["resident"]["headers"])
        assert r.status_code in (401, 403)


async def admin_id(client, username: str) -> str:
    await client.admin_headers(username=username, password=f"{username}-password")
    return str((await AdminUser.get(username=username)).id)


async def assign(client, kind: str, case_id: str, to: str):
    return await client.post(
        f"{ADMIN}/cases/{kind}/{case_id}/assign", json={"admin_id": to}, headers=await client.admin_headers()
    )


class TestAssignment:
    async def test_assign_then_reassign(self, client, cases):
        li, wang = await admin_id(client, "li-regulator"), await admin_id(client, "wang-regulator")
        given = await ok(await assign(client, "objection", cases["objection"], li))
        assert (given["kind"], given["id"], given["assignee"], given["assignee_name"]) == (
            "objection",
            cases["objection"],
            li,
            "li-regulator",
        )
        assert [i["id"] for i in (await queue(client, assignee=li))["items"]] == [cases["objection"]]
        listed = {i["kind"]: i["assignee"] for i in (await queue(client))["items"]}
        assert listed["objection"] == li and listed["breach"] is None

        again = await ok(await assign(client, "objection", cases["objection"], wang))
        assert again["assignee"] == wang
        assert (await queue(client, assignee=li))["items"] == []
        assert [i["id"] for i in (await queue(client, assignee=wang))["items"]] == [cases["objection"]]

        # the rights domain keeps the objection's steps: both assignments are in its history
        shown = await ok(
            await client.get(f"{ADMIN}/objections/{cases['objection']}", headers=await client.admin_headers())
        )
        reasons = [e["reason"] for e in shown["events"]]
        assert reasons[-2:] == [f"assigned to admin:{li}", f"assigned to admin:{wang}"]

    async def test_every_kind_can_be_assigned(self, client, cases):
        li = await admin_id(client, "li-regulator")
        for kind in ("objection", "repair", "self_report", "breach", "list_notice"):
            assert (await ok(await assign(client, kind, cases[kind], li)))["assignee"] == li
        assert len((await queue(client, assignee=li))["items"]) == 5

    async def test_a_bad_admin_is_422(self, client, cases):
        li = await admin_id(client, "li-regulator")
        await AdminUser.filter(username="li-regulator").update(is_active=False)
        for to in (str(uuid.uuid4()), li, "not-an-id"):
            r = await assign(client, "repair", cases["repair"], to)
            assert f.status_and_code(r) == (422, "VALIDATION_ERROR"), to
            assert "admin_id" in r.json()["error"]["fields"]
        assert (await queue(client, kind="repair"))["items"][0]["assignee"] is None

    async def test_an_unknown_case_or_kind_is_404(self, client, cases):
        li = await admin_id(client, "li-regulator")
        for kind, case_id in (
            ("repair", str(uuid.uuid4())),
            ("repair", "not-an-id"),
            ("repair", cases["objection"]),  # an objection's id is no repair
            ("parking", cases["repair"]),
            ("charge_dispute", str(uuid.uuid4())),
        ):
            r = await assign(client, kind, case_id, li)
            assert f.status_and_code(r) == (404, "NOT_FOUND"), (kind, case_id)


class TestReadingACase:
    async def test_each_read_lands_in_the_residents_access_log(self, client, cases):
        admin = await client.admin_headers()
        log_before = await ok(await client.get(f"{MP}/access-log", headers=cases["resident"]["headers"]))
        assert [e for e in log_before["items"] if e["actor_type"] == "regulator"] == []

        for kind in ("objection", "repair", "self_report", "breach", "list_notice"):
            shown = await ok(await client.get(f"{ADMIN}/cases/{kind}/{cases[kind]}", headers=admin))
            assert (shown["kind"], shown["id"]) == (kind, cases[kind])
            assert shown["details"]["id"] == cases[kind]
            assert "due_at" in shown and "overdue" in shown

        log = await ok(await client.get(f"{MP}/access-log", headers=cases["resident"]["headers"]))
        reads = [e for e in log["items"] if e["actor_type"] == "regulator"]
        assert sorted(e["case_kind"] for e in reads) == sorted(
            ["objection", "repair", "self_report", "breach", "list_entry"]
        )
        assert {e["purpose"] for e in reads} == {"case_read"}

    async def test_the_details_are_the_kinds_own(self, client, cases):
        admin = await client.admin_headers()
        breach = await ok(await client.get(f"{ADMIN}/cases/breach/{cases['breach']}", headers=admin))
        assert breach["details"]["kind"] == "no_show" and breach["details"]["merchant_name"] == "丽江古城酒店"
        notice = await ok(
            await client.get(f"{ADMIN}/cases/list_notice/{cases['list_notice']}", headers=admin)
        )
        assert notice["details"]["state"] == "notified" and notice["details"]["transitions"]

    async def test_an_unknown_case_is_404_and_logs_nothing(self, client, cases):
        admin = await client.admin_headers()
        for path in (
            f"breach/{uuid.uuid4()}",
            "breach/x",
            f"parking/{cases['breach']}",
            f"repair/{cases['breach']}",
        ):
            r = await client.get(f"{ADMIN}/cases/{path}", headers=admin)
            assert f.status_and_code(r) == (404, "NOT_FOUND"), path
        log = await ok(await client.get(f"{MP}/access-log", headers=cases["resident"]["headers"]))
        assert [e for e in log["items"] if e["actor_type"] == "regulator"] == []
