"""Volunteer intake over HTTP: PUT creates or corrects, DELETE revokes, bad values are 422."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from credit.models import VolunteerRecord
from tests.factories import CST, PARTNER, make_partner, send_signed, volunteer_body


@pytest.fixture
async def partner(client):
    return await make_partner(client)


def path(external_id: str) -> str:
    return f"{PARTNER}/volunteer-hours/{external_id}"


class TestPutVolunteerHours:
    async def test_new_record_is_201_then_a_correction_is_200_and_replaces_it(
        self, client, partner, id_number
    ):
        r = await send_signed(
            client, partner, "PUT", path("act-2025:001"), volunteer_body(id_number(1), hours=3.5)
        )
        assert r.status_code == 201, r.text
        r = await send_signed(
            client, partner, "PUT", path("act-2025:001"), volunteer_body(id_number(1), hours=2)
        )
        assert r.status_code == 200, r.text
        rows = await VolunteerRecord.filter(external_id="act-2025:001")
        assert len(rows) == 1 and float(rows[0].hours) == 2.0 and str(rows[0].partner_id) == partner["id"]

    async def test_the_same_external_id_of_two_partners_are_two_records(self, client, partner, id_number):
        other = await make_partner(client, name="另一个平台")
        a = await send_signed(client, partner, "PUT", path("same-id"), volunteer_body(id_number(1)))
        b = await send_signed(client, other, "PUT", path("same-id"), volunteer_body(id_number(2)))
        assert a.status_code == 201 and b.status_code == 201
        assert await VolunteerRecord.filter(external_id="same-id").count() == 2

    async def test_impossible_hours_are_422(self, client, partner, id_number):
        for hours in (0, -1, 24.01, 25):
            r = await send_signed(
                client, partner, "PUT", path("bad-1"), volunteer_body(id_number(1), hours=hours)
            )
            assert r.status_code == 422, (hours, r.text)
            assert "hours" in r.json()["error"]["fields"], r.text
        assert await VolunteerRecord.all().count() == 0

    async def test_malformed_values_are_422(self, client, partner, id_number):
        for change, field in (
            ({"hours": "3"}, "hours"),
            ({"hours": True}, "hours"),
            ({"hours": 1.234}, "hours"),
            ({"started_at": "2025-05-01T09:00:00"}, "started_at"),
            ({"started_at": "yesterday"}, "started_at"),
            ({"started_at": 1700000000}, "started_at"),
            ({"name": ""}, "name"),
            ({"activity": "x" * 256}, "activity"),
            ({"id_number": None}, "id_number"),
        ):
            r = await send_signed(
                client, partner, "PUT", path("bad-1"), {**volunteer_body(id_number(1)), **change}
            )
            assert r.status_code == 422, (change, r.text)
            assert field in r.json()["error"]["fields"], (change, r.text)
        assert await VolunteerRecord.all().count() == 0

    async def test_a_start_in_the_future_is_422(self, client, partner, id_number):
        future = (datetime.now(CST) + timedelta(days=2)).isoformat()
        r = await send_signed(
            client, partner, "PUT", path("future-1"), volunteer_body(id_number(1), started_at=future)
        )
        assert r.status_code == 422, r.text
        assert "started_at" in r.json()["error"]["fields"]

    async def test_a_bad_id_number_is_422(self, client, partner, id_number):
        good = id_number(1)
        wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
        r = await send_signed(client, partner, "PUT", path("id-1"), volunteer_body(wrong_check))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] in ("ID_NUMBER_INVALID", "VALIDATION_ERROR")
        assert "id_number" in r.json()["error"]["fields"]

    async def test_a_bad_external_id_is_422(self, client, partner, id_number):
        for external_id in ("has%20space", "a" * 129, "semi;colon", "%E5%BF%97", "a%2Fb"):
            r = await send_signed(client, partner, "PUT", path(external_id), volunteer_body(id_number(1)))
            assert r.status_code == 422, (external_id, r.text)
            assert "external_id" in r.json()["error"]["fields"]

    async def test_not_json_is_422(self, client, partner):
        r = await send_signed(client, partner, "PUT", path("x-1"), None, sent_body=b"", headers={})
        # The signature covered an empty body; the body is required.
        assert r.status_code == 422, r.text


class TestDeleteVolunteerHours:
    async def test_revokes_the_record(self, client, partner, id_number):
        await send_signed(client, partner, "PUT", path("del-1"), volunteer_body(id_number(1)))
        r = await send_signed(client, partner, "DELETE", path("del-1"))
        assert r.status_code == 200, r.text
        assert r.json() == {"external_id": "del-1", "status": "revoked"}
        row = await VolunteerRecord.get(external_id="del-1")
        assert row.status == "revoked"

    async def test_unknown_record_is_404(self, client, partner):
        r = await send_signed(client, partner, "DELETE", path("never-posted"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "VOLUNTEER_RECORD_NOT_FOUND"

    async def test_another_partners_record_is_unknown(self, client, partner, id_number):
        other = await make_partner(client, name="另一个平台")
        await send_signed(client, partner, "PUT", path("mine-1"), volunteer_body(id_number(1)))
        r = await send_signed(client, other, "DELETE", path("mine-1"))
        assert r.status_code == 404
        assert (await VolunteerRecord.get(external_id="mine-1")).status == "active"


class TestResidentSeesHours:
    async def test_hours_count_in_the_score_and_stop_counting_when_revoked(self, client, partner, id_number):
        number = id_number(7)
        resident = await client.login_resident(identity=number, name="王五")
        h = resident["headers"]

        def volunteer_points(score: dict) -> int:
            return sum(f["points"] for f in score["factors"] if f["code"] == "VOLUNTEER_HOURS")

        before = (await client.get("/api/v1/mp/score", headers=h)).json()
        r = await send_signed(client, partner, "PUT", path("score-1"), volunteer_body(number, hours=8))
        assert r.status_code == 201, r.text

        hours = await client.get("/api/v1/mp/volunteer-hours", headers=h)
        assert hours.status_code == 200, hours.text
        assert float(hours.json()["total_hours"]) == 8.0 and len(hours.json()["items"]) == 1
        after = (await client.get("/api/v1/mp/score", headers=h)).json()
        assert volunteer_points(after) > 0 and after["score"] > before["score"]

        assert (await send_signed(client, partner, "DELETE", path("score-1"))).status_code == 200
        hours = (await client.get("/api/v1/mp/volunteer-hours", headers=h)).json()
        assert float(hours["total_hours"]) == 0.0
        revoked = (await client.get("/api/v1/mp/score", headers=h)).json()
        assert volunteer_points(revoked) == 0 and revoked["score"] == before["score"]


class TestOpenApi:
    async def test_partner_routes_document_the_signature(self, client):
        spec = (await client.get("/docs/openapi.json")).json()
        schemes = spec["components"]["securitySchemes"]
        for method in ("put", "delete"):
            op = spec["paths"]["/api/v1/partner/volunteer-hours/{external_id}"][method]
            (requirement,) = op["security"]  # the four headers together, as four schemes
            headers = [schemes[name]["name"] for name in requirement]
            assert headers == ["X-Partner-Key", "X-Timestamp", "X-Nonce", "X-Signature"]
            assert "HMAC-SHA256" in op["description"] and "volunteer:write" in op["description"]
            assert {"401", "403", "503"} <= set(op["responses"])
        for path in (
            "/api/v1/admin/partners",
            "/api/v1/admin/partners/{partner_id}",
            "/api/v1/admin/partners/{partner_id}/rotate-secret",
        ):
            assert all(op.get("summary") for op in spec["paths"][path].values())
