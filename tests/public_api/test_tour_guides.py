"""Tour guides' standing over HTTP: records carrying a licence, the public page (no login), the guide's own view, repair."""

from __future__ import annotations

import httpx
import pytest

from tests import factories as f
from tests.factories import ADMIN, MP

PUBLIC = "/api/v1/public"
LICENCE = "D-5301-2019-000123"


async def import_records(client, *items):
    r = await client.post(
        f"{ADMIN}/credit-records", json={"items": list(items)}, headers=await client.admin_headers()
    )
    assert r.status_code == 200, r.text
    assert not r.json()["rejected"], r.text
    return r.json()


def guide_record(id_number: str, *, n: int, licence_no: str = LICENCE, **changes):
    return f.credit_record_item(
        id_number, n=n, profession="tour_guide", licence_no=licence_no, title=f"导游违规{n}", **changes
    )


async def public_page(client, licence_no: str) -> httpx.Response:
    return await client.get(f"{PUBLIC}/tour-guides/{licence_no}")  # no Authorization header at all


@pytest.fixture
async def guide(client):
    return await f.make_resident(client, 801)


class TestTourGuides:
    async def test_a_serious_record_shows_restricted_then_good_after_repair(self, client, guide, id_number):
        await import_records(
            client,
            guide_record(id_number(801), n=1, category="admin_penalty", severity="serious", days_ago=400),
        )
        r = await public_page(client, LICENCE)
        assert r.status_code == 200, r.text
        shown = r.json()
        assert set(shown) == {"licence_no", "name_masked", "licence_status", "standing", "as_of"}
        assert (shown["licence_no"], shown["name_masked"], shown["licence_status"], shown["standing"]) == (
            LICENCE,
            "张*",
            "valid",
            "restricted",
        )
        assert "导游违规" not in r.text and id_number(801) not in r.text

        mine = (await client.get(f"{MP}/professions", headers=guide["headers"])).json()["items"]
        assert [(p["profession"], p["licence_no"], p["standing"]) for p in mine] == [
            ("tour_guide", LICENCE, "restricted")
        ]
        [record] = mine[0]["records"]
        assert (record["title"], record["severity"], record["counts_now"]) == ("导游违规1", "serious", True)
        assert "/api/v1/mp/objections" in mine[0]["objection"]["objections"]

        r = await client.post(
            f"{MP}/repairs",
            json={"record_id": record["id"], "commitment": "本人已完成整改，承诺今后依法执业"},
            headers=guide["headers"],
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{ADMIN}/repairs/{r.json()['id']}/decision",
            json={"outcome": "approved", "note": "整改到位"},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text

        assert (await public_page(client, LICENCE)).json()["standing"] == "good"
        mine = (await client.get(f"{MP}/professions", headers=guide["headers"])).json()["items"]
        assert mine[0]["standing"] == "good"
        assert (mine[0]["records"][0]["status"], mine[0]["records"][0]["counts_now"]) == ("repaired", False)

    async def test_a_general_record_warns_and_other_records_do_not_count(self, client, guide, id_number):
        await import_records(
            client,
            guide_record(id_number(801), n=1, category="admin_penalty", severity="general", days_ago=20),
            f.credit_record_item(
                id_number(801), n=2, category="arrears", severity="serious"
            ),  # not as a guide
        )
        assert (await public_page(client, LICENCE)).json()["standing"] == "warned"

    async def test_a_suspended_licence_and_an_unknown_one(self, client, id_number):
        await import_records(
            client,
            guide_record(
                id_number(802),
                n=1,
                category="commendation",
                severity=None,
                licence_no="D-77",
                licence_status="suspended",
            ),
        )
        shown = (await public_page(client, "D-77")).json()
        assert (shown["licence_status"], shown["standing"]) == ("suspended", "good")
        assert f.status_and_code(await public_page(client, "D-404")) == (404, "NOT_FOUND")
        assert (await public_page(client, "bad licence")).status_code in (404, 422)

    async def test_a_licence_needs_its_profession(self, client, id_number):
        item = f.credit_record_item(id_number(803), n=1, licence_no="D-1")
        r = await client.post(
            f"{ADMIN}/credit-records", json={"items": [item]}, headers=await client.admin_headers()
        )
        assert r.status_code == 200 and r.json()["rejected"][0]["code"] == "VALIDATION_ERROR", r.text
