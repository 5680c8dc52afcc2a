"""Walk every API route with bad input: the answer is always a 4xx in the contract's shape, never a 500."""

from __future__ import annotations

import re
import uuid

import pytest

BAD_BODIES: list[tuple[bytes, str]] = [
    (b"", "application/json"),
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"a string"', "application/json"),
    (
        b'{"code": 1, "name": [], "id_number": {}, "version": null, "scopes": 5, "items": "x", "pass_token": 7}',
        "application/json",
    ),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
]


def _api_routes(app) -> list[tuple[str, str]]:
    routes = []
    for route in app.router.routes:
        path = "/" + route.path.lstrip("/")
        if not path.startswith("/api/"):
            continue
        for method in route.methods:
            if method in {"HEAD", "OPTIONS"}:
                continue
            routes.append((method, path))
    return sorted(set(routes))


def _fill(path: str, value: str) -> str:
    return re.sub(r"<[^>]+>", value, path)


def _check(r, method: str, path: str) -> None:
    assert r.status_code < 500, f"{method} {path} → {r.status_code}: {r.text[:300]}"
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        err = r.json()["error"]
        assert err["code"] and err["message"] and err["request_id"] == r.headers["X-Request-Id"], (
            method,
            path,
        )


async def _headers_by_audience(client, id_number) -> dict[str, dict[str, str]]:
    resident = await client.login_resident(consent=True, identity=id_number(77))
    merchant = await client.make_merchant()
    return {
        "/api/v1/mp": resident["headers"],
        "/api/v1/merchant": await client.staff_headers(
            merchant["owner"]["username"], merchant["owner"]["password"]
        ),
        "/api/v1/admin": await client.admin_headers(),
        "/api/v1/partner": {},
        "/api/v1/public": {},
    }


async def test_every_route_refuses_bad_input_with_a_4xx(client, id_number):
    routes = _api_routes(client.app)
    assert len(routes) >= 15
    audiences = await _headers_by_audience(client, id_number)
    for method, raw_path in routes:
        headers = next(h for prefix, h in audiences.items() if raw_path.startswith(prefix))
        for param in ("not-an-id", str(uuid.uuid4())):
            path = _fill(raw_path, param)
            # without credentials
            r = await client.request(
                method, path, content=b"{}", headers={"content-type": "application/json"}
            )
            _check(r, method, path)
            if method in {"GET", "DELETE"}:
                r = await client.request(
                    method, path + "?limit=-1&cursor=%%%&from=yesterday", headers=headers
                )
                _check(r, method, path)
                continue
            for body, content_type in BAD_BODIES:
                r = await client.request(
                    method, path, content=body, headers={**headers, "content-type": content_type}
                )
                _check(r, method, path)


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/mp/auth/login", {"code": ""}),
        ("/api/v1/mp/auth/login", {"code": "x" * 10_000}),
        ("/api/v1/mp/auth/refresh", {"refresh_token": None}),
        ("/api/v1/merchant/auth/login", {"username": "", "password": ""}),
        ("/api/v1/admin/auth/login", {"username": ["a"], "password": {"b": 1}}),
    ],
)
async def test_login_routes_name_the_bad_fields(client, path, body):
    r = await client.post(path, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert set(r.json()["error"]["fields"]) <= set(body) | {"body"}
