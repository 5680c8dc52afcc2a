"""Regulator rulesets: list, create (validated), dry-run (tier moves), activate (scores move, with history)."""

from __future__ import annotations

import copy

from credit.models import CreditScore, ScoreHistory
from credit.scoring import default_ruleset, ruleset_to_dict
from tests.credit.conftest import ADMIN, MP


def ruleset(version: str, **changes) -> dict:
    data = copy.deepcopy(ruleset_to_dict(default_ruleset()))
    data["version"] = version
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return data


# A stricter ruleset: general penalties cost 120 (B → C for one of them) and AA starts at 650.
STRICT = {"deductions__admin_penalty__general": 120, "bands__AA": 650}


class TestList:
    async def test_a_fresh_database_shows_the_default_ruleset_active(self, client, admin):
        r = await client.get(f"{ADMIN}/rulesets", headers=admin)
        assert r.status_code == 200
        body = r.json()
        assert [(i["version"], i["status"]) for i in body["items"]] == [("default-v1", "active")]
        assert body["items"][0]["data"]["base"] == 600 and body["next_cursor"] is None

    async def test_listing_needs_an_admin(self, client):
        assert (await client.get(f"{ADMIN}/rulesets")).status_code == 401


class TestCreate:
    async def test_a_new_version_is_stored_as_a_draft(self, client, admin):
        r = await client.post(f"{ADMIN}/rulesets", json=ruleset("v2", **STRICT), headers=admin)
        assert r.status_code == 201
        assert (r.json()["version"], r.json()["status"]) == ("v2", "draft")
        versions = {
            i["version"]: i["status"]
            for i in (await client.get(f"{ADMIN}/rulesets", headers=admin)).json()["items"]
        }
        assert versions == {"v2": "draft", "default-v1": "active"}

    async def test_an_invalid_ruleset_is_422_with_every_field(self, client, admin):
        bad = ruleset("v3", base=10_000, bands__AA=100)
        del bad["volunteer"]["cap"]
        r = await client.post(f"{ADMIN}/rulesets", json=bad, headers=admin)
        assert r.status_code == 422
        fields = r.json()["error"]["fields"]
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert {"base", "bands.AA", "volunteer.cap"} <= set(fields)

    async def test_an_existing_version_is_409(self, client, admin):
        assert (await client.post(f"{ADMIN}/rulesets", json=ruleset("v2"), headers=admin)).status_code == 201
        r = await client.post(f"{ADMIN}/rulesets", json=ruleset("v2", base=610), headers=admin)
        assert r.status_code == 409 and r.json()["error"]["code"] == "RULESET_VERSION_EXISTS"
        r = await client.post(f"{ADMIN}/rulesets", json=ruleset("default-v1"), headers=admin)
        assert r.status_code == 409

    async def test_a_body_that_is_not_an_object_is_422(self, client, admin):
        r = await client.post(f"{ADMIN}/rulesets", content=b"[1, 2]", headers=admin)
        assert r.status_code == 422


async def residents_with_penalties(client, post_records, record, id_number):
    """Three residents: one clean (A), one general penalty (B), two red-list records (AA, 760)."""
    clean = await client.login_resident(identity=id_number(1))
    penalised = await client.login_resident(identity=id_number(2))
    praised = await client.login_resident(identity=id_number(3))
    await post_records(
        [
            record(id_number(2), severity="general"),
            record(id_number(3), category="red_list", severity=None),
            record(id_number(3), category="red_list", severity=None),
        ]
    )
    return clean, penalised, praised


