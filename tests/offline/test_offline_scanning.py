"""Offline scanning (issue 18), over HTTP as a store's device with no network would use it.

The device side is the reference verifier (tools/offline_verifier.py): it loads the bundle
against the JWK Set and verifies passes with no server; the server side is the upload.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from passes.exceptions import PassInvalid
from passes.keys import rotate_pass_key
from passes.tokens import PassVerifyKey, verify_pass_token
from tests import factories as f

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import offline_verifier as device  # noqa: E402

M = f.MERCHANT


async def jwks(client: Any) -> dict[str, Any]:
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    return r.json()


async def fetch_bundle(client: Any, headers: dict[str, str], store_id: str) -> Any:
    return await client.get(f"{M}/offline-bundle", params={"store_id": store_id}, headers=headers)


async def load(client: Any, headers: dict[str, str], store_id: str) -> device.Bundle:
    r = await fetch_bundle(client, headers, store_id)
    assert r.status_code == 200, r.text
    return device.load_bundle(r.json()["bundle"], await jwks(client))


def item(seq: int, token: str, *, at: datetime | None = None, redemptions: list[dict] | None = None) -> dict:
    return {
        "seq": seq,
        "pass_token": token,
        "scanned_at": (at or datetime.now(UTC)).isoformat(),
        "redemptions": redemptions or [],
    }


async def upload(
    client: Any, headers: dict[str, str], store_id: str, device_id: str, items: list[dict]
) -> Any:
    return await client.post(
        f"{M}/offline-scans",
        json={"store_id": store_id, "device_id": device_id, "items": items},
        headers=headers,
    )


async def results(
    client: Any, headers: dict[str, str], store_id: str, device_id: str, items: list[dict]
) -> list:
    r = await upload(client, headers, store_id, device_id, items)
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def ledger(client: Any, m: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.get(f"{M}/redemptions", headers=m["headers"], params={"limit": 200})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def scans(client: Any, m: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.get(f"{M}/scans", headers=m["headers"], params={"limit": 200})
    assert r.status_code == 200, r.text
    return r.json()["items"]


class TestBundle:
    async def test_a_bundle_carries_the_store_its_offers_the_keys_and_lives_the_setting(self, client):
        m = await f.make_shop(client)
        offer = await f.make_offer(
            client,
            m,
            type="amount_off",
            value=500,
            total_stock=3,
            per_resident_limit=1,
            per_resident_period="day",
        )
        r = await fetch_bundle(client, m["cashier"], f.store(m))
        assert r.status_code == 200, r.text
        body = r.json()
        lifetime = datetime.fromisoformat(body["expires_at"]).timestamp() - time.time()
        assert 43200 - 60 < lifetime <= 43200
        bundle = device.load_bundle(body["bundle"], await jwks(client))
        assert bundle.store_id == f.store(m) and bundle.expires_at - bundle.issued_at == 43200
        [terms] = bundle.offers
        assert (terms["offer_id"], terms["min_tier"], terms["remaining"], terms["per_resident_limit"]) == (
            offer["id"],
            "A",
            3,
            1,
        )
        assert set(bundle.keys) <= {k["kid"] for k in (await jwks(client))["keys"]}

    async def test_a_bundle_tampered_by_one_byte_is_refused(self, client):
        m = await f.make_shop(client)
        token = (await fetch_bundle(client, m["cashier"], f.store(m))).json()["bundle"]
        header, payload, signature = token.split(".")
        i = len(payload) // 2
        tampered = f"{header}.{payload[:i]}{'A' if payload[i] != 'A' else 'B'}{payload[i + 1 :]}.{signature}"
        keys = await jwks(client)
        device.load_bundle(token, keys)  # the genuine one loads
        with pytest.raises(device.BundleInvalid):
            device.load_bundle(tampered, keys)

    async def test_a_bundle_is_never_a_pass_nor_a_pass_a_bundle(self, client):
        m = await f.make_shop(client)
        resident = await f.make_resident(client, 101)
        bundle_token = (await fetch_bundle(client, m["cashier"], f.store(m))).json()["bundle"]
        pass_token = (await f.issue_pass(client, resident["headers"]))["token"]
        keys = await jwks(client)
        verify_keys = {k["kid"]: PassVerifyKey.from_jwk(k) for k in keys["keys"]}
        with pytest.raises(PassInvalid):
            verify_pass_token(bundle_token, keys=verify_keys, now=int(time.time()))
        with pytest.raises(device.BundleInvalid):
            device.load_bundle(pass_token, keys)
        bundle = device.load_bundle(bundle_token, keys)
        assert device.verify_pass(bundle, bundle_token).reason == "PASS_INVALID"
        r = await f.make_scan(client, m["cashier"], bundle_token, f.store(m))
        assert r.status_code == 400 and f.error_code(r) == "PASS_INVALID"

    async def test_staff_without_the_store_get_403(self, client):
        m = await f.make_shop(client, stores=2)  # the cashier works in the first store only
        other = await f.make_shop(client, name="另一家")
        for store_id in (f.store(m, 1), f.store(other)):
            r = await fetch_bundle(client, m["cashier"], store_id)
            assert r.status_code == 403 and f.error_code(r) == "STORE_NOT_YOURS"
            r = await upload(client, m["cashier"], store_id, "pos-1", [item(0, "x.y.z")])
            assert r.status_code == 403 and f.error_code(r) == "STORE_NOT_YOURS"
        r = await client.get(f"{M}/offline-bundle", params={"store_id": f.store(m)})
        assert r.status_code == 401

    async def test_bad_input_is_422(self, client):
        m = await f.make_shop(client)
        r = await client.get(f"{M}/offline-bundle", params={"store_id": "nope"}, headers=m["cashier"])
        assert r.status_code == 422
        r = await upload(client, m["cashier"], f.store(m), "pos-1", [{"seq": 1, "pass_token": "t"}])
        assert r.status_code == 422 and "items.0.scanned_at" in str(r.json()["error"]["fields"])


class TestRevocation:
    async def test_a_black_listed_residents_pass_issued_before_the_listing_is_refused_with_a_later_bundle(
        self, client, id_number
    ):
        m = await f.make_shop(client)
        await f.make_offer(client, m)
        listed, other = await f.make_resident(client, 111), await f.make_resident(client, 112)
        old_pass = (await f.issue_pass(client, listed["headers"]))["token"]
        other_pass = (await f.issue_pass(client, other["headers"]))["token"]
        before = await load(client, m["cashier"], f.store(m))
        assert device.verify_pass(before, old_pass).accepted  # not listed yet

        await f.blacklist(client, id_number(111))
        after = await load(client, m["cashier"], f.store(m))
        verdict = device.verify_pass(after, old_pass)
        assert (verdict.outcome, verdict.reason, verdict.tier) == ("refused", "PASS_REVOKED", "A")
        # Others are not touched, and a pass issued after the listing tells the truth: no benefit.
        assert (
            device.verify_pass(after, other_pass).accepted and device.verify_pass(after, other_pass).benefits
        )
        fresh = device.verify_pass(after, (await f.issue_pass(client, listed["headers"]))["token"])
        assert (fresh.outcome, fresh.tier, fresh.benefits) == ("accepted", "restricted", [])
        # The server judges the upload the same way.
        [result] = await results(client, m["cashier"], f.store(m), "pos-1", [item(0, old_pass)])
        assert (result["outcome"], result["reason"]) == ("refused", "PASS_REVOKED")

    async def test_a_pass_signed_before_a_key_rotation_stays_good_offline(self, client):
        m = await f.make_shop(client)
        resident = await f.make_resident(client, 114)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        await rotate_pass_key(client.app.ctx.cipher)
        bundle = await load(client, m["cashier"], f.store(m))
        assert device.verify_pass(bundle, token).accepted
        [result] = await results(client, m["cashier"], f.store(m), "pos-1", [item(0, token)])
        assert result["outcome"] == "accepted"

    async def test_a_pass_is_good_offline_for_its_offline_life_only(self, client):
        m = await f.make_shop(client)
        resident = await f.make_resident(client, 113)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        bundle = await load(client, m["cashier"], f.store(m))
        claims = f.b64url_json(token.split(".")[1])
        assert claims["o"] == 43200
        assert device.verify_pass(bundle, token, now=claims["iat"] + 6 * 3600).accepted  # long after exp
        assert device.verify_pass(bundle, token, now=claims["iat"] + 43200 + 60).reason in {
            "PASS_EXPIRED",
            "BUNDLE_EXPIRED",
        }
        late = datetime.fromtimestamp(claims["iat"] + 43200 + 60, UTC)
        [result] = await results(client, m["cashier"], f.store(m), "pos-1", [item(0, token, at=late)])
        assert (result["outcome"], result["reason"]) == ("refused", "PASS_EXPIRED")
        garbage = await results(client, m["cashier"], f.store(m), "pos-1", [item(1, token[:-3] + "AAA")])
        assert (garbage[0]["outcome"], garbage[0]["reason"]) == ("refused", "PASS_INVALID")


class TestUpload:
    async def test_two_devices_that_scanned_the_same_pass_exactly_one_is_accepted(self, client):
        m = await f.make_shop(client)
        resident = await f.make_resident(client, 121)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        bundle = await load(client, m["cashier"], f.store(m))
        gate, bus = device.Device(bundle, "gate"), device.Device(bundle, "bus")
        assert gate.scan(token).accepted and bus.scan(token).accepted  # neither can know offline
        assert gate.scan(token).reason == "PASS_ALREADY_USED"  # but one device knows its own

        first = await results(client, m["cashier"], f.store(m), "gate", [item(0, token)])
        second = await results(client, m["cashier"], f.store(m), "bus", [item(0, token)])
        assert first[0]["outcome"] == "accepted" and first[0]["scan_id"]
        assert (second[0]["outcome"], second[0]["reason"]) == ("duplicate", "PASS_ALREADY_USED")
        logged = await scans(client, m)
        assert sorted((s["outcome"], s["reason"]) for s in logged) == [
            ("accepted", None),
            ("refused", "PASS_ALREADY_USED"),
        ]
        r = await client.get(
            f"{f.ADMIN}/signals", params={"kind": "offline_duplicate"}, headers=await client.admin_headers()
        )
        assert r.status_code == 200, r.text
        [signal] = r.json()["items"]
        assert (signal["store_id"], signal["count"]) == (f.store(m), 1)

    async def test_a_pass_used_online_first_is_a_duplicate_offline(self, client):
        m = await f.make_shop(client)
        resident = await f.make_resident(client, 122)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await f.make_scan(client, m["cashier"], token, f.store(m))).status_code == 201
        [result] = await results(client, m["cashier"], f.store(m), "bus", [item(0, token)])
        assert result["outcome"] == "duplicate"
        # ...and a pass uploaded first cannot be scanned online afterwards.
        other = (await f.issue_pass(client, resident["headers"]))["token"]
        assert (await results(client, m["cashier"], f.store(m), "bus", [item(1, other)]))[0][
            "outcome"
        ] == "accepted"
        r = await f.make_scan(client, m["cashier"], other, f.store(m))
        assert r.status_code == 409 and f.error_code(r) == "PASS_ALREADY_USED"

    async def test_two_devices_uploading_the_same_pass_at_once_exactly_one_is_accepted(self, client):
        m = await f.make_shop(client)
        offer = await f.make_offer(client, m, type="amount_off", value=300)
        resident = await f.make_resident(client, 123)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        wanted = [{"offer_id": offer["id"], "order_amount_fen": 1000}]
        answers = await asyncio.gather(
            *(
                upload(client, m["cashier"], f.store(m), f"pos-{i}", [item(0, token, redemptions=wanted)])
                for i in range(4)
            )
        )
        outcomes = sorted(r.json()["results"][0]["outcome"] for r in answers)
        assert outcomes == ["accepted", "duplicate", "duplicate", "duplicate"]
        assert len(await ledger(client, m)) == 1

    async def test_a_stock_1_offer_redeemed_online_and_offline_gives_one_redemption_and_one_over_limit(
        self, client
    ):
        m = await f.make_shop(client)
        offer = await f.make_offer(client, m, type="amount_off", value=500, total_stock=1)
        offline_resident = await f.make_resident(client, 131)
        offline_pass = (await f.issue_pass(client, offline_resident["headers"]))["token"]
        bundle = await load(client, m["cashier"], f.store(m))
        verdict = device.verify_pass(bundle, offline_pass)
        assert [b["offer_id"] for b in verdict.benefits] == [offer["id"]]  # the device grants it offline
        scanned_at = datetime.now(UTC)

        online = await f.make_scanned_pass(client, m, 132)  # meanwhile at the counter, online
        assert (
            await f.redeem(client, m["cashier"], online["scan_id"], offer["id"], order_amount_fen=800)
        ).status_code == 201

        wanted = [{"offer_id": offer["id"], "order_amount_fen": 800}]
        [result] = await results(
            client,
            m["cashier"],
            f.store(m),
            "bus",
            [item(0, offline_pass, at=scanned_at, redemptions=wanted)],
        )
        assert (result["outcome"], result["reason"], result["redemption_ids"]) == (
            "over_limit",
            "OUT_OF_STOCK",
            [],
        )
        assert result["scan_id"]  # the scan itself counts
        assert len(await ledger(client, m)) == 1
        assert (await f.offer_state(client, m, offer["id"]))["redeemed_count"] == 1
        # The owner sees what is left to settle.
        r = await client.get(f"{M}/offline-scans", params={"outcome": "over_limit"}, headers=m["headers"])
        assert r.status_code == 200, r.text
        [listed] = r.json()["items"]
        assert (listed["seq"], listed["device_id"], listed["redemptions"][0]["reason"]) == (
            0,
            "bus",
            "OUT_OF_STOCK",
        )

    async def test_per_resident_limits_hold_across_online_and_offline(self, client):
        m = await f.make_shop(client)
        offer = await f.make_offer(
            client, m, type="amount_off", value=500, per_resident_limit=1, per_resident_period="day"
        )
        resident = await f.make_resident(client, 133)
        offline_pass = (await f.issue_pass(client, resident["headers"]))["token"]
        scanned = await f.make_scanned_pass(client, m, 0, resident=resident)
        assert (await f.redeem(client, m["cashier"], scanned["scan_id"], offer["id"])).status_code == 201
        wanted = [{"offer_id": offer["id"]}]
        [result] = await results(
            client, m["cashier"], f.store(m), "bus", [item(0, offline_pass, redemptions=wanted)]
        )
        assert (result["outcome"], result["reason"]) == ("over_limit", "LIMIT_REACHED")
        assert len(await ledger(client, m)) == 1

    async def test_an_accepted_offline_redemption_lands_in_the_ledger_at_the_time_it_happened(self, client):
        m = await f.make_shop(client)
        offer = await f.make_offer(client, m, type="amount_off", value=500, total_stock=5)
        resident = await f.make_resident(client, 134)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        at = datetime.now(UTC) + timedelta(
            minutes=5
        )  # scanned in the valley (the pass's exp is long past)...
        client.app.ctx.clock = lambda: datetime.now(UTC) + timedelta(hours=3)  # ...uploaded in town
        wanted = [{"offer_id": offer["id"], "order_amount_fen": 3000}]
        [result] = await results(
            client, m["cashier"], f.store(m), "bus", [item(7, token, at=at, redemptions=wanted)]
        )
        assert result["outcome"] == "accepted" and len(result["redemption_ids"]) == 1
        [redemption] = await ledger(client, m)
        assert redemption["id"] == result["redemption_ids"][0] and redemption["discount_fen"] == 500
        assert abs(datetime.fromisoformat(redemption["created_at"]) - at) < timedelta(seconds=1)
        [scan] = await scans(client, m)
        assert scan["id"] == result["scan_id"]
        assert abs(datetime.fromisoformat(scan["created_at"]) - at) < timedelta(seconds=1)

    async def test_a_replayed_upload_changes_nothing(self, client):
        m = await f.make_shop(client)
        offer = await f.make_offer(client, m, type="amount_off", value=500, total_stock=1)
        passes = [
            (await f.issue_pass(client, (await f.make_resident(client, seed))["headers"]))["token"]
            for seed in (141, 142)
        ]
        wanted = [{"offer_id": offer["id"], "order_amount_fen": 900}]
        items = [
            item(0, passes[0], redemptions=wanted),
            item(1, passes[1], redemptions=wanted),
            item(2, passes[0]),
        ]
        first = await results(client, m["cashier"], f.store(m), "pos-9", items)
        assert [r["outcome"] for r in first] == ["accepted", "over_limit", "duplicate"]
        state = (await ledger(client, m), await scans(client, m), await f.offer_state(client, m, offer["id"]))

        again = await results(client, m["cashier"], f.store(m), "pos-9", items)
        assert again == first
        assert (
            await ledger(client, m),
            await scans(client, m),
            await f.offer_state(client, m, offer["id"]),
        ) == state
        # The same sequence numbers from another device are that device's own items.
        other = await results(client, m["cashier"], f.store(m), "pos-10", items[:1])
        assert other[0]["outcome"] == "duplicate"

    async def test_the_same_upload_sent_twice_at_once_is_done_once(self, client):
        m = await f.make_shop(client)
        offer = await f.make_offer(client, m, type="amount_off", value=300)
        resident = await f.make_resident(client, 124)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        items = [item(0, token, redemptions=[{"offer_id": offer["id"], "order_amount_fen": 1000}])]
        answers = await asyncio.gather(
            *(upload(client, m["cashier"], f.store(m), "pos-1", items) for _ in range(3))
        )
        assert {r.status_code for r in answers} <= {200, 409}
        bodies = [r.json()["results"] for r in answers if r.status_code == 200]
        assert bodies and all(b == bodies[0] for b in bodies) and bodies[0][0]["outcome"] == "accepted"
        assert len(await ledger(client, m)) == 1 and len(await scans(client, m)) == 1

    async def test_a_scan_time_in_the_future_is_refused(self, client):
        m = await f.make_shop(client)
        resident = await f.make_resident(client, 151)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        at = datetime.now(UTC) + timedelta(hours=1)
        [result] = await results(client, m["cashier"], f.store(m), "pos-1", [item(0, token, at=at)])
        assert (result["outcome"], result["reason"]) == ("refused", "SCAN_TIME_INVALID")
