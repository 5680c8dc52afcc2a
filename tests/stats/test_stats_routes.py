"""GET /api/v1/admin/stats over HTTP on a data set seeded through the API, against figures kept from the requests made.

Three merchants in three counties (two of them in 大理州 5329, one in 昆明市 5301), residents
scanned and served on two business days moved by the app's clock; the expected figures are
counted from what the test itself sent, never read back from the ledger.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credit.scoring import LOCAL_TZ
from tests import factories as f

ADMIN, MERCHANT = f.ADMIN, f.MERCHANT
STATS = f"{ADMIN}/stats"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Expected:
    """What the test did, cell by cell: scans, redemptions and money per (day, merchant), residents as sets."""

    scans: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    redemptions: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    discount: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    waived: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    residents: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    redemption_ids: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def figures(self, keep: Any) -> dict[str, Any]:
        """The sums over the (day, merchant) keys that ``keep`` accepts."""
        keys = [k for k in self.scans if keep(k)]
        residents: set[int] = set().union(*(self.residents[k] for k in keys)) if keys else set()
        return {
            "scans_accepted": sum(self.scans[k] for k in keys),
            "scans_refused": 0,
            "redemptions": sum(self.redemptions[k] for k in keys),
            "residents": len(residents),
            "discount_fen": sum(self.discount[k] for k in keys),
            "deposit_waived_fen": sum(self.waived[k] for k in keys),
        }


def counts(item: dict[str, Any]) -> dict[str, Any]:
    return {
        k: item[k]
        for k in (
            "scans_accepted",
            "scans_refused",
            "redemptions",
            "residents",
            "discount_fen",
            "deposit_waived_fen",
        )
    }


@pytest.fixture
async def seeded(client) -> dict[str, Any]:
    """Day 1: 12 residents at 洱海 (532901), each scanned and served 5 yuan off. Day 2: residents 0–9 again at
    苍山 (532922, a deposit of 100 yuan waived), and 9 others at 滇池 (530102, Kunming), scanned and served."""
    today = datetime.now(LOCAL_TZ).date()
    day1, day2 = today - timedelta(days=3), today - timedelta(days=2)
    valid = {"valid_from": (datetime.now(UTC) - timedelta(days=10)).isoformat()}
    erhai = await f.make_shop(client, name="洱海游船", region="532901")
    cangshan = await f.make_shop(client, name="苍山索道", region="532922", category="rental")
    dianchi = await f.make_shop(client, name="滇池游船", region="530102")
    offers = {
        "erhai": await f.make_offer(client, erhai, type="amount_off", value=500, label="立减5元", **valid),
        "cangshan": await f.make_offer(
            client, cangshan, scenario="rental", type="deposit_waiver", value=10000, label="免押金", **valid
        ),
        "dianchi": await f.make_offer(
            client, dianchi, type="amount_off", value=300, label="立减3元", **valid
        ),
    }
    shops = {"erhai": erhai, "cangshan": cangshan, "dianchi": dianchi}
    residents = {seed: await f.make_resident(client, seed) for seed in [*range(12), *range(20, 29)]}
    clock = Clock(datetime.combine(day1, datetime.min.time(), LOCAL_TZ) + timedelta(hours=10))
    client.app.ctx.clock = clock
    expected = Expected()

    async def visit(name: str, seed: int) -> None:
        shop, offer = shops[name], offers[name]
        s = await f.make_scanned_pass(client, shop, seed, resident=residents[seed])
        r = await f.redeem(client, shop["cashier"], s["scan_id"], offer["id"], order_amount_fen=2000)
        assert r.status_code == 201, r.text
        key = (clock.now.astimezone(LOCAL_TZ).date().isoformat(), name)
        expected.scans[key] += 1
        expected.redemptions[key] += 1
        expected.discount[key] += r.json()["discount_fen"]
        expected.waived[key] += r.json()["deposit_waived_fen"]
        expected.residents[key].add(seed)
        expected.redemption_ids[name].append(r.json()["id"])
        clock.now += timedelta(minutes=1)

    for seed in range(12):
        await visit("erhai", seed)
    clock.now = datetime.combine(day2, datetime.min.time(), LOCAL_TZ) + timedelta(hours=9)
    for seed in range(10):
        await visit("cangshan", seed)
    for seed in range(20, 29):
        await visit("dianchi", seed)
    return {
        "day1": day1.isoformat(),
        "day2": day2.isoformat(),
        "shops": shops,
        "offers": offers,
        "expected": expected,
        "clock": clock,
        "admin": await client.admin_headers(),
    }


async def stats(client, seeded, **params: Any) -> dict[str, Any]:
    params = {"from": seeded["day1"], "to": seeded["day2"], **params}
    r = await client.get(STATS, params=params, headers=seeded["admin"])
    assert r.status_code == 200, r.text
    return r.json()


def by_merchant(seeded: dict[str, Any], name: str) -> dict[str, Any]:
    return {"merchant": seeded["shops"][name]["id"], "merchant_name": seeded["shops"][name]["name"]}


class TestFigures:
    async def test_by_merchant_the_cells_match_what_was_done_and_the_nine_are_suppressed(
        self, client, seeded
    ):
        expected = seeded["expected"]
        body = await stats(client, seeded, group_by="merchant")
        cells = {item["key"]["merchant_name"]: item for item in body["items"]}
        assert set(cells) == {"洱海游船", "苍山索道", "滇池游船"}
        for name in ("erhai", "cangshan"):
            item = cells[seeded["shops"][name]["name"]]
            assert item["key"] == by_merchant(seeded, name)
            assert counts(item) == expected.figures(lambda k, n=name: k[1] == n)
            assert item["suppressed"] is False
        small = cells["滇池游船"]
        assert small["suppressed"] is True and body["min_cell"] == 10
        assert all(small[k] is None for k in counts(small))

    async def test_the_totals_cover_the_shown_cells_only_so_the_small_cell_cannot_be_recovered(
        self, client, seeded
    ):
        expected = seeded["expected"]
        body = await stats(client, seeded, group_by="merchant")
        shown = expected.figures(lambda k: k[1] != "dianchi")
        totals = body["totals"]
        assert {k: totals[k] for k in shown} == shown
        # Residents 0–9 came to both shown merchants: the totals count them once (12, not 22).
        assert totals["residents"] == 12
        assert (totals["cells"], totals["suppressed_cells"]) == (3, 1)
        # The totals equal the sum of the shown cells: subtracting them leaves nothing of the small one.
        for name in ("scans_accepted", "redemptions", "discount_fen", "deposit_waived_fen"):
            assert totals[name] == sum(i[name] for i in body["items"] if not i["suppressed"])
        everything = expected.figures(lambda k: True)
        assert totals["scans_accepted"] != everything["scans_accepted"]

    async def test_a_region_prefix_rolls_two_counties_up_into_their_prefecture(self, client, seeded):
        expected = seeded["expected"]
        body = await stats(client, seeded, group_by="region")
        cells = {item["key"]["region"]: item for item in body["items"]}
        assert set(cells) == {"532900", "530100"}
        dali = cells["532900"]
        assert dali["key"] == {"region": "532900", "region_name": "大理州"}
        assert counts(dali) == expected.figures(lambda k: k[1] in ("erhai", "cangshan"))
        assert cells["530100"]["suppressed"] is True
        # The same cell for a filter spelled as a prefix or as a 6-digit code with trailing zeros.
        for region in ("5329", "532900"):
            filtered = await stats(client, seeded, group_by="region", region=region)
            assert [counts(i) for i in filtered["items"]] == [counts(dali)]
        counties = await stats(client, seeded, group_by="region", region="5329", region_level="county")
        assert {i["key"]["region"]: counts(i)["scans_accepted"] for i in counties["items"]} == {
            "532901": 12,
            "532922": 10,
        }
        province = await stats(client, seeded, group_by="region", region_level="province")
        (yunnan,) = province["items"]
        assert yunnan["key"] == {"region": "530000", "region_name": "云南省"}
        assert counts(yunnan) == expected.figures(lambda k: True)

    async def test_by_day_and_region_from_the_county_rollup(self, client, seeded):
        expected = seeded["expected"]
        body = await stats(client, seeded, group_by="day,region")
        cells = {(i["key"]["day"], i["key"]["region"]): i for i in body["items"]}
        day1, day2 = seeded["day1"], seeded["day2"]
        assert set(cells) == {(day1, "532900"), (day2, "532900"), (day2, "530100")}
        assert counts(cells[(day1, "532900")]) == expected.figures(lambda k: k == (day1, "erhai"))
        assert counts(cells[(day2, "532900")]) == expected.figures(lambda k: k == (day2, "cangshan"))
        assert cells[(day2, "530100")]["suppressed"] is True

    async def test_scenario_and_tier_repeated_or_as_a_comma_list_are_the_same(self, client, seeded):
        expected = seeded["expected"]
        listed = await stats(client, seeded, group_by="scenario,tier")
        r = await client.get(
            STATS,
            params=[
                ("from", seeded["day1"]),
                ("to", seeded["day2"]),
                ("group_by", "scenario"),
                ("group_by", "tier"),
            ],
            headers=seeded["admin"],
        )
        assert r.status_code == 200 and r.json()["items"] == listed["items"]
        cells = {(i["key"]["scenario"], i["key"]["tier"]): i for i in listed["items"]}
        # Scans have no scenario: they are their own cell; the redemptions fall under their offer's scenario.
        rental = cells[("rental", "A")]
        assert rental["key"]["scenario_label"] == "信易租"
        assert (rental["redemptions"], rental["deposit_waived_fen"], rental["residents"]) == (10, 100000, 10)
        travel = cells[("travel", "A")]
        assert travel["key"]["scenario_label"] == "信易游"
        assert travel["redemptions"] == 21 and travel["discount_fen"] == 12 * 500 + 9 * 300
        scans = cells[(None, "A")]
        assert scans["scans_accepted"] == 31 and scans["redemptions"] == 0 and scans["residents"] == 21
        assert expected.figures(lambda k: True)["scans_accepted"] == 31

    async def test_a_reversal_takes_the_redemption_and_its_money_out(self, client, seeded):
        before = await stats(client, seeded, group_by="merchant,offer")
        erhai = seeded["shops"]["erhai"]
        seeded["clock"].now += timedelta(hours=2)
        reversed_id = seeded["expected"].redemption_ids["erhai"][0]
        r = await client.post(
            f"{MERCHANT}/redemptions/{reversed_id}/reverse",
            json={"reason": "顾客退票"},
            headers=erhai["headers"],
        )
        assert r.status_code == 200, r.text
        after = await stats(client, seeded, group_by="merchant,offer")

        def cell(body: dict[str, Any]) -> dict[str, Any]:
            return next(i for i in body["items"] if i["key"]["offer"] == seeded["offers"]["erhai"]["id"])

        assert cell(before)["key"]["offer_label"] == "立减5元"
        assert (cell(before)["redemptions"], cell(before)["discount_fen"]) == (12, 6000)
        assert (cell(after)["redemptions"], cell(after)["discount_fen"]) == (11, 5500)
        assert cell(after)["residents"] == 11
        assert after["totals"]["redemptions"] == before["totals"]["redemptions"] - 1

    async def test_a_new_scan_shows_at_once(self, client, seeded):
        before = await stats(client, seeded, group_by="merchant", to=seeded["day2"])
        seeded["clock"].now += timedelta(minutes=3)
        cangshan = seeded["shops"]["cangshan"]
        await f.make_scanned_pass(client, cangshan, 11, resident=await f.make_resident(client, 30))
        after = await stats(client, seeded, group_by="merchant")

        def scans(body: dict[str, Any]) -> int:
            return next(i for i in body["items"] if i["key"]["merchant_name"] == "苍山索道")["scans_accepted"]

        assert scans(after) == scans(before) + 1


class TestCsv:
    async def test_the_csv_has_a_bom_a_header_and_one_row_per_cell_as_the_json(self, client, seeded):
        body = await stats(client, seeded, group_by="merchant")
        r = await client.get(
            STATS,
            params={"from": seeded["day1"], "to": seeded["day2"], "group_by": "merchant", "format": "csv"},
            headers=seeded["admin"],
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        header, cells = rows[0], rows[1:]
        assert header == [
            "商户编号", "商户", "受理扫码数", "拒绝扫码数", "核销笔数", "居民人数", "优惠金额(分)", "免押金额(分)", "是否抑制",
        ]  # fmt: skip
        assert len(cells) == len(body["items"]) == 3
        for row, item in zip(cells, body["items"], strict=True):
            assert row[:2] == [item["key"]["merchant"], item["key"]["merchant_name"]]
            figures = ["" if item[k] is None else str(item[k]) for k in counts(item)]
            assert row[2:8] == figures
            assert row[8] == ("是" if item["suppressed"] else "否")
        small = next(row for row in cells if row[1] == "滇池游船")
        assert small[2:8] == [""] * 6 and small[8] == "是"


class TestValidation:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"group_by": "county"}, "group_by"),
            ({"group_by": "merchant,,day"}, "group_by"),
            ({"from": "2026-05-02", "to": "2026-05-01"}, "to"),
            ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
            ({"from": "yesterday"}, "from"),
            ({"region": "5"}, "region"),
            ({"region_level": "town"}, "region_level"),
            ({"format": "xlsx"}, "format"),
        ],
    )
    async def test_bad_dimensions_dates_and_regions_are_422_with_the_field(self, client, params, field):
        r = await client.get(STATS, params=params, headers=await client.admin_headers())
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert field in r.json()["error"]["fields"]

    async def test_a_repeated_bad_dimension_is_422_too(self, client):
        r = await client.get(
            STATS, params=[("group_by", "day"), ("group_by", "store")], headers=await client.admin_headers()
        )
        assert r.status_code == 422 and "group_by" in r.json()["error"]["fields"]

    async def test_only_regulators_read_statistics(self, client):
        m = await f.make_merchant(client)
        assert (await client.get(STATS)).status_code == 401
        assert (await client.get(STATS, headers=m["headers"])).status_code in (401, 403)

    async def test_nothing_yet_is_an_empty_answer(self, client):
        r = await client.get(STATS, params={"group_by": "day"}, headers=await client.admin_headers())
        assert r.status_code == 200
        body = r.json()
        assert body["items"] == [] and body["totals"]["residents"] == 0 and body["min_cell"] == 10


class TestSpec:
    async def test_the_spec_describes_the_json_and_the_csv_answers_and_the_suppression_rule(self, client):
        spec = (await client.get("/docs/openapi.json")).json()
        for path in ("/api/v1/admin/stats", "/api/v1/merchant/stats"):
            answer = spec["paths"][path]["get"]["responses"]["200"]["content"]
            assert set(answer) == {"application/json", "text/csv"}
        operation = spec["paths"]["/api/v1/admin/stats"]["get"]
        assert "unsuppressed cells only" in operation["description"]
        params = {p["name"] for p in operation["parameters"]}
        assert {"from", "to", "group_by", "region", "region_level", "format"} <= params