class TestDryRun:
    async def test_counts_residents_by_tier_move_without_changing_anything(
        self, client, admin, post_records, record, id_number
    ):
        await residents_with_penalties(client, post_records, record, id_number)
        await client.post(f"{ADMIN}/rulesets", json=ruleset("v2", **STRICT), headers=admin)
        before = sorted(await CreditScore.all().values_list("score", "tier"))
        r = await client.post(f"{ADMIN}/rulesets/v2/dry-run", headers=admin)
        assert r.status_code == 200
        body = r.json()
        assert (body["residents"], body["up"], body["down"], body["same"]) == (3, 0, 1, 2)
        assert body["changes"] == [{"from": "B", "to": "C", "count": 1}]
        assert body["compared_with"] == "default-v1"
        assert sorted(await CreditScore.all().values_list("score", "tier")) == before

    async def test_the_active_version_changes_nobody(self, client, admin, post_records, record, id_number):
        await residents_with_penalties(client, post_records, record, id_number)
        body = (await client.post(f"{ADMIN}/rulesets/default-v1/dry-run", headers=admin)).json()
        assert (body["same"], body["changes"]) == (3, [])

    async def test_an_unknown_version_is_404(self, client, admin):
        r = await client.post(f"{ADMIN}/rulesets/nope/dry-run", headers=admin)
        assert r.status_code == 404 and r.json()["error"]["code"] == "RULESET_NOT_FOUND"


class TestActivate:
    async def test_scores_move_to_the_new_version_with_history(
        self, client, admin, post_records, record, id_number
    ):
        clean, penalised, praised = await residents_with_penalties(client, post_records, record, id_number)
        await client.post(f"{ADMIN}/rulesets", json=ruleset("v2", **STRICT), headers=admin)
        r = await client.post(f"{ADMIN}/rulesets/v2/activate", headers=admin)
        assert r.status_code == 200
        body = r.json()
        assert body["ruleset"]["status"] == "active" and body["residents"] == 3
        assert body["tier_changes"] == 1 and body["scores_changed"] == 3
        score = (await client.get(f"{MP}/score", headers=penalised["headers"])).json()
        assert (score["score"], score["tier"], score["ruleset_version"]) == (480, "C", "v2")
        praised_score = (await client.get(f"{MP}/score", headers=praised["headers"])).json()
        assert praised_score["next_tier"] == {"tier": "AAA", "points_needed": 40}
        history = (await client.get(f"{MP}/score/history", headers=penalised["headers"])).json()["items"]
        assert (history[0]["reason"], history[0]["tier"], history[0]["previous_tier"]) == (
            "ruleset_activated",
            "C",
            "B",
        )
        # A clean resident keeps score and tier, but the version change is on record.
        clean_history = (await client.get(f"{MP}/score/history", headers=clean["headers"])).json()["items"]
        assert (clean_history[0]["reason"], clean_history[0]["ruleset_version"]) == (
            "ruleset_activated",
            "v2",
        )
        statuses = {
            i["version"]: i["status"]
            for i in (await client.get(f"{ADMIN}/rulesets", headers=admin)).json()["items"]
        }
        assert statuses == {"v2": "active", "default-v1": "retired"}

    async def test_activating_again_changes_nothing_and_rolling_back_works(
        self, client, admin, post_records, record, id_number
    ):
        _, penalised, _ = await residents_with_penalties(client, post_records, record, id_number)
        await client.post(f"{ADMIN}/rulesets", json=ruleset("v2", **STRICT), headers=admin)
        await client.post(f"{ADMIN}/rulesets/v2/activate", headers=admin)
        rows = await ScoreHistory.all().count()
        again = (await client.post(f"{ADMIN}/rulesets/v2/activate", headers=admin)).json()
        assert again["scores_changed"] == 0 and await ScoreHistory.all().count() == rows
        back = (await client.post(f"{ADMIN}/rulesets/default-v1/activate", headers=admin)).json()
        assert back["tier_changes"] == 1
        assert (await client.get(f"{MP}/me", headers=penalised["headers"])).json()["tier"] == "B"

    async def test_an_unknown_version_is_404(self, client, admin):
        assert (await client.post(f"{ADMIN}/rulesets/nope/activate", headers=admin)).status_code == 404

    async def test_residents_who_bind_after_activation_get_the_new_version(self, client, admin, id_number):
        await client.post(f"{ADMIN}/rulesets", json=ruleset("v2", base=650, bands__AA=700), headers=admin)
        await client.post(f"{ADMIN}/rulesets/v2/activate", headers=admin)
        resident = await client.login_resident(identity=id_number(20))
        score = (await client.get(f"{MP}/score", headers=resident["headers"])).json()
        assert (score["score"], score["ruleset_version"]) == (650, "v2")
