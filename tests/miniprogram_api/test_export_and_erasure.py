"""GET /mp/export and DELETE /mp/me over HTTP: a copy of everything held about me, and the erasure of my account
followed by a fresh login and a new binding of the same ID number."""

from __future__ import annotations

import os
import uuid
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest

from miniprogram_api import my_data
from notices.models import Notification, SubscribeAllowance
from partners.models import Grant, WebhookDelivery
from passes.models import Scan
from redemptions.models import Redemption
from residents.models import ConsentEvent, Resident
from rights.models import Attachment, Objection, SelfReport
from server.models import RefreshToken
from tests import factories as f
from tests.conftest import valid_id_number

MP, ADMIN = f.MP, f.ADMIN
CONTRACT_KEYS = {
    "resident",
    "consents",
    "records",
    "scores",
    "score_history",
    "volunteer_hours",
    "scans",
    "redemptions",
    "coupons",
    "grants",
    "access_log",
    "objections",
    "repairs",
    "self_reports",
    "notifications",
    "generated_at",
}
NAME, PHONE = "张三丰", "13812345678"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + os.urandom(1024) + b"\xff\xd9"
HOOK = "https://partner.example.cn/hooks/xinyi"


@pytest.fixture
async def app(settings, tmp_path):
    """The app with an attachments folder of this test's own, to see what an erasure leaves on disk."""
    return f.new_app(settings.with_overrides(attachments_dir=tmp_path / "attachments"))


