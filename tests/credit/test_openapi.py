"""The credit endpoints are documented in the OpenAPI spec."""

from __future__ import annotations


async def test_credit_paths_are_in_the_spec(client):
    spec = (await client.get("/docs/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/mp/score",
        "/api/v1/mp/score/history",
        "/api/v1/mp/records",
        "/api/v1/mp/volunteer-hours",
        "/api/v1/admin/credit-records",
        "/api/v1/admin/rulesets",
    ):
        assert path in paths, path
    assert "get" in paths["/api/v1/mp/score"] and paths["/api/v1/mp/score"]["get"]["summary"]
    assert any("dry-run" in p for p in paths) and any("activate" in p for p in paths)
