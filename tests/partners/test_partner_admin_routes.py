"""Admin partner accounts over HTTP: create (secret once), read (never the secret), rotate."""

from __future__ import annotations

import uuid

import pytest

from partners.models import Partner
from server.settings import Environment
from tests.factories import ADMIN, make_partner

GOOD = {"name": "一部手机游云南", "kind": "tourism", "scopes": ["tier:read", "redemption:write"]}


class TestCreatePartner:
    async def test_answers_201_with_key_and_a_secret_shown_once(self, client):
        r = await client.post(
            f"{ADMIN}/partners",
            json={**GOOD, "webhook_url": "http://127.0.0.1:9000/hooks?x=1"},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert uuid.UUID(body["id"]) and body["key"].startswith("pk_") and body["secret"].startswith("sk_")
        assert len(body["secret"]) >= 40
        assert body["scopes"] == ["redemption:write", "tier:read"] and body["kind"] == "tourism"
        assert body["webhook_url"] == "http://127.0.0.1:9000/hooks?x=1"

        again = await client.get(f"{ADMIN}/partners/{body['id']}", headers=await client.admin_headers())
        assert again.status_code == 200
        assert "secret" not in again.json() and body["secret"] not in again.text
        assert again.json()["key"] == body["key"]

    async def test_the_secret_is_not_stored_in_plain_text(self, client):
        created = await make_partner(client)
        values = await Partner.filter(id=created["id"]).values()
        row_text = repr(values)
        assert created["key"] in row_text
        assert created["secret"] not in row_text
        assert created["secret"][3:] not in row_text  # not even without its prefix

    async def test_every_partner_gets_its_own_key_and_secret(self, client):
        a, b = await make_partner(client), await make_partner(client)
        assert a["key"] != b["key"] and a["secret"] != b["secret"]

    async def test_duplicate_scopes_are_collapsed(self, client):
        p = await make_partner(client, scopes=("volunteer:write", "volunteer:write"))
        assert p["scopes"] == ["volunteer:write"]

    @pytest.mark.parametrize(
        ("change", "field"), [({"kind": "hotel"}, "kind"), ({"scopes": ["tier:write"]}, "scopes.0")]
    )
    async def test_a_kind_or_scope_outside_the_vocabulary_is_422(self, client, change, field):
        r = await client.post(
            f"{ADMIN}/partners", json={**GOOD, **change}, headers=await client.admin_headers()
        )
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and field in error["fields"]
        assert await Partner.all().count() == 0

    async def test_other_bad_fields_are_422(self, client):
        admin = await client.admin_headers()
        for change, field in (
            ({"scopes": []}, "scopes"),
            ({"scopes": "tier:read"}, "scopes"),
            ({"kind": None}, "kind"),
            ({"name": "   "}, "name"),
            ({"name": "x" * 129}, "name"),
            ({"webhook_url": "ftp://example.com/h"}, "webhook_url"),
            ({"webhook_url": "https://user:pw@example.com/h"}, "webhook_url"),
        ):
            r = await client.post(f"{ADMIN}/partners", json={**GOOD, **change}, headers=admin)
            assert r.status_code == 422, (change, r.text)
            assert field in r.json()["error"]["fields"], (change, r.text)
        assert await Partner.all().count() == 0

    async def test_missing_token_is_401_before_the_body_is_looked_at(self, client):
        r = await client.post(f"{ADMIN}/partners", json={"kind": "nonsense"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"

    async def test_a_resident_token_is_not_an_admin_token(self, client):
        resident = await client.login_resident()
        r = await client.post(f"{ADMIN}/partners", json=GOOD, headers=resident["headers"])
        assert r.status_code == 401

    async def test_in_prod_the_webhook_must_be_https_and_public(self, client):
        headers = await client.admin_headers()
        client.app.ctx.settings = client.app.ctx.settings.with_overrides(env=Environment.PROD)
        for url, why in (
            ("http://hooks.example.com/h", "https"),
            ("https://127.0.0.1/h", "loopback"),
            ("https://[::1]:8443/h", "loopback"),
            ("https://169.254.169.254/latest/meta-data", "link-local"),
        ):
            r = await client.post(f"{ADMIN}/partners", json={**GOOD, "webhook_url": url}, headers=headers)
            assert r.status_code == 422, r.text
            assert why in r.json()["error"]["fields"]["webhook_url"]
        assert await Partner.all().count() == 0


class TestReadPartners:
    async def test_list_is_paginated_newest_first_without_secrets(self, client):
        made = [await make_partner(client, name=f"平台{i}") for i in range(3)]
        admin = await client.admin_headers()
        first = await client.get(f"{ADMIN}/partners?limit=2", headers=admin)
        assert first.status_code == 200
        page1 = first.json()
        assert [p["id"] for p in page1["items"]] == [made[2]["id"], made[1]["id"]]
        assert page1["next_cursor"]
        page2 = (
            await client.get(f"{ADMIN}/partners?limit=2&cursor={page1['next_cursor']}", headers=admin)
        ).json()
        assert [p["id"] for p in page2["items"]] == [made[0]["id"]] and page2["next_cursor"] is None
        for m in made:
            assert m["secret"] not in first.text + str(page2)
        assert all("secret" not in p for p in page1["items"] + page2["items"])

    async def test_bad_cursor_is_422(self, client):
        r = await client.get(f"{ADMIN}/partners?cursor=nonsense", headers=await client.admin_headers())
        assert r.status_code == 422

    async def test_unknown_partner_is_404(self, client):
        admin = await client.admin_headers()
        for partner_id in (str(uuid.UUID(int=1)), "not-a-uuid"):
            assert (await client.get(f"{ADMIN}/partners/{partner_id}", headers=admin)).status_code == 404

    async def test_reading_needs_an_admin(self, client):
        assert (await client.get(f"{ADMIN}/partners")).status_code == 401


class TestRotateSecret:
    async def test_gives_a_new_secret_for_the_same_key(self, client):
        p = await make_partner(client)
        r = await client.post(
            f"{ADMIN}/partners/{p['id']}/rotate-secret", headers=await client.admin_headers()
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["key"] == p["key"] and body["secret"] != p["secret"] and body["secret"].startswith("sk_")
        assert body["previous_secret_expires_at"]
        row = repr(await Partner.filter(id=p["id"]).values())
        assert p["secret"] not in row and body["secret"] not in row
        shown = (await client.get(f"{ADMIN}/partners/{p['id']}", headers=await client.admin_headers())).json()
        assert (
            shown["secret_rotated_at"]
            and shown["previous_secret_expires_at"] == body["previous_secret_expires_at"]
        )

    async def test_unknown_partner_is_404(self, client):
        r = await client.post(
            f"{ADMIN}/partners/{uuid.uuid4()}/rotate-secret", headers=await client.admin_headers()
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "PARTNER_NOT_FOUND"

    async def test_needs_an_admin(self, client):
        p = await make_partner(client)
        assert (await client.post(f"{ADMIN}/partners/{p['id']}/rotate-secret")).status_code == 401