def new_openid() -> str:
    return f"o{uuid.uuid4().hex[:20]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client, openid: str) -> dict:
    r = await client.post(f"{MP}/auth/login", json={"code": f"mock:{openid}:{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 200, r.text
    return {**r.json(), "headers": bearer(r.json()["access_token"])}


async def consent(client, resident: dict) -> None:
    version = (await client.get(f"{MP}/consent", headers=resident["headers"])).json()["version"]
    r = await client.post(f"{MP}/consent", json={"version": version}, headers=resident["headers"])
    assert r.status_code == 200, r.text


async def bind(client, resident: dict, id_number: str) -> None:
    body = {"name": NAME, "id_number": id_number, "phone_code": f"phone:{PHONE}"}
    r = await client.post(f"{MP}/identity", json=body, headers=resident["headers"])
    assert r.status_code == 200, r.text


async def bound_resident(client, seed: int, openid: str | None = None) -> dict:
    """A resident logged in with ``openid``, consented, bound to ID number ``seed`` with a name and a phone."""
    resident = await login(client, openid or new_openid())
    await consent(client, resident)
    await bind(client, resident, valid_id_number(seed))
    return resident


async def export(client, resident: dict) -> dict:
    """My export, checked against the shape the OpenAPI document gives it."""
    r = await client.get(f"{MP}/export", headers=resident["headers"])
    assert r.status_code == 200, r.text
    my_data.ExportOut.model_validate(r.json())
    return r.json()


async def import_record(client, id_number: str, n: int) -> None:
    """A regulator imports a general administrative penalty for this ID number."""
    item = f.credit_record_item(id_number, n=n)
    r = await client.post(
        f"{ADMIN}/credit-records", json={"items": [item]}, headers=await client.admin_headers()
    )
    assert r.status_code == 200 and not r.json()["rejected"], r.text


async def upload(client, resident: dict) -> str:
    r = await client.post(
        f"{MP}/attachments", files={"file": ("evidence.jpg", JPEG, "image/jpeg")}, headers=resident["headers"]
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def files_on_disk(client) -> list[Path]:
    return [p for p in Path(client.app.ctx.settings.attachments_dir).rglob("*") if p.is_file()]


class TestExport:
    async def test_every_key_with_my_identity_masked_and_my_records_with_their_states(self, client):
        id_number = valid_id_number(501)
        resident = await bound_resident(client, 501)
        await import_record(client, id_number, 1)
        await f.blacklist(client, id_number)

        r = await client.get(f"{MP}/export", headers=resident["headers"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert CONTRACT_KEYS <= set(body)
        my_data.ExportOut.model_validate(body)
        me = (await client.get(f"{MP}/me", headers=resident["headers"])).json()
        assert {k: body["resident"][k] for k in me} == me
        assert body["resident"]["name_masked"] == "张**" and body["resident"]["phone_masked"] == "138****5678"
        assert body["resident"]["id_number_masked"] == id_number[:3] + "*" * 11 + id_number[-4:]
        for secret in (id_number, NAME, PHONE):
            assert secret not in r.text
        assert [c["action"] for c in body["consents"]] == ["accepted"]
        assert sorted((rec["category"], rec["status"]) for rec in body["records"]) == [
            ("admin_penalty", "active"),
            ("black_list", "active"),
        ]
        [score] = body["scores"]
        assert score["tier"] == "restricted" and {f["code"] for f in score["factors"]} >= {
            "BLACK_LIST_ACTIVE"
        }
        assert body["score_history"][0]["tier"] == "restricted"
        assert body["score_history"][-1]["reason"] == "identity_bound"
        assert "tier_changed" in {n["kind"] for n in body["notifications"]}
        assert body["generated_at"]

    async def test_my_scans_redemptions_coupons_grants_and_access_log_and_nobody_elses(self, client):
        shop = await f.make_shop(client)
        offer = await f.make_offer(client, shop)
        resident = await bound_resident(client, 502)
        scan = await f.make_scanned_pass(client, shop, 502, resident=resident)
        r = await f.redeem(client, shop["cashier"], scan["scan_id"], offer["id"], order_amount_fen=10000)
        assert r.status_code == 201, r.text
        partner = await f.tourism_partner(client)
        ref = await f.granted_ref(client, resident, partner, ("tier:read",))
        assert (await f.read_tier(client, partner, ref)).status_code == 200
        await f.make_scanned_pass(client, shop, 503)  # someone else, at the same counter

        body = await export(client, resident)
        [my_scan] = body["scans"]
        assert my_scan["id"] == scan["scan_id"] and my_scan["outcome"] == "accepted"
        assert my_scan["merchant"]["name"] == shop["name"] and my_scan["tier"] == "A"
        assert [b["offer_id"] for b in my_scan["benefits"]] == [offer["id"]]
        [redemption] = body["redemptions"]
        assert redemption["id"] == r.json()["id"] and redemption["status"] == "completed"
        assert redemption["discount_fen"] == 2000
        assert body["coupons"] == []
        [grant] = body["grants"]
        assert grant["partner"]["name"] == partner["name"] and grant["status"] == "active"
        assert sorted(e["actor_type"] for e in body["access_log"]) == ["merchant", "partner"]
        text = orjson.dumps(body).decode()
        for withheld in (partner["secret"], partner["key"], ref, resident["refresh_token"], "staff_id"):
            assert withheld not in text

    async def test_every_row_not_one_page(self, client, monkeypatch):
        monkeypatch.setattr(my_data, "BATCH", 2)
        resident = await bound_resident(client, 504)
        partner = await f.tourism_partner(client)
        for _ in range(5):
            await f.make_grant(client, resident, partner)
        assert len((await export(client, resident))["grants"]) == 5

    async def test_as_a_download(self, client):
        resident = await bound_resident(client, 505)
        r = await client.get(f"{MP}/export", params={"download": "1"}, headers=resident["headers"])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        disposition = r.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="xinyi-my-data-') and disposition.endswith(
            '.json"'
        )
        assert CONTRACT_KEYS <= set(r.json())
        plain = await client.get(f"{MP}/export", headers=resident["headers"])
        assert "content-disposition" not in plain.headers

    async def test_needs_a_login_but_no_consent(self, client):
        assert f.status_and_code(await client.get(f"{MP}/export")) == (401, "UNAUTHENTICATED")
        resident = await bound_resident(client, 506)
        assert (await client.delete(f"{MP}/consent", headers=resident["headers"])).status_code == 200
        body = await export(client, resident)
        assert [c["action"] for c in body["consents"]] == ["accepted", "withdrawn"]
        assert body["resident"]["consented"] is False and body["resident"]["identity_bound"] is True


class TestErasure:
    async def test_erased_then_a_fresh_login_binds_the_same_id_number_and_the_record_attaches_again(
        self, client
    ):
        openid, id_number = new_openid(), valid_id_number(511)
        partner = await f.tourism_partner(client, webhook_url=HOOK)
        resident = await bound_resident(client, 511, openid)
        old_id = resident["resident"]["id"]
        await f.blacklist(client, id_number)
        ref = await f.granted_ref(client, resident, partner, ("tier:read",))
        pending = await f.make_grant(client, resident, partner)  # never exchanged: the partner never knew it
        await WebhookDelivery.all().delete()

        r = await client.delete(f"{MP}/me", headers=resident["headers"])
        assert r.status_code == 204 and r.content == b""

        # The old session is over: access token, refresh token, another erasure.
        assert f.status_and_code(await client.get(f"{MP}/me", headers=resident["headers"])) == (
            401,
            "UNAUTHENTICATED",
        )
        refreshed = await client.post(f"{MP}/auth/refresh", json={"refresh_token": resident["refresh_token"]})
        assert f.status_and_code(refreshed) == (401, "UNAUTHENTICATED")
        assert (await client.delete(f"{MP}/me", headers=resident["headers"])).status_code == 401
        assert not await RefreshToken.filter(subject_id=old_id, revoked_at__isnull=True).exists()

        # The partner heard it once, for the grant it held, and may not read the tier any more.
        [delivery] = await WebhookDelivery.all()
        assert (str(delivery.partner_id), delivery.type) == (partner["id"], "grant.revoked")
        assert orjson.loads(delivery.body)["data"] == {"partner_user_ref": ref}
        assert f.status_and_code(await f.read_tier(client, partner, ref)) == (403, "GRANT_REQUIRED")
        assert {g.status for g in await Grant.filter(resident_id=old_id)} == {"revoked"}
        assert (await Grant.get(id=pending["id"])).status == "revoked"

        # The old row is a pseudonymous shell.
        shell = await Resident.get(id=old_id)
        assert shell.erased_at is not None
        for column in (
            "openid",
            "unionid",
            "name_enc",
            "id_number_enc",
            "id_number_hash",
            "phone_enc",
            "phone_hash",
            "consent_version",
        ):
            assert getattr(shell, column) is None, column
        assert [e.action for e in await ConsentEvent.filter(resident_id=old_id).order_by("id")] == [
            "accepted",
            "withdrawn",
        ]

        # The same WeChat user starts afresh: a new resident with nothing.
        again = await login(client, openid)
        assert again["resident"]["id"] != old_id
        assert again["resident"]["consented"] is False and again["resident"]["identity_bound"] is False
        fresh = await export(client, again)
        assert fresh["resident"]["id"] == again["resident"]["id"]
        assert fresh["resident"]["name_masked"] is None and fresh["resident"]["id_number_masked"] is None
        assert all(fresh[key] == [] for key in CONTRACT_KEYS - {"resident", "generated_at"}), fresh

        # ... and may bind the same ID number: the provincial black-list record attaches again.
        await consent(client, again)
        await bind(client, again, id_number)
        score = (await client.get(f"{MP}/score", headers=again["headers"])).json()
        assert score["tier"] == "restricted"
        records = (await client.get(f"{MP}/records", headers=again["headers"])).json()["items"]
        assert [(rec["category"], rec["status"]) for rec in records] == [("black_list", "active")]
        history = (await client.get(f"{MP}/score/history", headers=again["headers"])).json()["items"]
        assert [(h["tier"], h["reason"]) for h in history] == [("restricted", "identity_bound")]
        new_ref = await f.granted_ref(client, again, partner, ("tier:read",))
        assert new_ref != ref  # a new account is a new person to the partner
        assert (await f.read_tier(client, partner, new_ref)).json()["tier"] == "restricted"

    async def test_open_cases_are_withdrawn_and_uploads_notices_and_allowances_deleted(self, client):
        id_number = valid_id_number(512)
        resident = await bound_resident(client, 512)
        old_id = uuid.UUID(resident["resident"]["id"])
        await f.blacklist(client, id_number)
        [record] = (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"]
        evidence = await upload(client, resident)
        r = await client.post(
            f"{MP}/objections",
            json={"record_id": record["id"], "reason": "已履行完毕", "attachment_ids": [evidence]},
            headers=resident["headers"],
        )
        assert r.status_code == 201, r.text
        objection_id = r.json()["id"]
        r = await client.post(
            f"{MP}/self-reports",
            json={
                "category": "blood_donation",
                "title": "无偿献血 400 毫升",
                "description": "在昆明市血液中心无偿献血",
                "occurred_at": (date.today() - timedelta(days=3)).isoformat(),
                "attachment_ids": [evidence],
            },
            headers=resident["headers"],
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{MP}/notifications/subscriptions",
            json={"accepted": ["tier_changed"]},
            headers=resident["headers"],
        )
        assert r.status_code == 200, r.text
        assert len(files_on_disk(client)) == 1 and await Notification.filter(resident_id=old_id).exists()
        mine = await export(client, resident)
        assert [o["id"] for o in mine["objections"]] == [objection_id]
        assert [s["status"] for s in mine["self_reports"]] == ["under_review"]
        assert [a["id"] for a in mine["attachments"]] == [evidence]
        assert mine["subscribe_allowances"]["tier_changed"] == 1
        assert (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"][0][
            "status"
        ] == "disputed"

        assert (await client.delete(f"{MP}/me", headers=resident["headers"])).status_code == 204

        assert (await Objection.get(id=objection_id)).status == "withdrawn"
        assert [s.status for s in await SelfReport.filter(resident_id=old_id)] == ["withdrawn"]
        assert files_on_disk(client) == [] and not await Attachment.filter(resident_id=old_id).exists()
        assert not await Notification.filter(resident_id=old_id).exists()
        assert not await SubscribeAllowance.filter(resident_id=old_id).exists()
        listed = await client.get(
            f"{ADMIN}/objections", params={"status": "withdrawn"}, headers=await client.admin_headers()
        )
        assert [o["id"] for o in listed.json()["items"]] == [objection_id]

        # The record is back as the authority decided it, for whoever binds that number next.
        again = await bound_resident(client, 512)
        records = (await client.get(f"{MP}/records", headers=again["headers"])).json()["items"]
        assert [(rec["id"], rec["status"]) for rec in records] == [(record["id"], "active")]
        assert (await client.get(f"{MP}/score", headers=again["headers"])).json()["tier"] == "restricted"

    async def test_scans_and_redemptions_keep_their_rows_under_the_pseudonym(self, client):
        shop = await f.make_shop(client)
        offer = await f.make_offer(client, shop)
        scan = await f.make_scanned_pass(client, shop, 513)
        resident = scan["resident"]
        r = await f.redeem(client, shop["cashier"], scan["scan_id"], offer["id"], order_amount_fen=5000)
        assert r.status_code == 201, r.text

        assert (await client.delete(f"{MP}/me", headers=resident["headers"])).status_code == 204

        old_id = uuid.UUID(resident["resident"]["id"])
        assert (await Scan.get(id=scan["scan_id"])).resident_id == old_id
        assert (await Redemption.get(id=r.json()["id"])).resident_id == old_id
        listed = await client.get(f"{f.MERCHANT}/redemptions", headers=shop["headers"])
        [row] = listed.json()["items"]
        assert row["id"] == r.json()["id"] and row["resident_ref"] == scan["resident_ref"]

    async def test_needs_no_consent_and_no_identity(self, client):
        withdrawn = await bound_resident(client, 514)
        assert (await client.delete(f"{MP}/consent", headers=withdrawn["headers"])).status_code == 200
        assert (await client.delete(f"{MP}/me", headers=withdrawn["headers"])).status_code == 204
        unbound = await login(client, new_openid())
        assert (await client.delete(f"{MP}/me", headers=unbound["headers"])).status_code == 204
        assert (await client.get(f"{MP}/export", headers=unbound["headers"])).status_code == 401
        assert f.status_and_code(await client.delete(f"{MP}/me")) == (401, "UNAUTHENTICATED")
