"""``xinyi demo-walkthrough``: the product walked over HTTP as its users would, one line a step.

Against a running server with the demo data (``make run``, then ``make demo``): a new resident
logs in through the WeChat sandbox, consents, binds an identity and reads the score with its
reasons; gets a pass (its QR code written to a PNG file); the demo cashier scans it and redeems
an offer; the regulator registers a volunteer platform, which posts service hours; the score
moves; the resident reads who looked at their data; the regulator sees the scan. It stops with
exit code 1 at the first step that does not do what it should, so it doubles as a smoke test.
Every resident it makes is new (a random openid and ID number), so it can run again and again.
"""

from __future__ import annotations

import base64
import random
import secrets
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson

from partners.signing import signed_headers
from residents.identity import with_check_digit
from xinyi.demo import DEMO_ADMIN, DEMO_CASHIER

CST = timezone(timedelta(hours=8))


class StepFailed(Exception):
    """A step did not do what it should; the message says what happened instead."""


class Walk:
    def __init__(self, base: str, out: Path, *, echo: Callable[[str], None] = print):
        self.http = httpx.Client(base_url=base.rstrip("/"), timeout=30)
        self.out = out
        self.echo = echo
        self.count = 0

    def step(self, title: str, result: str) -> None:
        self.count += 1
        self.echo(f"  ok {self.count:>2}  {title:<42} {result}")

    def call(self, method: str, path: str, *, expect: int, token: str | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            r = self.http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise StepFailed(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if r.status_code != expect:
            raise StepFailed(f"{method} {path}: expected {expect}, got {r.status_code}: {r.text[:400]}")
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r.content


def new_id_number() -> str:
    """A valid GB 11643 number of a Lijiang-born resident (random birth date and sequence)."""
    born = datetime(1960, 1, 1) + timedelta(days=random.randrange(0, 40 * 365))
    return with_check_digit(f"530702{born:%Y%m%d}{random.randrange(0, 1000):03d}")


def walk(base: str, out: Path, *, echo: Callable[[str], None] = print) -> None:
    w = Walk(base, out, echo=echo)
    w.call("GET", "/healthz", expect=200)
    w.step("the server answers", base)

    openid = f"walk-{secrets.token_hex(4)}"
    login = w.call("POST", "/api/v1/mp/auth/login", json={"code": f"mock:{openid}:1"}, expect=200)
    resident = login["access_token"]
    w.step(
        "resident logs in through the WeChat sandbox", f"openid {openid}, resident {login['resident']['id']}"
    )

    terms = w.call("GET", "/api/v1/mp/consent", token=resident, expect=200)
    w.call("POST", "/api/v1/mp/consent", token=resident, json={"version": terms["version"]}, expect=200)
    w.step("resident accepts the privacy terms", f"version {terms['version']}")

    name, id_number = "和晓明", new_id_number()
    bound = w.call(
        "POST", "/api/v1/mp/identity", token=resident, json={"name": name, "id_number": id_number}, expect=200
    )
    w.step("resident binds a real-name identity", f"{bound['id_number_masked']} (stored encrypted)")

    score = w.call("GET", "/api/v1/mp/score", token=resident, expect=200)
    reasons = ", ".join(f"{f['label']} {f['points']:+d}" for f in score["factors"]) or "no records yet"
    w.step("resident reads the score and its reasons", f"{score['score']} ({score['tier']}): {reasons}")

    issued = w.call("POST", "/api/v1/mp/pass", token=resident, expect=200)
    png = base64.b64decode(issued["qr_png_base64"]) if issued.get("qr_png_base64") else None
    if not png or not png.startswith(b"\x89PNG"):
        raise StepFailed("POST /api/v1/mp/pass: no QR PNG in the answer")
    out.mkdir(parents=True, exist_ok=True)
    qr = out / f"pass-{openid}.png"
    qr.write_bytes(png)
    w.step("resident shows a credit pass", f"QR code written to {qr}")

    cashier = w.call(
        "POST",
        "/api/v1/merchant/auth/login",
        json={"username": DEMO_CASHIER[0], "password": DEMO_CASHIER[1]},
        expect=200,
    )
    store_id = cashier["staff"]["store_ids"][0]
    scan = w.call(
        "POST",
        "/api/v1/merchant/scans",
        token=cashier["access_token"],
        json={"pass_token": issued["token"], "store_id": store_id},
        headers={"Idempotency-Key": uuid.uuid4().hex},
        expect=201,
    )
    if not scan["benefits"]:
        raise StepFailed(f"the scan offers no benefit to a {scan['tier']} resident: is the demo data seeded?")
    # A discount shows the money; any benefit will do when the tier allows no discount.
    benefit = next((b for b in scan["benefits"] if b["type"] == "percent_off"), scan["benefits"][0])
    w.step(
        "cashier scans the pass",
        f"tier {scan['tier']}, {len(scan['benefits'])} benefit(s): {benefit['label']}",
    )

    redemption = w.call(
        "POST",
        "/api/v1/merchant/redemptions",
        token=cashier["access_token"],
        json={"scan_id": scan["scan_id"], "offer_id": benefit["offer_id"], "order_amount_fen": 12800},
        headers={"Idempotency-Key": uuid.uuid4().hex},
        expect=201,
    )
    w.step(
        "cashier redeems the benefit",
        f"redemption {redemption['id']}, discount {redemption['discount_fen']} fen",
    )

    admin = w.call(
        "POST",
        "/api/v1/admin/auth/login",
        json={"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]},
        expect=200,
    )["access_token"]
    partner = w.call(
        "POST",
        "/api/v1/admin/partners",
        token=admin,
        json={"name": f"演示志愿平台 {openid}", "kind": "volunteer", "scopes": ["volunteer:write"]},
        expect=201,
    )
    w.step("regulator registers a volunteer platform", f"X-Partner-Key {partner['key']}")

    hours = {
        "id_number": id_number,
        "name": name,
        "activity": "玉龙雪山景区垃圾清运",
        "organization": "丽江市志愿者协会",
        "started_at": (datetime.now(CST) - timedelta(days=3)).replace(microsecond=0).isoformat(),
        "hours": 6,
    }
    path = f"/api/v1/partner/volunteer-hours/{openid}-1"
    body = orjson.dumps(hours)
    headers = {
        "Content-Type": "application/json",
        **signed_headers(partner["key"], partner["secret"], "PUT", path, body),
    }
    w.call("PUT", path, content=body, headers=headers, expect=201)
    w.step("the platform posts 6 volunteer hours (signed)", f"PUT {path}")

    after = w.call("GET", "/api/v1/mp/score", token=resident, expect=200)
    if after["score"] <= score["score"]:
        raise StepFailed(
            f"the score did not move after the volunteer hours: {score['score']} -> {after['score']}"
        )
    w.step("the score moves", f"{score['score']} ({score['tier']}) -> {after['score']} ({after['tier']})")

    log = w.call("GET", "/api/v1/mp/access-log", token=resident, expect=200)
    if not log["items"]:
        raise StepFailed("the resident's access log is empty after a merchant scanned the pass")
    seen = log["items"][0]
    w.step("resident reads who looked at their data", f"{seen['actor_name']} ({seen['purpose']})")

    scans = w.call("GET", "/api/v1/admin/scans", token=admin, params={"limit": 5}, expect=200)
    if not any(s["id"] == scan["scan_id"] for s in scans["items"]):
        raise StepFailed("the regulator's scan list does not show the scan")
    w.step("regulator sees the scan", f"{len(scans['items'])} latest scans, this one among them")


def main(base: str, out: Path) -> int:
    print(f"walking through xinyi at {base}:")
    try:
        walk(base, out)
    except StepFailed as exc:
        print(f"  FAILED: {exc}", file=sys.stderr)
        return 1
    print("every step passed")
    return 0
