"""The frame over HTTP: health, readiness, the error shape, request ids, limits, OpenAPI."""

from __future__ import annotations

import uuid

import pytest

from xinyi.app import create_app


def assert_error_shape(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert isinstance(err["code"], str) and err["code"].isupper()
    assert isinstance(err["message"], str) and err["message"]
    assert err["request_id"] == r.headers["X-Request-Id"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    if code:
        assert err["code"] == code
    return err


class TestHealth:
    async def test_healthz(self, client):
        r = await client.get("/healthz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}

    async def test_readyz_when_database_and_redis_answer(self, client):
        r = await client.get("/readyz")
        assert r.status_code == 200 and r.json()["database"] is True and r.json()["redis"] is True

    async def test_readyz_is_503_when_redis_is_down(self, settings):
        from tests.factories import started_client

        broken = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")
        async with started_client(create_app(broken, name=f"x{uuid.uuid4().hex[:6]}")) as c:
            r = await c.get("/readyz")
        assert r.status_code == 503 and r.json()["redis"] is False and r.json()["database"] is True


class TestErrorShape:
    async def test_unknown_path_is_404_in_contract_shape(self, client):
        assert_error_shape(await client.get("/api/v1/nowhere"), 404, "NOT_FOUND")

    async def test_wrong_method_is_405(self, client):
        assert_error_shape(await client.delete("/healthz"), 405, "METHOD_NOT_ALLOWED")

    async def test_request_id_is_echoed_when_sane_and_replaced_when_not(self, client):
        r = await client.get("/healthz", headers={"X-Request-Id": "trace-12345678"})
        assert r.headers["X-Request-Id"] == "trace-12345678"
        r = await client.get("/healthz", headers={"X-Request-Id": "<script>"})
        assert r.headers["X-Request-Id"] != "<script>" and len(r.headers["X-Request-Id"]) == 32

    async def test_invalid_json_is_422_validation_error(self, client):
        err = assert_error_shape(
            await client.post(
                "/api/v1/mp/auth/login", content=b"{nope", headers={"content-type": "application/json"}
            ),
            422,
            "VALIDATION_ERROR",
        )
        assert "body" in err["fields"]

    async def test_missing_and_mistyped_fields_are_named(self, client):
        err = assert_error_shape(await client.post("/api/v1/admin/auth/login", json={"username": 5}), 422)
        assert set(err["fields"]) == {"username", "password"}

    async def test_a_1mb_body_is_refused_with_413(self, client):
        r = await client.post("/api/v1/mp/auth/login", content=b"x" * 1_048_576)
        assert_error_shape(r, 413, "PAYLOAD_TOO_LARGE")


class TestOpenAPI:
    async def test_spec_lists_the_contract_paths(self, client):
        spec = (await client.get("/docs/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        for path in (
            "/api/v1/mp/auth/login",
            "/api/v1/mp/identity",
            "/api/v1/merchant/auth/login",
            "/api/v1/admin/merchants",
        ):
            assert path in spec["paths"], path

    async def test_docs_page_is_served(self, client):
        r = await client.get("/docs")
        assert r.status_code == 200 and "html" in r.headers["content-type"]


class TestHeaders:
    async def test_every_answer_says_it_is_data_not_a_page(self, client):
        for r in (await client.get("/healthz"), await client.get("/nowhere")):
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Referrer-Policy"] == "no-referrer"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
            assert "Strict-Transport-Security" not in r.headers  # dev: no TLS in front

    async def test_prod_asks_browsers_to_keep_to_https(self, settings):
        from server.settings import Environment
        from tests.factories import started_client

        prod = settings.with_overrides(env=Environment.PROD, pass_signing_keys_required=False)
        async with started_client(create_app(prod, name=f"x{uuid.uuid4().hex[:6]}")) as c:
            r = await c.get("/healthz")
            assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")

    async def test_docs_can_be_turned_off(self, settings):
        from tests.factories import started_client

        off = settings.with_overrides(docs=False)
        async with started_client(create_app(off, name=f"x{uuid.uuid4().hex[:6]}")) as c:
            assert_error_shape(await c.get("/docs/openapi.json"), 404, "NOT_FOUND")
            assert_error_shape(await c.get("/docs"), 404, "NOT_FOUND")
            assert (await c.get("/healthz")).status_code == 200


class TestAudiences:
    async def test_a_resident_token_is_refused_by_merchant_and_admin_routes(self, client):
        h = (await client.login_resident())["headers"]
        assert_error_shape(
            await client.post("/api/v1/merchant/staff", json={}, headers=h), 401, "UNAUTHENTICATED"
        )
        assert_error_shape(
            await client.post("/api/v1/admin/merchants", json={}, headers=h), 401, "UNAUTHENTICATED"
        )

    async def test_admin_and_staff_tokens_are_refused_by_resident_routes(self, client):
        admin = await client.admin_headers()
        assert_error_shape(await client.get("/api/v1/mp/me", headers=admin), 401)
        m = await client.make_merchant()
        staff = await client.staff_headers(m["owner"]["username"], m["owner"]["password"])
        assert_error_shape(await client.get("/api/v1/mp/me", headers=staff), 401)
        assert_error_shape(await client.post("/api/v1/admin/merchants", json={}, headers=staff), 401)

    @pytest.mark.parametrize(
        "header", ["", "Bearer", "Bearer x.y.z", "Basic abc", "Bearer eyJhbGciOiJub25lIn0.e30."]
    )
    async def test_missing_or_garbage_tokens_are_401(self, client, header):
        assert_error_shape(
            await client.get("/api/v1/mp/me", headers={"Authorization": header}), 401, "UNAUTHENTICATED"
        )

    async def test_alg_none_and_forged_tokens_are_refused(self, client):
        import jwt

        login = await client.login_resident()
        claims = jwt.decode(login["access_token"], options={"verify_signature": False})
        forged = jwt.encode(
            claims, "a-guessed-secret-of-thirty-two-bytes!", algorithm="HS256", headers={"typ": "at+jwt"}
        )
        assert_error_shape(
            await client.get("/api/v1/mp/me", headers={"Authorization": f"Bearer {forged}"}), 401
        )
        none = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
        assert_error_shape(
            await client.get("/api/v1/mp/me", headers={"Authorization": f"Bearer {none}"}), 401
        )


class TestRedisDown:
    async def test_login_answers_503_with_retry_after_not_500(self, settings):
        from tests.factories import started_client

        broken = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")
        async with started_client(create_app(broken, name=f"x{uuid.uuid4().hex[:6]}")) as c:
            r = await c.post(
                "/api/v1/admin/auth/login", json={"username": "someone", "password": "something"}
            )
        err = assert_error_shape(r, 503, "SERVICE_UNAVAILABLE")
        assert err and int(r.headers["Retry-After"]) > 0
