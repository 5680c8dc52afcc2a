"""The served OpenAPI document tells a client the truth: what it may send, what it gets back, every error.

The contract test (``tests/contract/run_schemathesis.py``, run by CI after the suite) checks the
server against the document; these tests check the document itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from server.openapi import to_oas30

METHODS = ("get", "put", "post", "patch", "delete")
ERROR_REF = "#/components/schemas/Error"
AUDIENCE_PATHS = re.compile(r"^/api/v1/(mp|merchant|admin)/")
TOKEN_ROUTES = {
    f"/api/v1/{audience}/auth/{what}"
    for audience in ("mp", "merchant", "admin")
    for what in ("login", "refresh")
}
PARTNER_SCHEMES = {"partnerKey", "partnerTimestamp", "partnerNonce", "partnerSignature"}


@pytest.fixture
async def spec(client: Any) -> dict[str, Any]:
    response = await client.get("/docs/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


class TestTheDocument:
    async def test_is_a_valid_openapi_3_0_document(self, spec):
        # schemathesis (a dev dependency, pinned) bundles the OpenAPI 3.0 meta-schema
        from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

        assert spec["openapi"].startswith("3.0")
        assert [str(error) for error in OPENAPI_30_VALIDATOR.iter_errors(spec)] == []

    async def test_says_what_it_is(self, spec):
        info = spec["info"]
        assert info["title"] != "API" and "xinyi" in info["title"]
        assert re.match(r"^\d+\.\d+\.\d+$", info["version"])
        assert "X-Request-Id" in info["description"] and "Retry-After" in info["description"]

    async def test_every_operation_is_tagged_with_its_audience(self, spec):
        for path, method, operation in operations(spec):
            expected = {
                "mp": "residents",
                "merchant": "merchants",
                "partner": "partners",
                "admin": "regulators",
                "public": "public",
            }
            audience = path.split("/")[3] if path.startswith("/api/v1/") else None
            assert operation["tags"] == [expected.get(audience or "", "ops")], (method, path)

    async def test_has_no_framework_internals(self, spec):
        text = json.dumps(spec)
        for internal in (
            "model_config",
            "model_fields",
            "as_integer_ratio",
            "quantize",
            "is_nan",
            "adjusted",
        ):
            assert internal not in text


class TestAnswers:
    async def test_every_operation_declares_a_success(self, spec):
        for path, method, operation in operations(spec):
            statuses = set(operation["responses"])
            assert "default" not in statuses, (method, path)
            assert any(status.startswith("2") for status in statuses), (method, path)

    async def test_every_error_is_the_contract_error_object(self, spec):
        error = spec["components"]["schemas"]["Error"]
        assert error["required"] == ["error"]
        detail = resolve(spec, error["properties"]["error"])
        assert set(detail["required"]) == {"code", "message", "request_id"}
        for path, method, operation in operations(spec):
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ERROR_REF}, (method, path, status)
                    example = response["content"]["application/json"]["example"]["error"]
                    assert re.match(r"^[A-Z][A-Z0-9_]*$", example["code"]), (method, path, status)

    async def test_waits_are_said_in_retry_after(self, spec):
        for path, method, operation in operations(spec):
            for status in ("429", "503"):
                if status in operation["responses"] and path != "/readyz":
                    assert "Retry-After" in operation["responses"][status]["headers"], (method, path, status)

    async def test_every_answer_carries_the_request_id(self, spec):
        for path, method, operation in operations(spec):
            for status, response in operation["responses"].items():
                assert "X-Request-Id" in response["headers"], (method, path, status)

    async def test_backing_services_can_be_unavailable(self, spec):
        for path, method, operation in operations(spec):
            if path != "/healthz":
                assert "503" in operation["responses"], (method, path)

    async def test_logins_and_refreshes_can_be_throttled(self, spec):
        for path in TOKEN_ROUTES:
            responses = spec["paths"][path]["post"]["responses"]
            assert {"200", "401", "422", "429"} <= set(responses), path


class TestRequests:
    async def test_bodies_list_their_required_fields(self, spec):
        bodies = 0
        for path, method, operation in operations(spec):
            if "requestBody" not in operation:
                continue
            bodies += 1
            (media_type,) = operation["requestBody"]["content"]
            assert media_type in ("application/json", "multipart/form-data"), (method, path)
            schema = resolve(spec, operation["requestBody"]["content"][media_type]["schema"])
            assert schema["type"] == "object", (method, path)
            assert set(schema.get("required", ())) <= set(schema.get("properties", {})), (method, path)
            assert {"413", "422"} <= set(operation["responses"]), (method, path)
        assert bodies >= 30

        def required(path: str, method: str = "post") -> set[str]:
            body = spec["paths"][path][method]["requestBody"]
            return set(resolve(spec, body["content"]["application/json"]["schema"])["required"])

        assert required("/api/v1/mp/auth/login") == {"code"}
        assert required("/api/v1/merchant/scans") == {"pass_token", "store_id"}
        assert required("/api/v1/merchant/redemptions") == {"scan_id", "offer_id"}
        assert required("/api/v1/admin/auth/login") == {"username", "password"}
        assert {"partner_user_ref", "offer_id", "external_order_id", "order_amount_fen"} == required(
            "/api/v1/partner/redemptions"
        )
        assert spec["paths"]["/api/v1/mp/pass"]["post"]["requestBody"]["required"] is False

    async def test_enums_are_string_enums(self, spec):
        for node in walk(spec["components"]["schemas"]):
            if "enum" in node:
                assert node.get("type") == "string", node
                assert all(isinstance(v, str) or v is None for v in node["enum"]), node
                assert node.get("nullable") or None not in node["enum"], node
        offer = spec["components"]["schemas"]["OfferOut"]["properties"]
        assert offer["scenario"] == {
            "type": "string",
            "enum": ["travel", "transport", "rental", "approval", "loan"],
        }
        assert offer["min_tier"]["enum"] == ["C", "B", "A", "AA", "AAA"]
        scopes = spec["components"]["schemas"]["PartnerScope"]
        assert set(scopes["enum"]) >= {"pass:verify", "tier:read", "redemption:write", "volunteer:write"}

    async def test_volunteer_hours_are_a_number(self, spec):
        hours = spec["components"]["schemas"]["VolunteerHoursIn"]["properties"]["hours"]
        assert hours["type"] == "number" and hours["maximum"] == 24 and hours["exclusiveMinimum"] is True

    async def test_pages_take_an_integer_limit_and_a_string_cursor(self, spec):
        pages = 0
        for path, method, operation in operations(spec):
            params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
            if "limit" in params:
                pages += 1
                limit = params["limit"]["schema"]
                assert limit["type"] == "integer" and limit["minimum"] == 1 and limit["maximum"] >= 1, (
                    method,
                    path,
                )
                assert params["cursor"]["schema"]["type"] == "string", (method, path)
                assert "nullable" not in params["cursor"]["schema"], (method, path)
        assert pages >= 20

    async def test_query_enums_and_ids_are_typed(self, spec):
        params = {
            p["name"]: p["schema"] for p in spec["paths"]["/api/v1/merchant/redemptions"]["get"]["parameters"]
        }
        assert params["status"] == {"type": "string", "enum": ["completed", "reversed"]}
        assert params["store_id"] == {"type": "string", "format": "uuid"}
        assert "from" in params and "to" in params

    async def test_path_ids_are_uuids(self, spec):
        operation = spec["paths"]["/api/v1/mp/offers/{offer_id}/claim"]["post"]
        (param,) = [p for p in operation["parameters"] if p["in"] == "path"]
        assert param == {
            "name": "offer_id",
            "in": "path",
            "required": True,
            "description": "the offer",
            "schema": {"type": "string", "format": "uuid"},
        }


class TestSecurity:
    async def test_token_routes_need_a_bearer_token_and_say_401(self, spec):
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        for path, method, operation in operations(spec):
            if AUDIENCE_PATHS.match(path) and path not in TOKEN_ROUTES:
                assert operation["security"] == [{"bearer": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
            elif path in TOKEN_ROUTES:
                assert "security" not in operation, (method, path)

    async def test_partner_routes_are_signed(self, spec):
        schemes = spec["components"]["securitySchemes"]
        assert {name: schemes[name]["name"] for name in PARTNER_SCHEMES} == {
            "partnerKey": "X-Partner-Key",
            "partnerTimestamp": "X-Timestamp",
            "partnerNonce": "X-Nonce",
            "partnerSignature": "X-Signature",
        }
        assert all(
            schemes[name]["type"] == "apiKey" and schemes[name]["in"] == "header" for name in PARTNER_SCHEMES
        )
        assert "HMAC-SHA256" in schemes["partnerSignature"]["description"]
        assert (
            "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))"
            in schemes["partnerSignature"]["description"]
        )
        partner_paths = [p for p in spec["paths"] if p.startswith("/api/v1/partner/")]
        assert len(partner_paths) >= 5
        for path, method, operation in operations(spec):
            if path.startswith("/api/v1/partner/"):
                assert operation["security"] == [dict.fromkeys(PARTNER_SCHEMES, [])], (method, path)
                assert "401" in operation["responses"] and "503" in operation["responses"], (method, path)


class TestLimitIsValidated:
    @pytest.mark.parametrize("limit", ["5.0", " 5", "5_0", "1e1", "five", "-1", "0", "201"])
    async def test_a_limit_that_is_not_a_whole_number_in_bounds_is_422(self, client, limit):
        admin = await client.admin_headers()
        r = await client.get("/api/v1/admin/partners", params={"limit": limit}, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert set(r.json()["error"]["fields"]) == {"limit"}

    async def test_a_whole_number_is_a_limit(self, client):
        admin = await client.admin_headers()
        r = await client.get("/api/v1/admin/partners", params={"limit": "7"}, headers=admin)
        assert r.status_code == 200, r.text


class TestToOas30:
    def test_null_becomes_nullable(self):
        assert to_oas30({"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}) == {
            "type": "string",
            "nullable": True,
            "default": None,
        }

    def test_a_nullable_reference_is_an_all_of(self):
        converted = to_oas30({"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}]})
        assert converted == {"nullable": True, "allOf": [{"$ref": "#/components/schemas/X"}]}

    def test_a_nullable_enum_lists_null(self):
        converted = to_oas30({"anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}]})
        assert converted["enum"] == ["a", "b", None] and converted["nullable"] is True

    def test_2020_12_keywords_become_3_0_ones(self):
        assert to_oas30({"const": "x", "exclusiveMinimum": 0, "examples": [1, 2], "title": "T"}) == {
            "enum": ["x"],
            "minimum": 0,
            "exclusiveMinimum": True,
            "example": 1,
        }

    def test_property_names_are_not_keywords(self):
        schema = {"type": "object", "properties": {"title": {"type": "string", "title": "Title"}}}
        assert to_oas30(schema) == {"type": "object", "properties": {"title": {"type": "string"}}}
