"""Helpers of the partner tests: make a partner over the admin API, send signed requests."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from partners.signing import signed_headers

ADMIN = "/api/v1/admin"
PARTNER = "/api/v1/partner"
CST = timezone(timedelta(hours=8))


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


def encode(body: Any) -> bytes:
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
