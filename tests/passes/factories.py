"""Factories for pass, scan and offer tests: residents with passes, merchants with approved offers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

MP = "/api/v1/mp"
MERCHANT = "/api/v1/merchant"
ADMIN = "/api/v1/admin"


def offer_body(**overrides: Any) -> dict[str, Any]:
    """A valid offer: 20 % off tickets for tier A and up, running now for 30 days."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "scenario": "travel",
        "type": "percent_off",
        "label": "门票八折",
        "value": 20,
        "min_tier": "A",
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
    }
    body.update(overrides)
    return body


async def resident(client: Any, seed: int, **kwargs: Any) -> dict[str, Any]:
    """A resident who consented and bound the identity (so it has a live tier: A without records)."""
    from tests.conftest import valid_id_number

    return await client.login_resident(consent=True, identity=valid_id_number(seed), **kwargs)


async def issue_pass(client: Any, headers: dict[str, str], *, image: bool = False) -> dict[str, Any]:
    r = await client.post(f"{MP}/pass", params={"image": str(image).lower()}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def merchant(
    client: Any, *, stores: int = 1, name: str = "玉龙雪山景区", **kwargs: Any
) -> dict[str, Any]:
    """A merchant with stores, an owner and the owner's headers."""
    m = await client.make_merchant(stores=stores, name=name, **kwargs)
    m["headers"] = await client.staff_headers(m["owner"]["username"], m["owner"]["password"])
    return m


async def staff(
    client: Any, m: dict[str, Any], *, role: str = "cashier", store_ids: list[str]
) -> dict[str, str]:
    """A staff account of merchant ``m`` limited to ``store_ids``, logged in: its headers."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    r = await client.post(
        f"{ADMIN}/merchants/{m['id']}/staff",
        json={"username": username, "password": "staff-password", "role": role, "store_ids": store_ids},
        headers=await client.admin_headers(),
    )
    assert r.status_code == 201, r.text
    return await client.staff_headers(username, "staff-password")


async def offer(client: Any, m: dict[str, Any], *, approve: bool = True, **overrides: Any) -> dict[str, Any]:
    """An offer of merchant ``m`` created by its owner over HTTP, approved by a regulator unless told not to."""
    r = await client.post(f"{MERCHANT}/offers", json=offer_body(**overrides), headers=m["headers"])
    assert r.status_code == 201, r.text
    created = r.json()
    if not approve:
        return created
    r = await client.post(f"{ADMIN}/offers/{created['id']}/approve", headers=await client.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def scan(client: Any, headers: dict[str, str], token: str, store_id: str, **kwargs: Any) -> Any:
    return await client.post(
        f"{MERCHANT}/scans", json={"pass_token": token, "store_id": store_id}, headers=headers, **kwargs
    )


async def blacklist(client: Any, id_number: str, *, source_record_id: str | None = None) -> None:
    """A regulator imports an active black-list record (失信联合惩戒) for this ID number."""
    from datetime import date

    item = {
        "source": "yn-credit",
        "source_record_id": source_record_id or f"bl-{uuid.uuid4().hex[:8]}",
        "subject_type": "natural_person",
        "id_number": id_number,
        "name": "张三",
        "category": "black_list",
        "severity": "serious",
        "title": "失信被执行人",
        "decided_at": (date.today() - timedelta(days=3)).isoformat(),
    }
    r = await client.post(
        f"{ADMIN}/credit-records", json={"items": [item]}, headers=await client.admin_headers()
    )
    assert r.status_code == 200, r.text
    assert not r.json()["rejected"], r.text


def b64url_json(segment: str) -> dict[str, Any]:
    import base64
    import json

    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@asynccontextmanager
async def started_client(app: Any) -> AsyncIterator[Any]:
    """Another app (another worker, or one with other settings) on the same database, started."""
    from tests.conftest import AppClient

    other = AppClient(app)
    await other.start()
    try:
        yield other
    finally:
        await other.aclose()
        await other.stop()


def new_app(settings: Any) -> Any:
    from xinyi.app import create_app

    return create_app(settings, name=f"xinyi_{uuid.uuid4().hex[:8]}")
