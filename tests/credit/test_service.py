"""Service functions other packages use: live_tier, tier_for_residents, tier_change_hooks."""

from __future__ import annotations

import uuid

import pytest

from credit import service
from credit.models import CreditScore, Subject
from residents.exceptions import IdentityRequired


@pytest.fixture
def tier_events():
    events: list[tuple] = []

    async def hook(conn, subject, previous_tier, new_tier):
        events.append((subject.resident_id, previous_tier, new_tier))

    service.tier_change_hooks.append(hook)
    yield events
    service.tier_change_hooks.remove(hook)


class TestTierChangeHooks:
    async def test_called_with_the_move_when_a_tier_changes_and_not_otherwise(
        self, client, post_records, record, id_number, tier_events
    ):
        resident = await client.login_resident(identity=id_number(1))
        assert tier_events == []  # the first score at binding is not a change
        await post_records([record(id_number(1), category="commendation", severity=None)])  # 620: still A
        assert tier_events == []
        black = record(id_number(1), category="black_list", severity=None)
        await post_records([black])
        await post_records([{**black, "status": "revoked"}])
        rid = uuid.UUID(resident["resident"]["id"])
        assert tier_events == [(rid, "A", "restricted"), (rid, "restricted", "A")]

    async def test_subjects_without_a_resident_announce_nothing(
        self, post_records, record, id_number, tier_events
    ):
        await post_records([record(id_number(2), category="black_list", severity=None)])
        assert tier_events == []


class TestLiveTier:
    async def test_unbound_residents_have_no_tier(self, client):
        resident = await client.login_resident(consent=True)
        with pytest.raises(IdentityRequired):
            await service.live_tier(uuid.UUID(resident["resident"]["id"]))

    async def test_a_bound_resident_without_a_score_row_gets_one(self, client, id_number):
        resident = await client.login_resident(identity=id_number(3))
        await CreditScore.all().delete()
        await Subject.all().update(resident_id=None)
        assert await service.live_tier(uuid.UUID(resident["resident"]["id"])) == "A"
        assert await CreditScore.all().count() == 1

    async def test_tiers_of_many_residents_in_one_call(self, client, post_records, record, id_number):
        a = await client.login_resident(identity=id_number(4))
        b = await client.login_resident(identity=id_number(5))
        unbound = await client.login_resident(consent=True)
        await post_records([record(id_number(5), category="black_list", severity=None)])
        ids = [uuid.UUID(r["resident"]["id"]) for r in (a, b, unbound)]
        assert await service.tier_for_residents(ids) == {ids[0]: "A", ids[1]: "restricted"}
