"""Attachments and self-reports over HTTP: files judged from their bytes, kept outside the database and
given back only to their owner and regulators; a self-report approved becomes a commendation record."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from tortoise import connections

from credit.scores import active_ruleset, local_today
from rights.attachments import MAX_BYTES
from server.storage import LocalBlobStore, new_key
from tests import factories as f

MP, ADMIN = f.MP, f.ADMIN
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + os.urandom(2048) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(1024)
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"This program cannot be run in DOS mode." * 10
)


@pytest.fixture
async def app(settings, tmp_path):
    """The app with an attachments folder of this test's own, to see what lands on disk."""
    return f.new_app(settings.with_overrides(attachments_dir=tmp_path / "attachments"))


def stored_files(client) -> list[Path]:
    return [p for p in Path(client.app.ctx.settings.attachments_dir).rglob("*") if p.is_file()]


async def upload(client, resident, data: bytes, name: str = "evidence.jpg", declared: str = "image/jpeg"):
    return await client.post(
        f"{MP}/attachments", files={"file": (name, data, declared)}, headers=resident["headers"]
    )


async def uploaded(client, resident, data: bytes = JPEG, name: str = "evidence.jpg") -> dict:
    r = await upload(client, resident, data, name)
    assert r.status_code == 201, r.text
    return r.json()


def report_body(attachment_ids: list[str], **changes) -> dict:
    body = {
        "category": "blood_donation",
        "title": "无偿献血 400 毫升",
        "description": "在昆明市血液中心无偿献血 400 毫升",
        "occurred_at": (date.today() - timedelta(days=3)).isoformat(),
        "attachment_ids": attachment_ids,
    }
    return {**body, **changes}


async def report(client, resident, attachment_ids: list[str]) -> dict:
    r = await client.post(f"{MP}/self-reports", json=report_body(attachment_ids), headers=resident["headers"])
    assert r.status_code == 201, r.text
    return r.json()


async def decide(client, report_id: str, outcome: str, **extra):
    return await client.post(
        f"{ADMIN}/self-reports/{report_id}/decision",
        json={"outcome": outcome, "note": "经核实", **extra},
        headers=await client.admin_headers(),
    )


async def score(client, resident) -> int:
    r = await client.get(f"{MP}/score", headers=resident["headers"])
    assert r.status_code == 200, r.text
    return r.json()["score"]


async def commendation_points() -> int:
    return (await active_ruleset(connections.get("default"))).commendation.points


