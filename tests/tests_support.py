"""Helpers shared by tests that need an app of their own (e.g. with broken settings)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sanic import Sanic


class AppClient(httpx.AsyncClient):
    """httpx over ASGI into a started Sanic app (listeners run once, like a real server)."""

    def __init__(self, app: Sanic):
        self.app = app
        super().__init__(transport=httpx.ASGITransport(app=app), base_url="http://xinyi.test")

    async def start(self) -> None:
        self.app.asgi = True
        await self.app._startup()
        await self.app._server_event("init", "before")
        await self.app._server_event("init", "after")

    async def stop(self) -> None:
        await self.app._server_event("shutdown", "before")
        await self.app._server_event("shutdown", "after")

    async def login_resident(
        self,
        openid: str | None = None,
        *,
        consent: bool = False,
        identity: str | None = None,
        name: str = "张三",
    ) -> dict[str, Any]:
        """Log a resident in (and optionally consent and bind ``identity``); returns the login answer + headers."""
        openid = openid or f"o{uuid.uuid4().hex[:20]}"
        r = await self.post("/api/v1/mp/auth/login", json={"code": f"mock:{openid}:{uuid.uuid4().hex[:6]}"})
        assert r.status_code == 200, r.text
        body = r.json()
        body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
        if consent or identity:
            version = (await self.get("/api/v1/mp/consent", headers=body["headers"])).json()["version"]
            r = await self.post("/api/v1/mp/consent", json={"version": version}, headers=body["headers"])
            assert r.status_code == 200, r.text
        if identity:
            r = await self.post(
                "/api/v1/mp/identity", json={"name": name, "id_number": identity}, headers=body["headers"]
            )
            assert r.status_code == 200, r.text
        return body

    async def admin_headers(
        self, username: str = "regulator", password: str = "regulator-password"
    ) -> dict[str, str]:
        """An admin (created through the service the CLI uses) logged in over HTTP."""
        from admin.models import AdminUser
        from admin.service import create_admin

        if not await AdminUser.exists(username=username):
            await create_admin(username=username, password=password)
        r = await self.post("/api/v1/admin/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def make_merchant(
        self,
        *,
        category: str = "scenic_spot",
        region: str = "530700",
        stores: int = 1,
        name: str = "玉龙雪山景区",
    ) -> dict[str, Any]:
        """A merchant with ``stores`` stores and an owner account, made over the admin API."""
        admin = await self.admin_headers()
        r = await self.post(
            "/api/v1/admin/merchants",
            json={"name": name, "category": category, "region": region},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        merchant = r.json()
        merchant["stores"] = []
        for i in range(stores):
            r = await self.post(
                f"/api/v1/admin/merchants/{merchant['id']}/stores",
                json={"name": f"门店{i + 1}", "region": region},
                headers=admin,
            )
            assert r.status_code == 201, r.text
            merchant["stores"].append(r.json())
        owner = f"owner-{uuid.uuid4().hex[:8]}"
        r = await self.post(
            f"/api/v1/admin/merchants/{merchant['id']}/staff",
            json={"username": owner, "password": "owner-password", "role": "owner", "store_ids": []},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        merchant["owner"] = {"username": owner, "password": "owner-password", **r.json()}
        return merchant

    async def staff_headers(self, username: str, password: str) -> dict[str, str]:
        r = await self.post("/api/v1/merchant/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}
