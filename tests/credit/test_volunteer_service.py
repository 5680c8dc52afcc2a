"""Volunteer hours as the partners package calls them: create, correct, revoke, validation, duplicates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from credit import service
from credit.models import VolunteerRecord
from residents.exceptions import IdNumberInvalid
from server.errors import ValidationFailed
from tests.credit.conftest import MP

NOW = datetime.now(UTC).replace(microsecond=0)
PLATFORM_A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
PLATFORM_B = uuid.UUID("00000000-0000-0000-0000-00000000000b")


@pytest.fixture
def post(app, client, id_number):
    """upsert_volunteer_record with sensible defaults (client: the database is up)."""

    async def call(
        external_id: str = "act-1",
        *,
        partner_id: uuid.UUID = PLATFORM_A,
        seed: int = 1,
        started_at: datetime | None = None,
        hours: Decimal | str = Decimal("3"),
        **changes,
    ):
        args = {
            "partner_id": partner_id,
            "external_id": external_id,
            "id_number": id_number(seed),
            "name": "李四",
            "activity": "古城环境保护",
            "organization": "大理志愿者协会",
            "started_at": started_at or NOW - timedelta(days=1),
            "hours": Decimal(hours),
            "hasher": app.ctx.hasher,
            "cipher": app.ctx.cipher,
            "now": NOW,
            **changes,
        }
        return await service.upsert_volunteer_record(**args)

    return call


async def score_of(client, resident) -> dict:
    return (await client.get(f"{MP}/score", headers=resident["headers"])).json()


def volunteer_points(score: dict) -> int:
    return next((f["points"] for f in score["factors"] if f["code"] == "VOLUNTEER_HOURS"), 0)


class TestUpsert:
    async def test_create_then_the_same_again_then_a_correction(self, client, post, id_number):
        resident = await client.login_resident(identity=id_number(1))
        record, created = await post(hours="10")
        assert created and record["counted"] and record["hours"] == 10.0 and record["status"] == "active"
        points = volunteer_points(await score_of(client, resident))
        assert points == 14  # floor(150 * (1 - e^(-10/100)))
        again, created_again = await post(hours="10")
        assert (
            not created_again and again["id"] == record["id"] and again["updated_at"] == record["updated_at"]
        )
        corrected, created_corrected = await post(hours="20")
        assert not created_corrected and corrected["hours"] == 20.0 and corrected["id"] == record["id"]
        assert volunteer_points(await score_of(client, resident)) > points
        assert await VolunteerRecord.all().count() == 1
        history = (await client.get(f"{MP}/score/history", headers=resident["headers"])).json()["items"]
        assert [i["reason"] for i in history[:2]] == ["volunteer_changed", "volunteer_changed"]

    async def test_hours_for_someone_not_signed_up_yet_count_once_they_bind(self, client, post, id_number):
        await post(hours="10", seed=2)
        resident = await client.login_resident(identity=id_number(2))
        assert volunteer_points(await score_of(client, resident)) == 14

    async def test_a_correction_can_move_hours_to_another_id_number(self, client, post, id_number):
        wrong = await client.login_resident(identity=id_number(3))
        right = await client.login_resident(identity=id_number(4))
        await post(seed=3, hours="10")
        await post(seed=4, hours="10")  # same external id: the platform fixed the ID number
        assert volunteer_points(await score_of(client, wrong)) == 0
        assert volunteer_points(await score_of(client, right)) == 14


class TestRevoke:
    async def test_revoked_hours_stop_counting_and_unknown_ids_are_false(self, client, post, id_number):
        resident = await client.login_resident(identity=id_number(5))
        await post(seed=5, hours="10")
        assert await service.revoke_volunteer_record(partner_id=PLATFORM_A, external_id="act-1", now=NOW)
        assert volunteer_points(await score_of(client, resident)) == 0
        assert await service.revoke_volunteer_record(partner_id=PLATFORM_A, external_id="act-1", now=NOW)
        assert not await service.revoke_volunteer_record(partner_id=PLATFORM_A, external_id="other", now=NOW)
        assert not await service.revoke_volunteer_record(partner_id=PLATFORM_B, external_id="act-1", now=NOW)

    async def test_putting_a_revoked_record_again_reinstates_it(self, client, post, id_number):
        resident = await client.login_resident(identity=id_number(6))
        await post(seed=6, hours="10")
        await service.revoke_volunteer_record(partner_id=PLATFORM_A, external_id="act-1", now=NOW)
        record, created = await post(seed=6, hours="10")
        assert not created and record["status"] == "active"
        assert volunteer_points(await score_of(client, resident)) == 14


class TestValidation:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"hours": Decimal("0")}, "hours"),
            ({"hours": Decimal("-2")}, "hours"),
            ({"hours": Decimal("24.5")}, "hours"),
            ({"hours": Decimal("1.234")}, "hours"),
            ({"hours": Decimal("NaN")}, "hours"),
            ({"started_at": NOW + timedelta(hours=2)}, "started_at"),
            ({"started_at": NOW - timedelta(hours=1)}, "ended_at"),  # 3 hours from an hour ago: not over yet
            ({"started_at": datetime(2025, 1, 1, 9)}, "started_at"),  # no offset
            ({"activity": "  "}, "activity"),
            ({"organization": ""}, "organization"),
            ({"external_id": ""}, "external_id"),
            ({"name": "1"}, "name"),
        ],
    )
    async def test_impossible_values_are_422_with_the_field(self, post, changes, field):
        with pytest.raises(ValidationFailed) as caught:
            await post(**changes)
        assert caught.value.status_code == 422 and field in caught.value.details["fields"]
        assert await VolunteerRecord.all().count() == 0

    async def test_a_bad_id_number_is_id_number_invalid(self, post):
        with pytest.raises(IdNumberInvalid) as caught:
            await post(id_number="530102199001011230")
        assert caught.value.code == "ID_NUMBER_INVALID" and "id_number" in caught.value.details["fields"]

    async def test_a_start_within_the_leeway_is_accepted(self, post):
        _record, created = await post(started_at=NOW - timedelta(hours=3) + timedelta(seconds=30))
        assert created


class TestCrossPlatformDuplicates:
    async def test_the_same_activity_from_two_platforms_counts_once(self, client, post, id_number):
        resident = await client.login_resident(identity=id_number(7))
        start = NOW - timedelta(days=2)
        first, _ = await post("a-1", partner_id=PLATFORM_A, seed=7, started_at=start, hours="10")
        second, _ = await post(
            "b-9", partner_id=PLATFORM_B, seed=7, started_at=start + timedelta(hours=2), hours="10"
        )
        assert first["counted"] and not second["counted"] and second["duplicate_of"] == first["id"]
        assert volunteer_points(await score_of(client, resident)) == 14
        hours = (await client.get(f"{MP}/volunteer-hours", headers=resident["headers"])).json()
        assert hours["total_hours"] == 10.0

    async def test_back_to_back_activities_are_not_duplicates(self, client, post, id_number):
        start = NOW - timedelta(days=2)
        await post("a-1", partner_id=PLATFORM_A, seed=8, started_at=start, hours="2")
        second, _ = await post(
            "b-1", partner_id=PLATFORM_B, seed=8, started_at=start + timedelta(hours=2), hours="2"
        )
        assert second["counted"]

    async def test_revoking_the_earlier_one_makes_the_duplicate_count(self, client, post, id_number):
        resident = await client.login_resident(identity=id_number(9))
        start = NOW - timedelta(days=2)
        await post("a-1", partner_id=PLATFORM_A, seed=9, started_at=start, hours="10")
        await post("b-1", partner_id=PLATFORM_B, seed=9, started_at=start + timedelta(hours=1), hours="20")
        assert volunteer_points(await score_of(client, resident)) == 14
        await service.revoke_volunteer_record(partner_id=PLATFORM_A, external_id="a-1", now=NOW)
        duplicate = await VolunteerRecord.get(external_id="b-1")
        assert duplicate.duplicate_of_id is None
        assert volunteer_points(await score_of(client, resident)) == 27  # the 20 hours now count
        # The first platform reinstates its record: it keeps its place as the first post.
        again, _ = await post("a-1", partner_id=PLATFORM_A, seed=9, started_at=start, hours="10")
        assert again["counted"]
        assert (await VolunteerRecord.get(external_id="b-1")).duplicate_of_id == int(again["id"])
        assert volunteer_points(await score_of(client, resident)) == 14

    async def test_moving_the_earlier_one_away_frees_the_duplicate(self, client, post, id_number):
        start = NOW - timedelta(days=3)
        await post("a-1", partner_id=PLATFORM_A, seed=10, started_at=start, hours="4")
        await post("b-1", partner_id=PLATFORM_B, seed=10, started_at=start + timedelta(hours=1), hours="4")
        await post("a-1", partner_id=PLATFORM_A, seed=10, started_at=start - timedelta(days=1), hours="4")
        assert (await VolunteerRecord.get(external_id="b-1")).duplicate_of_id is None

    async def test_other_residents_hours_never_collide(self, post):
        start = NOW - timedelta(days=2)
        await post("a-1", partner_id=PLATFORM_A, seed=11, started_at=start, hours="4")
        other, _ = await post("b-1", partner_id=PLATFORM_B, seed=12, started_at=start, hours="4")
        assert other["counted"]
