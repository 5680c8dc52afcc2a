"""信易批 over HTTP: an approval office records commitments on a resident's grant; fulfilled, broken, refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from commitments import tasks as commitment_tasks
from tests import factories as f
from tests.factories import ADMIN, MP, PARTNER, send_signed
from tests.partners.webhook_receiver import Receiver

FAST = {
    "webhook_worker": True,
    "webhook_backoff_base_s": 0.05,
    "webhook_backoff_max_s": 0.2,
    "webhook_poll_s": 0.05,
    "webhook_timeout_s": 2.0,
}


async def approval_office(client, webhook_url=None):
    return await f.make_partner(
        client,
        kind="approval_office",
        scopes=("commitment:write",),
        name="昆明市政务服务中心",
        webhook_url=webhook_url,
    )


def commitment_body(ref: str, *, due_at: datetime, external_id: str = "matter-1", **changes):
    body = {
        "partner_user_ref": ref,
        "matter": "个体工商户设立登记",
        "missing_items": ["经营场所使用证明"],
        "due_at": due_at.isoformat(),
        "external_id": external_id,
    }
    return {**body, **changes}


async def accept(client, office, body):
    return await send_signed(client, office, "POST", f"{PARTNER}/commitments", body)


async def my_commitments(client, resident):
    r = await client.get(f"{MP}/commitments", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def score(client, resident):
    r = await client.get(f"{MP}/score", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()


class TestGreenChannel:
    async def test_a_commitment_fulfilled_in_time(self, client):
        office = await approval_office(client)
        resident = await f.make_resident(client, 501)
        ref = await f.granted_ref(client, resident, office, ("commitment:write",))
        body = commitment_body(ref, due_at=datetime.now(UTC) + timedelta(days=30))

        r = await accept(client, office, body)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["status"] == "pending" and created["id"]
        again = await accept(client, office, body)  # the office retries: the same commitment
        assert again.status_code == 200 and again.json()["id"] == created["id"]
        other = await accept(client, office, {**body, "matter": "另一个事项"})
        assert f.status_and_code(other) == (409, "IDEMPOTENCY_CONFLICT")

        shown = await my_commitments(client, resident)
        assert [(c["id"], c["status"], c["missing_items"]) for c in shown] == [
            (created["id"], "pending", ["经营场所使用证明"])
        ]
        assert shown[0]["due_at"]

        r = await send_signed(client, office, "POST", f"{PARTNER}/commitments/{created['id']}/fulfil")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "fulfilled"
        assert (await my_commitments(client, resident))[0]["status"] == "fulfilled"

        mine = await score(client, resident)
        assert (mine["score"], mine["tier"]) == (600, "A")  # nothing was held against them
        assert not [fa for fa in mine["factors"] if fa["code"].startswith("COMMITMENT_BREACH")]

    async def test_a_low_tier_resident_is_refused_a_green_channel(self, client, id_number):
        office = await approval_office(client)
        resident = await f.make_resident(client, 502)
        r = await client.post(
            f"{ADMIN}/credit-records",
            json={"items": [f.credit_record_item(id_number(502), n=1, severity="general")]},
            headers=await client.admin_headers(),
        )
        assert r.status_code == 200 and r.json()["created"] == 1, r.text
        assert (await score(client, resident))["tier"] == "B"  # below the default floor (A)
        ref = await f.granted_ref(client, resident, office, ("commitment:write",))

        r = await accept(client, office, commitment_body(ref, due_at=datetime.now(UTC) + timedelta(days=30)))
        assert f.status_and_code(r) == (403, "TIER_TOO_LOW")
        assert await my_commitments(client, resident) == []

    async def test_no_grant_no_commitment(self, client):
        office = await approval_office(client)
        resident = await f.make_resident(client, 503)
        await f.granted_ref(client, resident, await f.tourism_partner(client), ("tier:read",))
        r = await accept(
            client, office, commitment_body("0" * 32, due_at=datetime.now(UTC) + timedelta(days=1))
        )
        assert f.status_and_code(r) == (403, "GRANT_REQUIRED")


class TestBrokenCommitment:
    @pytest.fixture
    async def receiver(self):
        r = await Receiver().start()
        yield r
        await r.stop()

    async def test_left_past_its_deadline_it_becomes_a_breach_record_and_everyone_is_told(
        self, settings, receiver, monkeypatch
    ):
        monkeypatch.setattr(commitment_tasks, "CHECK_EVERY_S", 0.05)  # serve's check, quicker
        async with f.started_client(f.new_app(settings.with_overrides(**FAST))) as client:
            office = await approval_office(client, webhook_url=receiver.url)
            resident = await f.make_resident(client, 504)
            ref = await f.granted_ref(client, resident, office, ("commitment:write",))
            before = await score(client, resident)
            assert (before["score"], before["tier"]) == (600, "A")

            due_at = datetime.now(UTC) + timedelta(seconds=1.5)
            r = await accept(client, office, commitment_body(ref, due_at=due_at, external_id="late-1"))
            assert r.status_code == 201, r.text
            commitment_id = r.json()["id"]

            deadline = asyncio.get_running_loop().time() + 15
            while (await my_commitments(client, resident))[0]["status"] != "broken":
                assert asyncio.get_running_loop().time() < deadline, "the commitment never broke"
                await asyncio.sleep(0.1)

            shown = (await my_commitments(client, resident))[0]
            assert shown["broken_at"] and shown["record_id"]
            records = (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"]
            breach = next(rec for rec in records if rec["id"] == shown["record_id"])
            assert (breach["category"], breach["severity"], breach["status"]) == (
                "commitment_breach",
                "general",  # the default ruleset's breach severity
                "active",
            )
            after = await score(client, resident)
            assert after["score"] == before["score"] - 40 and after["tier"] == "B"
            assert any(fa["code"] == "COMMITMENT_BREACH_GENERAL" for fa in after["factors"])

            inbox = (await client.get(f"{MP}/notifications", headers=resident["headers"])).json()["items"]
            assert "commitment_broken" in [n["kind"] for n in inbox]

            def told(rcv) -> bool:
                return any(q.json["type"] == "commitment.broken" for q in rcv.acknowledged)

            await receiver.wait_for(told)
            event = next(q for q in receiver.acknowledged if q.json["type"] == "commitment.broken")
            assert event.signature_ok(office["secret"])
            assert event.json["data"]["id"] == commitment_id
            assert event.json["data"]["partner_user_ref"] == ref
            assert event.json["data"]["external_id"] == "late-1"

            r = await send_signed(client, office, "POST", f"{PARTNER}/commitments/{commitment_id}/fulfil")
            assert f.status_and_code(r) == (409, "COMMITMENT_BROKEN")  # too late
