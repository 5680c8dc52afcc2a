"""Helpers for the redemption ledger tests: residents who were scanned at a merchant, redemptions over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from tests.passes import factories as f

MP = "/api/v1/mp"
MERCHANT = "/api/v1/merchant"
ADMIN = "/api/v1/admin"


async def shop(client: Any, *, stores: int = 1, name: str = "玉龙雪山景区", **kwargs: Any) -> dict[str, Any]:
    """A merchant with stores, its owner's headers and a cashier of the first store."""
    m = await f.merchant(client, stores=stores, name=name, **kwargs)
    m["cashier"] = await f.staff(client, m, store_ids=[m["stores"][0]["id"]])
    return m


def store(m: dict[str, Any], index: int = 0) -> str:
    return m["stores"][index]["id"]


async def scanned(
    client: Any,
    m: dict[str, Any],
    seed: int,
    *,
    resident: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    store_index: int = 0,
) -> dict[str, Any]:
    """A resident (seed ``seed``, A without records) whose fresh pass the cashier scanned: the scan answer + ``resident``."""
    resident = resident or await f.resident(client, seed)
    token = (await f.issue_pass(client, resident["headers"]))["token"]
    r = await f.scan(client, headers or m["cashier"], token, store(m, store_index))
    assert r.status_code == 201, r.text
    return {**r.json(), "resident": resident}


async def redeem(
    client: Any, headers: dict[str, str], scan_id: str, offer_id: str, *, key: str | None = None, **body: Any
) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post(
        f"{MERCHANT}/redemptions",
        json={"scan_id": scan_id, "offer_id": offer_id, **body},
        headers={**headers, **extra},
    )


async def offer_state(client: Any, m: dict[str, Any], offer_id: str) -> dict[str, Any]:
    """The offer as its owner sees it (``redeemed_count``, ``remaining``)."""
    r = await client.get(f"{MERCHANT}/offers", headers=m["headers"], params={"limit": 200})
    assert r.status_code == 200, r.text
    return next(o for o in r.json()["items"] if o["id"] == offer_id)


def error_code(r: Any) -> str:
    return r.json()["error"]["code"]


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"
