"""POST /api/v1/admin/credit-records: bulk, idempotent intake with per-item rejection."""

from __future__ import annotations

import pytest

from credit.models import CreditRecord, Subject
from tests.credit.conftest import ADMIN, MP


class TestImport:
    async def test_items_are_created_and_the_same_batch_again_changes_nothing(
        self, client, post_records, record, id_number
    ):
        items = [record(id_number(1)), record(id_number(2), category="commendation", severity=None)]
        assert await post_records(items) == {"created": 2, "updated": 0, "unchanged": 0, "rejected": []}
        assert await post_records(items) == {"created": 0, "updated": 0, "unchanged": 2, "rejected": []}
        assert await CreditRecord.all().count() == 2

    async def test_changed_content_updates_the_record_in_place(self, post_records, record, id_number):
        item = record(id_number(1), severity="minor")
        await post_records([item])
        result = await post_records([{**item, "severity": "serious", "title": "更正后的处罚"}])
        assert (result["created"], result["updated"]) == (0, 1)
        stored = await CreditRecord.get(source=item["source"], source_record_id=item["source_record_id"])
        assert (stored.severity, stored.title) == ("serious", "更正后的处罚")

    async def test_a_bad_item_is_rejected_alone_with_its_index_and_code(
        self, post_records, record, id_number
    ):
        bad_number = id_number(1)[:-1] + ("0" if id_number(1)[-1] != "0" else "1")
        items = [
            record(id_number(1)),
            record(bad_number),
            record(id_number(2), category="parking_ticket"),
            "not an object",
            record(id_number(3), decided_at="2024-02-30"),
            record(id_number(4)),
        ]
        result = await post_records(items)
        assert result["created"] == 2
        rejected = {r["index"]: r for r in result["rejected"]}
        assert sorted(rejected) == [1, 2, 3, 4]
        assert rejected[1]["code"] == "ID_NUMBER_INVALID" and "check digit" in rejected[1]["message"]
        assert rejected[2]["code"] == "VALIDATION_ERROR" and "category" in rejected[2]["message"]
        assert rejected[3]["code"] == "VALIDATION_ERROR"
        assert rejected[4]["code"] == "VALIDATION_ERROR" and "decided_at" in rejected[4]["message"]

    async def test_unknown_fields_and_impossible_dates_are_rejected(self, post_records, record, id_number):
        result = await post_records(
            [
                record(id_number(1), severty="minor"),
                record(id_number(2), decided_at="2999-01-01"),
                record(id_number(3), days_ago=100, publicity_until="2000-01-01"),
            ]
        )
        assert result["created"] == 0
        messages = [r["message"] for r in result["rejected"]]
        assert "severty" in messages[0] and "future" in messages[1] and "publicity_until" in messages[2]

    async def test_a_key_twice_in_one_batch_behaves_like_two_batches(self, post_records, record, id_number):
        first = record(id_number(1), severity="minor")
        second = {**first, "severity": "general"}
        result = await post_records([first, second])
        assert (result["created"], result["updated"]) == (1, 1)
        assert (await CreditRecord.get(source_record_id=first["source_record_id"])).severity == "general"
        assert (await post_records([first, second]))["updated"] == 2  # back to minor, then general again

    async def test_the_plain_id_number_is_never_stored(self, post_records, record, id_number):
        await post_records([record(id_number(7))])
        subject = await Subject.get()
        assert id_number(7) not in subject.id_hash and len(subject.id_hash) == 64
        assert subject.name_enc and "张三" not in subject.name_enc

    async def test_datetimes_with_an_offset_are_read_on_the_china_calendar(
        self, post_records, record, id_number
    ):
        await post_records([record(id_number(1), decided_at="2025-03-01T18:30:00+00:00")])
        assert str((await CreditRecord.get()).decided_at) == "2025-03-02"


class TestLimitsAndAuth:
    async def test_more_than_a_thousand_items_is_422(self, client, admin, record, id_number):
        item = record(id_number(1))
        r = await client.post(f"{ADMIN}/credit-records", json={"items": [item] * 1001}, headers=admin)
        assert r.status_code == 422 and "items" in r.json()["error"]["fields"]

    async def test_not_a_list_of_items_is_422(self, client, admin):
        r = await client.post(f"{ADMIN}/credit-records", json={"records": []}, headers=admin)
        assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"

    async def test_authentication_comes_before_body_validation(self, client):
        r = await client.post(f"{ADMIN}/credit-records", content=b"{not json")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"

    @pytest.mark.parametrize("path", ["/credit-records", "/rulesets"])
    async def test_a_resident_token_is_refused(self, client, path):
        resident = await client.login_resident()
        r = await client.post(f"{ADMIN}{path}", json={"items": []}, headers=resident["headers"])
        assert r.status_code == 401


class TestAttachment:
    async def test_records_imported_before_sign_up_attach_at_binding(
        self, client, post_records, record, id_number
    ):
        await post_records([record(id_number(5), severity="general")])
        resident = await client.login_resident(identity=id_number(5))
        score = (await client.get(f"{MP}/score", headers=resident["headers"])).json()
        assert score["score"] == 560 and score["tier"] == "B"
        codes = {f["code"]: f for f in score["factors"]}
        assert codes["ADMIN_PENALTY_GENERAL"]["points"] == -40

    async def test_records_imported_after_binding_move_the_score_at_once(
        self, client, post_records, record, id_number
    ):
        resident = await client.login_resident(identity=id_number(6))
        h = resident["headers"]
        assert (await client.get(f"{MP}/score", headers=h)).json()["score"] == 600
        await post_records(
            [
                record(id_number(6), category="red_list", severity=None),
                record(id_number(6), category="red_list", severity=None),
            ]
        )
        score = (await client.get(f"{MP}/score", headers=h)).json()
        assert (score["score"], score["tier"]) == (760, "AA")
        history = (await client.get(f"{MP}/score/history", headers=h)).json()["items"]
        assert [i["reason"] for i in history] == ["records_changed", "identity_bound"]

    async def test_other_residents_records_do_not_attach(self, client, post_records, record, id_number):
        await post_records([record(id_number(8), category="black_list", severity=None)])
        resident = await client.login_resident(identity=id_number(9))
        assert (await client.get(f"{MP}/me", headers=resident["headers"])).json()["tier"] == "A"
