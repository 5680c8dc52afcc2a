"""Third-party scores over HTTP: a scoring provider's score moves the resident's score within its bound,
and stops counting after valid_until and after the resident revokes the grant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories as f
from tests.factories import MP, PARTNER, send_signed


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def clock(client) -> Clock:
    c = Clock()
    client.app.ctx.clock = c
    return c


async def provider(client):
    return await f.make_partner(client, kind="scoring", scopes=("score:write",), name="芝麻信用")


def score_body(score: float, *, days: int = 10, **changes):
    now = datetime.now(UTC)
    body = {
        "score": score,
        "scale_min": 350,
        "scale_max": 950,
        "as_of": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=days)).isoformat(),
    }
    return {**body, **changes}


async def post(client, partner, ref, body):
    return await send_signed(client, partner, "PUT", f"{PARTNER}/third-party-scores/{ref}", body)


async def my_score(client, resident):
    r = await client.get(f"{MP}/score", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def third_party(score: dict) -> list[dict]:
    return [x for x in score["factors"] if x["code"] == "THIRD_PARTY"]


class TestThirdPartyScores:
    async def test_moves_the_score_within_its_bound_then_stops_after_valid_until(self, client, clock):
        partner = await provider(client)
        resident = await f.make_resident(client, 701)
        ref = await f.granted_ref(client, resident, partner, ("score:write",))
        assert (await my_score(client, resident))["score"] == 600

        r = await post(client, partner, ref, score_body(700))
        assert r.status_code == 200, r.text
        assert (r.json()["points"], r.json()["counts"], r.json()["provider"]) == (17, True, "芝麻信用")
        mine = await my_score(client, resident)
        assert mine["score"] == 617  # (700 - 350) / 600 of the default ruleset's 0..30 points, floored
        [factor] = third_party(mine)
        assert factor["points"] == 17 and "芝麻信用" in factor["label"]

        r = await post(
            client, partner, ref, score_body(1000000, scale_max=1000000)
        )  # the top of a wide scale
        assert r.status_code == 200, r.text
        assert (await my_score(client, resident))["score"] == 630  # never more than the bound (30)
        r = await post(client, partner, ref, score_body(950, days=3))
        assert r.status_code == 200, r.text
        assert (await my_score(client, resident))["score"] == 630

        clock.now += timedelta(days=4)  # past valid_until: the next computation drops it
        mine = await my_score(client, resident)
        assert mine["score"] == 600 and third_party(mine) == []

    async def test_revoking_the_grant_removes_it_at_once_and_refuses_later_posts(self, client):
        partner = await provider(client)
        resident = await f.make_resident(client, 702)
        grant = await f.make_grant(client, resident, partner, ("score:write",))
        ref = (await f.exchange(client, partner, grant["authorization_code"])).json()["partner_user_ref"]
        assert (await post(client, partner, ref, score_body(950))).status_code == 200
        assert (await my_score(client, resident))["score"] == 630

        r = await client.delete(f"{MP}/grants/{grant['id']}", headers=resident["headers"])
        assert r.status_code == 200, r.text
        mine = await my_score(client, resident)
        assert mine["score"] == 600 and third_party(mine) == []
        history = (await client.get(f"{MP}/score/history", headers=resident["headers"])).json()["items"]
        assert history[0]["reason"] == "grant_revoked"

        r = await post(client, partner, ref, score_body(950))
        assert f.status_and_code(r) == (403, "GRANT_REQUIRED")
        assert (await my_score(client, resident))["score"] == 600

    async def test_impossible_scores_are_422(self, client):
        partner = await provider(client)
        resident = await f.make_resident(client, 703)
        ref = await f.granted_ref(client, resident, partner, ("score:write",))
        for body, field in (
            (score_body(1000), "score"),
            (score_body(700, scale_min=950, scale_max=350), "scale_max"),
            (score_body(700, days=-1), "valid_until"),
            (score_body("700"), "score"),
        ):
            r = await post(client, partner, ref, body)
            assert f.status_and_code(r) == (422, "VALIDATION_ERROR"), body
            assert field in r.json()["error"]["fields"], r.text
        assert third_party(await my_score(client, resident)) == []

    async def test_a_newer_grant_without_the_scope_ends_it_too(self, client):
        partner = await f.make_partner(
            client, kind="scoring", scopes=("score:write", "tier:read"), name="芝麻信用"
        )
        resident = await f.make_resident(client, 704)
        ref = await f.granted_ref(client, resident, partner, ("score:write",))
        assert (await post(client, partner, ref, score_body(950))).status_code == 200
        assert (await my_score(client, resident))["score"] == 630
        await f.granted_ref(client, resident, partner, ("tier:read",))  # replaces the first grant
        assert third_party(await my_score(client, resident)) == []
