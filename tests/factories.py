"""The test factories: every way a test builds data, in one place.

``make_*`` functions build something and return it. Most go through the HTTP API as a client
would (a resident logs in, consents and binds an identity; a regulator creates a merchant; an
owner proposes an offer...), so that the HTTP tests exercise what a user does. The
``make_*_record`` variants build the same through the domain services directly, for service-level
tests (no HTTP): they return the service's own results (model rows, the offer dict).

The other helpers send one request or read one answer (``redeem``, ``make_scan``, ``send_signed``,
``verify_pass``...), or build a request body (``offer_body``, ``volunteer_body``...).

Import it as ``from tests import factories as f``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson

from partners.signing import signed_headers

MP = "/api/v1/mp"
MERCHANT = "/api/v1/merchant"
ADMIN = "/api/v1/admin"
PARTNER = "/api/v1/partner"
CST = timezone(timedelta(hours=8))
ALL_SCOPES = ("pass:verify", "tier:read", "redemption:write")


# --- apps and clients -----------------------------------------------------------------------


def new_app(settings: Any) -> Any:
    """Another app on ``settings`` (another worker, or one with other settings), not started."""
    from xinyi.app import create_app

    return create_app(settings, name=f"xinyi_{uuid.uuid4().hex[:8]}")


@asynccontextmanager
async def started_client(app: Any) -> AsyncIterator[Any]:
    """A client of ``app``, started (its listeners run, like a real server), stopped at the end."""
    from tests_support import AppClient

    other = AppClient(app)
    await other.start()
    try:
        yield other
    finally:
        await other.aclose()
        await other.stop()


# --- residents and passes -------------------------------------------------------------------


async def make_resident(client: Any, seed: int, **kwargs: Any) -> dict[str, Any]:
    """A resident who consented and bound the identity (so it has a live tier: A without records).

    The login answer (``resident``, tokens) and its ``headers``; ``seed`` picks the ID number.
    """
    from tests.conftest import valid_id_number

    return await client.login_resident(consent=True, identity=valid_id_number(seed), **kwargs)


async def issue_pass(client: Any, headers: dict[str, str], *, image: bool = False) -> dict[str, Any]:
    """The resident's pass, issued over HTTP (``token``, ...)."""
    r = await client.post(f"{MP}/pass", params={"image": str(image).lower()}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def b64url_json(segment: str) -> dict[str, Any]:
    """A base64url JSON segment of a token, decoded."""
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --- credit records -------------------------------------------------------------------------


def credit_record_item(
    id_number: str,
    *,
    n: int,
    category: str = "admin_penalty",
    severity: str | None = "general",
    days_ago: int = 10,
    source_record_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A credit record item as a source sends it (API body item / JSONL line), the ``n``-th of a test.

    Decided ``days_ago`` days before today (in the scoring's time zone).
    """
    from credit.scoring import LOCAL_TZ

    today = datetime.now(LOCAL_TZ).date()
    item = {
        "source": "yn-credit",
        "source_record_id": source_record_id or f"r-{n}",
        "subject_type": "natural_person",
        "id_number": id_number,
        "name": "张三",
        "category": category,
        "title": f"记录{n}",
        "decided_at": (today - timedelta(days=days_ago)).isoformat(),
        **extra,
    }
    if severity is not None:
        item["severity"] = severity
    return item


async def blacklist(client: Any, id_number: str, *, source_record_id: str | None = None) -> None:
    """A regulator imports an active black-list record (失信联合惩戒) for this ID number."""
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


# --- merchants, stores, staff (over HTTP) ---------------------------------------------------


async def make_merchant(
    client: Any, *, stores: int = 1, name: str = "玉龙雪山景区", **kwargs: Any
) -> dict[str, Any]:
    """A merchant made over the admin API with ``stores`` stores, an ``owner`` and the owner's ``headers``."""
    m = await client.make_merchant(stores=stores, name=name, **kwargs)
    m["headers"] = await client.staff_headers(m["owner"]["username"], m["owner"]["password"])
    return m


async def make_staff(
    client: Any, m: dict[str, Any], *, role: str = "cashier", store_ids: list[str]
) -> dict[str, str]:
    """A staff account of merchant ``m`` limited to ``store_ids``, made over the admin API and logged in: its headers."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    r = await client.post(
        f"{ADMIN}/merchants/{m['id']}/staff",
        json={"username": username, "password": "staff-password", "role": role, "store_ids": store_ids},
        headers=await client.admin_headers(),
    )
    assert r.status_code == 201, r.text
    return await client.staff_headers(username, "staff-password")


async def make_shop(
    client: Any, *, stores: int = 1, name: str = "玉龙雪山景区", **kwargs: Any
) -> dict[str, Any]:
    """``make_merchant`` plus a ``cashier`` of the first store (the cashier's headers)."""
    m = await make_merchant(client, stores=stores, name=name, **kwargs)
    m["cashier"] = await make_staff(client, m, store_ids=[m["stores"][0]["id"]])
    return m


def store(m: dict[str, Any], index: int = 0) -> str:
    """The id of merchant ``m``'s ``index``-th store."""
    return m["stores"][index]["id"]


# --- merchants, stores, staff (through merchants.service) -----------------------------------


@dataclass
class MerchantRecord:
    """A merchant as the service made it: the rows of the merchant, its stores and its owner."""

    merchant: Any
    stores: list[Any]
    owner: Any


async def make_staff_record(
    merchant_id: uuid.UUID,
    *,
    role: str = "cashier",
    store_ids: Sequence[Any] = (),
    username: str | None = None,
    password: str = "staff-password",
) -> Any:
    """A staff account made by ``merchants.service.create_staff``: the ``Staff`` row."""
    from merchants import service as merchants
    from merchants.models import Staff
    from merchants.schemas import StaffIn

    out = await merchants.create_staff(
        merchant_id,
        StaffIn(
            username=username or f"{role}-{uuid.uuid4().hex[:8]}",
            password=password,
            role=role,
            store_ids=[str(s) for s in store_ids],
        ),
    )
    return await Staff.get(id=out["id"])


async def make_merchant_record(
    *,
    stores: int = 1,
    name: str = "玉龙雪山景区",
    category: str = "scenic_spot",
    region: str = "530700",
) -> MerchantRecord:
    """A merchant with ``stores`` stores and an owner, made by ``merchants.service`` (no HTTP)."""
    from merchants import service as merchants
    from merchants.schemas import MerchantIn, StoreIn

    merchant = await merchants.create_merchant(MerchantIn(name=name, category=category, region=region))
    made = [
        await merchants.create_store(merchant.id, StoreIn(name=f"门店{i + 1}", region=region))
        for i in range(stores)
    ]
    owner = await make_staff_record(merchant.id, role="owner", password="owner-password")
    return MerchantRecord(merchant=merchant, stores=made, owner=owner)


# --- offers ---------------------------------------------------------------------------------


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


async def make_offer(
    client: Any, m: dict[str, Any], *, approve: bool = True, **overrides: Any
) -> dict[str, Any]:
    """An offer of merchant ``m`` created by its owner over HTTP, approved by a regulator unless told not to."""
    r = await client.post(f"{MERCHANT}/offers", json=offer_body(**overrides), headers=m["headers"])
    assert r.status_code == 201, r.text
    created = r.json()
    if not approve:
        return created
    r = await client.post(f"{ADMIN}/offers/{created['id']}/approve", headers=await client.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def make_offer_record(owner: Any, *, approve: bool = True, **overrides: Any) -> dict[str, Any]:
    """An offer of ``owner``'s merchant made by ``coupons.service.create_offer`` (and ``approve_offer``
    unless told not to): the service's answer."""
    from coupons import service as coupons
    from coupons.schemas import OfferIn

    now = datetime.now(UTC)
    created = await coupons.create_offer(owner, OfferIn(**offer_body(**overrides)), now=now)
    if not approve:
        return created
    return await coupons.approve_offer(uuid.UUID(created["id"]), admin_id=None, now=now)


async def offer_state(client: Any, m: dict[str, Any], offer_id: str) -> dict[str, Any]:
    """The offer as its owner sees it over HTTP (``redeemed_count``, ``remaining``)."""
    r = await client.get(f"{MERCHANT}/offers", headers=m["headers"], params={"limit": 200})
    assert r.status_code == 200, r.text
    return next(o for o in r.json()["items"] if o["id"] == offer_id)


# --- scans and redemptions ------------------------------------------------------------------


async def make_scan(client: Any, headers: dict[str, str], token: str, store_id: str, **kwargs: Any) -> Any:
    """Staff (``headers``) scan a pass ``token`` at ``store_id`` over HTTP: the response, unchecked."""
    return await client.post(
        f"{MERCHANT}/scans", json={"pass_token": token, "store_id": store_id}, headers=headers, **kwargs
    )


async def make_scanned_pass(
    client: Any,
    m: dict[str, Any],
    seed: int,
    *,
    resident: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    store_index: int = 0,
) -> dict[str, Any]:
    """A resident (seed ``seed``, A without records) whose fresh pass the cashier of shop ``m`` scanned:
    the scan answer (``scan_id``, candidates...) + ``resident``."""
    resident = resident or await make_resident(client, seed)
    token = (await issue_pass(client, resident["headers"]))["token"]
    r = await make_scan(client, headers or m["cashier"], token, store(m, store_index))
    assert r.status_code == 201, r.text
    return {**r.json(), "resident": resident}


async def redeem(
    client: Any, headers: dict[str, str], scan_id: str, offer_id: str, *, key: str | None = None, **body: Any
) -> Any:
    """Staff redeem ``offer_id`` for the resident of ``scan_id`` over HTTP: the response, unchecked."""
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post(
        f"{MERCHANT}/redemptions",
        json={"scan_id": scan_id, "offer_id": offer_id, **body},
        headers={**headers, **extra},
    )


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return f"key-{uuid.uuid4().hex}"


def error_code(r: Any) -> str:
    """The error code of an error response."""
    return r.json()["error"]["code"]


def status_and_code(r: Any) -> tuple[int, str]:
    """The status and error code of an error response."""
    return r.status_code, r.json()["error"]["code"]


# --- partners -------------------------------------------------------------------------------


async def make_partner(
    client: Any,
    *,
    kind: str = "volunteer",
    scopes: tuple[str, ...] = ("volunteer:write",),
    name: str = "云南志愿服务平台",
    webhook_url: str | None = None,
) -> dict[str, Any]:
    """A partner created by an admin over HTTP: the 201 answer, secret included."""
    body: dict[str, Any] = {"name": name, "kind": kind, "scopes": list(scopes)}
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    r = await client.post(f"{ADMIN}/partners", json=body, headers=await client.admin_headers())
    assert r.status_code == 201, r.text
    return r.json()


async def tourism_partner(
    client: Any,
    name: str = "一部手机游云南",
    *,
    scopes: tuple[str, ...] = ALL_SCOPES,
    webhook_url: str | None = None,
) -> dict[str, Any]:
    """A tourism partner (every scope unless told otherwise), made by ``make_partner``."""
    return await make_partner(client, kind="tourism", scopes=scopes, name=name, webhook_url=webhook_url)


def encode(body: Any) -> bytes:
    """A request body as a partner sends it (JSON; nothing for None)."""
    return b"" if body is None else orjson.dumps(body)


async def send_signed(
    client: Any,
    partner: dict[str, Any],
    method: str,
    path_qs: str,
    body: Any = None,
    *,
    secret: str | None = None,
    now: float | None = None,
    nonce: str | None = None,
    sent_body: bytes | None = None,
    sent_path: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Sign ``method path_qs body`` as ``partner`` and send it.

    ``sent_body``/``sent_path`` send something else than what was signed (tampering);
    ``headers`` override or, with an empty value, drop signed headers.
    """
    raw = encode(body)
    signed = signed_headers(
        partner["key"],
        secret or partner["secret"],
        method,
        path_qs,
        raw,
        now=time.time() if now is None else now,
        nonce=nonce,
    )
    for name, value in (headers or {}).items():
        if value:
            signed[name] = value
        else:
            signed.pop(name, None)
    if raw or sent_body is not None:
        signed["Content-Type"] = "application/json"
    return await client.request(
        method, sent_path or path_qs, content=raw if sent_body is None else sent_body, headers=signed
    )


def volunteer_body(id_number: str, **changes: Any) -> dict[str, Any]:
    """A volunteer-service record as a volunteer platform sends it: 3.5 hours ten days ago."""
    body = {
        "id_number": id_number,
        "name": "李四",
        "activity": "滇池湿地清洁",
        "organization": "昆明市志愿者协会",
        "started_at": (datetime.now(CST) - timedelta(days=10)).replace(microsecond=0).isoformat(),
        "hours": 3.5,
    }
    body.update(changes)
    return body


async def make_grant(
    client: Any, resident: dict[str, Any], partner: dict[str, Any], scopes: tuple[str, ...] = ("tier:read",)
) -> dict[str, Any]:
    """The resident grants ``scopes`` to the partner over HTTP: the 201 answer (``authorization_code``...)."""
    r = await client.post(
        f"{MP}/grants",
        json={"partner_id": partner["id"], "scopes": list(scopes)},
        headers=resident["headers"],
    )
    assert r.status_code == 201, r.text
    return r.json()


async def exchange(client: Any, partner: dict[str, Any], code: str) -> Any:
    """The partner exchanges an authorization code (signed request): the response, unchecked."""
    return await send_signed(
        client, partner, "POST", f"{PARTNER}/grants/exchange", {"authorization_code": code}
    )


async def granted_ref(
    client: Any, resident: dict[str, Any], partner: dict[str, Any], scopes: tuple[str, ...] = ("tier:read",)
) -> str:
    """The resident grants ``scopes`` to the partner, which exchanges the code: the partner's reference."""
    grant = await make_grant(client, resident, partner, scopes)
    r = await exchange(client, partner, grant["authorization_code"])
    assert r.status_code == 200, r.text
    return r.json()["partner_user_ref"]


async def read_tier(client: Any, partner: dict[str, Any], ref: str) -> Any:
    """The partner reads the tier of the resident it knows as ``ref``: the response, unchecked."""
    return await send_signed(client, partner, "GET", f"{PARTNER}/residents/{ref}/tier")


async def verify_pass(client: Any, partner: dict[str, Any], token: str, consume: bool = False) -> Any:
    """The partner verifies a pass token: the response, unchecked."""
    return await send_signed(
        client, partner, "POST", f"{PARTNER}/passes/verify", {"pass_token": token, "consume": consume}
    )