class TestUploadAttachment:
    @pytest.mark.parametrize(
        ("data", "name", "content_type"),
        [
            (JPEG, "photo.jpg", "image/jpeg"),
            (PNG, "award.png", "image/png"),
            (PDF, "证书.pdf", "application/pdf"),
        ],
    )
    async def test_a_file_is_read_back_by_its_owner_and_a_regulator(self, client, data, name, content_type):
        owner = await f.make_resident(client, 401)
        created = await uploaded(client, owner, data, name)
        assert created["content_type"] == content_type and created["size"] == len(data)
        assert [p.read_bytes() for p in stored_files(client)] == [data]
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in stored_files(client))

        mine = await client.get(f"{MP}/attachments/{created['id']}", headers=owner["headers"])
        assert mine.status_code == 200 and mine.content == data
        assert mine.headers["content-type"] == content_type
        assert mine.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in mine.headers["content-security-policy"]
        disposition = "attachment" if content_type == "application/pdf" else "inline"
        assert mine.headers["content-disposition"].startswith(disposition + ";")

        regulator = await client.get(
            f"{ADMIN}/attachments/{created['id']}", headers=await client.admin_headers()
        )
        assert regulator.status_code == 200 and regulator.content == data
        log = (await client.get(f"{MP}/access-log", headers=owner["headers"])).json()["items"]
        assert [(e["actor_type"], e.get("case_kind")) for e in log] == [("regulator", "attachment")]

    async def test_the_type_is_judged_from_the_bytes_not_the_name(self, client):
        owner = await f.make_resident(client, 402)
        created = await uploaded(client, owner, PNG, "looks-like.pdf")
        assert created["content_type"] == "image/png"

    async def test_another_resident_gets_404(self, client):
        owner = await f.make_resident(client, 403)
        stranger = await f.make_resident(client, 404)
        created = await uploaded(client, owner)
        for attachment_id in (created["id"], str(uuid.uuid4()), "not-an-id"):
            r = await client.get(f"{MP}/attachments/{attachment_id}", headers=stranger["headers"])
            assert f.status_and_code(r) == (404, "NOT_FOUND")

    async def test_a_windows_program_named_jpg_is_refused_and_nothing_is_stored(self, client):
        owner = await f.make_resident(client, 405)
        r = await upload(client, owner, PE, "holiday.jpg", "image/jpeg")
        assert f.status_and_code(r) == (415, "ATTACHMENT_TYPE")
        for data in (b"", b"GIF89a" + os.urandom(64), b"<svg xmlns='http://www.w3.org/2000/svg'/>"):
            r = await upload(client, owner, data, "x.png", "image/png")
            assert f.status_and_code(r) == (415, "ATTACHMENT_TYPE")
        assert stored_files(client) == []

    async def test_six_megabytes_are_refused_and_nothing_is_stored(self, client):
        owner = await f.make_resident(client, 406)
        r = await upload(client, owner, JPEG + os.urandom(6 * 1024 * 1024))
        assert f.status_and_code(r) == (413, "ATTACHMENT_TOO_LARGE")
        assert stored_files(client) == []

    async def test_a_body_without_a_length_is_cut_at_the_limit(self, client):
        owner = await f.make_resident(client, 407)
        boundary = uuid.uuid4().hex

        async def chunked():  # no Content-Length: counted as it arrives
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            yield JPEG
            for _ in range(7):
                yield os.urandom(1024 * 1024)
            yield f"\r\n--{boundary}--\r\n".encode()

        r = await client.post(
            f"{MP}/attachments",
            content=chunked(),
            headers={**owner["headers"], "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert f.status_and_code(r) == (413, "ATTACHMENT_TOO_LARGE")
        assert stored_files(client) == []

    async def test_five_megabytes_pass_on_this_route_only(self, client):
        owner = await f.make_resident(client, 408)
        data = JPEG + os.urandom(MAX_BYTES - len(JPEG))
        created = await uploaded(client, owner, data)
        assert created["size"] == MAX_BYTES
        mine = await client.get(f"{MP}/attachments/{created['id']}", headers=owner["headers"])
        assert mine.content == data
        big = report_body([], description="x" * 2_000_000)
        r = await client.post(f"{MP}/self-reports", json=big, headers=owner["headers"])
        assert f.status_and_code(r) == (413, "PAYLOAD_TOO_LARGE")

    async def test_a_body_that_is_not_one_file_part_is_invalid(self, client):
        owner = await f.make_resident(client, 409)
        r = await client.post(f"{MP}/attachments", json={"file": "abc"}, headers=owner["headers"])
        assert f.status_and_code(r) == (422, "VALIDATION_ERROR")
        r = await client.post(
            f"{MP}/attachments",
            files=[("file", ("a.jpg", JPEG, "image/jpeg")), ("file", ("b.jpg", JPEG, "image/jpeg"))],
            headers=owner["headers"],
        )
        assert f.status_and_code(r) == (422, "VALIDATION_ERROR")
        r = await client.post(
            f"{MP}/attachments", files={"other": ("a.jpg", JPEG, "image/jpeg")}, headers=owner["headers"]
        )
        assert f.status_and_code(r) == (422, "VALIDATION_ERROR")
        assert stored_files(client) == []

    async def test_a_login_is_needed_before_anything_is_read(self, client):
        r = await client.post(f"{MP}/attachments", files={"file": ("a.jpg", JPEG, "image/jpeg")})
        assert f.status_and_code(r) == (401, "UNAUTHENTICATED")
        assert stored_files(client) == []


class TestLocalBlobStore:
    async def test_keys_it_did_not_make_are_refused(self, tmp_path):
        store = LocalBlobStore(tmp_path / "blobs")
        for key in ("../escape", "/etc/passwd", "ab/cd/../../x", "AB/CD/" + "0" * 32, ""):
            with pytest.raises(ValueError):
                await store.put(key, b"x")
        assert not (tmp_path / "blobs").exists() and not (tmp_path / "escape").exists()

    async def test_put_get_delete(self, tmp_path):
        store = LocalBlobStore(tmp_path / "blobs")
        key = new_key()
        await store.put(key, b"one")
        await store.put(key, b"two")
        assert await store.get(key) == b"two"
        assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [key.rsplit("/", 1)[1]]
        folders = [tmp_path / "blobs", *(p for p in (tmp_path / "blobs").rglob("*") if p.is_dir())]
        assert len(folders) == 3 and {p.stat().st_mode & 0o777 for p in folders} == {0o700}
        assert (tmp_path / "blobs" / key).stat().st_mode & 0o777 == 0o600
        await store.delete(key)
        await store.delete(key)
        with pytest.raises(LookupError):
            await store.get(key)


class TestSelfReport:
    async def test_approved_with_an_attachment_becomes_a_commendation(self, client):
        resident = await f.make_resident(client, 411)
        before = await score(client, resident)
        photo = await uploaded(client, resident)
        created = await report(client, resident, [photo["id"]])
        assert created["status"] == "under_review"

        queue = await client.get(
            f"{ADMIN}/self-reports", params={"status": "under_review"}, headers=await client.admin_headers()
        )
        assert [item["id"] for item in queue.json()["items"]] == [created["id"]]
        seen = await client.get(f"{ADMIN}/self-reports/{created['id']}", headers=await client.admin_headers())
        assert seen.status_code == 200 and seen.json()["attachment_ids"] == [photo["id"]]
        file = await client.get(f"{ADMIN}/attachments/{photo['id']}", headers=await client.admin_headers())
        assert file.content == JPEG

        points = await commendation_points()
        r = await decide(client, created["id"], "approved", points=points + 1)
        assert f.status_and_code(r) == (422, "VALIDATION_ERROR") and "points" in r.json()["error"]["fields"]
        r = await decide(client, created["id"], "approved", points=points)
        assert r.status_code == 200, r.text
        decided = r.json()
        assert decided["status"] == "approved" and decided["record_id"]

        records = (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"]
        record = next(item for item in records if item["id"] == decided["record_id"])
        assert (record["category"], record["status"], record["title"]) == (
            "commendation",
            "active",
            "无偿献血 400 毫升",
        )
        assert record["occurred_at"] == local_today(datetime.now(UTC)).isoformat()  # decided today
        assert await score(client, resident) == before + points
        history = (await client.get(f"{MP}/score/history", headers=resident["headers"])).json()["items"]
        assert f"self_report_approved:{created['id']}" in [h["reason"] for h in history]
        notices = (await client.get(f"{MP}/notifications", headers=resident["headers"])).json()["items"]
        assert "case_decision" in [n["kind"] for n in notices]
        mine = (await client.get(f"{MP}/self-reports", headers=resident["headers"])).json()["items"]
        assert [(m["id"], m["status"], m["record_id"], m["note"]) for m in mine] == [
            (created["id"], "approved", decided["record_id"], "经核实")
        ]
        steps = [(e["from"], e["to"]) for e in seen.json()["events"]]
        assert steps == [(None, "under_review")]
        shown = await client.get(
            f"{ADMIN}/self-reports/{created['id']}", headers=await client.admin_headers()
        )
        assert [(e["from"], e["to"]) for e in shown.json()["events"]] == [
            (None, "under_review"),
            ("under_review", "approved"),
        ]
        log = (await client.get(f"{MP}/access-log", headers=resident["headers"])).json()["items"]
        assert {e.get("case_kind") for e in log} == {"self_report", "attachment"}

        again = await decide(client, created["id"], "rejected")
        assert f.status_and_code(again) == (409, "CASE_ALREADY_DECIDED")
        assert await score(client, resident) == before + points

    async def test_rejected_creates_no_record(self, client):
        resident = await f.make_resident(client, 412)
        before = await score(client, resident)
        created = await report(client, resident, [(await uploaded(client, resident, PDF, "a.pdf"))["id"]])
        r = await decide(client, created["id"], "rejected")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "rejected" and r.json()["record_id"] is None
        records = (await client.get(f"{MP}/records", headers=resident["headers"])).json()["items"]
        assert [item for item in records if item["category"] == "commendation"] == []
        assert await score(client, resident) == before
        notices = (await client.get(f"{MP}/notifications", headers=resident["headers"])).json()["items"]
        assert [n["kind"] for n in notices] == ["case_decision"]
        again = await decide(client, created["id"], "approved")
        assert f.status_and_code(again) == (409, "CASE_ALREADY_DECIDED")

    async def test_a_fourth_attachment_is_refused(self, client):
        resident = await f.make_resident(client, 413)
        ids = [(await uploaded(client, resident))["id"] for _ in range(4)]
        r = await client.post(f"{MP}/self-reports", json=report_body(ids), headers=resident["headers"])
        assert f.status_and_code(r) == (422, "VALIDATION_ERROR")
        assert "attachment_ids" in r.json()["error"]["fields"]
        await report(client, resident, ids[:3])

    async def test_another_residents_attachment_is_refused(self, client):
        resident = await f.make_resident(client, 414)
        other = await f.make_resident(client, 415)
        theirs = await uploaded(client, other)
        for ids in ([theirs["id"]], [str(uuid.uuid4())]):
            r = await client.post(f"{MP}/self-reports", json=report_body(ids), headers=resident["headers"])
            assert f.status_and_code(r) == (422, "VALIDATION_ERROR")
            assert "attachment_ids" in r.json()["error"]["fields"]
        mine = (await client.get(f"{MP}/self-reports", headers=resident["headers"])).json()["items"]
        assert mine == []

    async def test_bad_text_and_a_future_day_are_refused(self, client):
        resident = await f.make_resident(client, 416)
        for changes, field in (
            ({"title": "a\u0000b"}, "title"),
            ({"occurred_at": (date.today() + timedelta(days=2)).isoformat()}, "occurred_at"),
            ({"category": "bribery"}, "category"),
        ):
            r = await client.post(
                f"{MP}/self-reports", json=report_body([], **changes), headers=resident["headers"]
            )
            assert f.status_and_code(r) == (422, "VALIDATION_ERROR")
            assert field in r.json()["error"]["fields"]

    async def test_an_unknown_report_is_not_found(self, client):
        r = await decide(client, str(uuid.uuid4()), "approved")
        assert f.status_and_code(r) == (404, "NOT_FOUND")
