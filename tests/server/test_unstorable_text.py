"""Text a database cannot store (the NUL character) is refused at the boundary: 422 naming the field, never a 500."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from server.http import UNSTORABLE_TEXT, unstorable_text
from tests import factories as f

ADMIN, MERCHANT, MP = "/api/v1/admin", "/api/v1/merchant", "/api/v1/mp"
NUL = "a\u0000b"
ROOT = Path(__file__).resolve().parents[2]


def assert_refused(r, field: str) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["fields"].get(field) == UNSTORABLE_TEXT, error


class TestTheBoundary:
    def test_finds_nul_in_nested_fields_and_keys(self):
        assert unstorable_text({"a": "ok", "b": [{"c": NUL}], NUL: 1}) == {
            "b.0.c": UNSTORABLE_TEXT,
            NUL: UNSTORABLE_TEXT,
        }
        assert unstorable_text({"a": "ok", "n": 3, "xs": ["x", None]}) == {}

    def test_no_route_reads_the_body_but_through_parse_body(self):
        """Every JSON body goes through ``server.http.parse_body``, where the check is (two raw readers, by design)."""
        allowed = {
            ("partners/signing.py", "body"),  # the signature covers the raw bytes; the route then parses
            ("miniprogram_api/pass_routes.py", "body"),  # only whether a body is there at all
        }
        found = set()
        for path in ROOT.glob("*/*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(("tests/", "bench/", "migrations/", "server/")) or ".venv" in rel:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in ("json", "body", "form")
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "request"
                ):
                    found.add((rel, node.attr))
        assert found <= allowed, found - allowed


class TestRoutesThatTookNulAndAnswered500:
    async def test_logins(self, client):
        for path in (f"{MERCHANT}/auth/login", f"{ADMIN}/auth/login"):
            r = await client.post(path, json={"username": NUL, "password": "whatever-password"})
            assert_refused(r, "username")

    async def test_regulator_writes(self, client):
        admin = await client.admin_headers()
        r = await client.post(
            f"{ADMIN}/merchants", json={"name": NUL, "category": "hotel", "region": "530700"}, headers=admin
        )
        assert_refused(r, "name")
        r = await client.post(
            f"{ADMIN}/partners",
            json={"name": NUL, "kind": "volunteer", "scopes": ["volunteer:write"]},
            headers=admin,
        )
        assert_refused(r, "name")
        offer = await f.make_offer(client, await f.make_shop(client), approve=False)
        r = await client.post(f"{ADMIN}/offers/{offer['id']}/reject", json={"note": NUL}, headers=admin)
        assert_refused(r, "note")
        r = await client.post(
            f"{ADMIN}/breaches/{uuid.uuid4()}/decision",
            json={"outcome": "rejected", "note": NUL},
            headers=admin,
        )
        assert_refused(r, "note")

    async def test_a_credit_record_item_is_rejected_alone(self, client, id_number):
        admin = await client.admin_headers()
        good = f.credit_record_item(id_number(1), n=1)
        bad = f.credit_record_item(id_number(2), n=2, title=NUL)
        r = await client.post(f"{ADMIN}/credit-records", json={"items": [good, bad]}, headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["created"] == 1
        assert [(x["index"], x["code"], x["fields"]) for x in body["rejected"]] == [
            (1, "VALIDATION_ERROR", {"title": UNSTORABLE_TEXT})
        ]

    async def test_resident_identity_and_merchant_staff(self, client):
        resident = await client.login_resident()
        r = await client.post(
            f"{MP}/identity",
            json={"name": NUL, "id_number": "530702199506150029"},
            headers=resident["headers"],
        )
        assert r.status_code == 422, r.text  # the name is refused (a name check or this one), never a 500
        shop = await f.make_shop(client)
        r = await client.post(
            f"{MERCHANT}/staff",
            json={
                "username": "cashier_x",
                "password": NUL * 6,
                "role": "cashier",
                "store_ids": [f.store(shop)],
            },
            headers=shop["headers"],
        )
        assert_refused(r, "password")

    @pytest.mark.parametrize("path", [f"{ADMIN}/scans?outcome=a%00b", f"{ADMIN}/offers?status=%00"])
    async def test_query_strings(self, client, path):
        r = await client.get(path, headers=await client.admin_headers())
        assert r.status_code == 422, r.text
