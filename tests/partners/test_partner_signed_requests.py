"""Signed partner requests over HTTP, against the volunteer endpoint: every way to fail, rotation, Redis down."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from partners import service
from partners.models import PartnerKind, PartnerScope
from partners.schemas import PartnerIn
from partners.signing import sign, signed_headers
from tests.factories import ADMIN, PARTNER, encode, make_partner, send_signed, started_client, volunteer_body


@pytest.fixture
async def partner(client):
    return await make_partner(client)


def path(external_id: str = "rec-1") -> str:
    return f"{PARTNER}/volunteer-hours/{external_id}"


def assert_error(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


class TestSignatureAccepted:
    async def test_a_correctly_signed_request_goes_through(self, client, partner, id_number):
        r = await send_signed(client, partner, "PUT", path(), volunteer_body(id_number(1)))
        assert r.status_code == 201, r.text

    async def test_a_query_string_is_signed_as_sent(self, client, partner, id_number):
        r = await send_signed(
            client, partner, "PUT", path() + "?source=batch&b=%E5%BF%97", volunteer_body(id_number(1))
        )
        assert r.status_code == 201, r.text

    async def test_an_uppercase_hex_signature_is_accepted(self, client, partner, id_number):
        body = encode(volunteer_body(id_number(1)))
        h = signed_headers(partner["key"], partner["secret"], "PUT", path(), body)
        h["X-Signature"] = h["X-Signature"].upper()
        r = await client.put(path(), content=body, headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 201, r.text

    async def test_a_body_less_request_signs_the_empty_hash(self, client, partner):
        # DELETE of an unknown record: the signature passed, the record does not exist.
        assert_error(
            await send_signed(client, partner, "DELETE", path("nope")), 404, "VOLUNTEER_RECORD_NOT_FOUND"
        )


class TestSignatureRejected:
    async def test_wrong_secret(self, client, partner, id_number):
        r = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), secret="sk_" + "x" * 43
        )
        assert_error(r, 401, "SIGNATURE_INVALID")

    async def test_another_partners_secret(self, client, partner, id_number):
        other = await make_partner(client, name="另一个平台")
        r = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), secret=other["secret"]
        )
        assert_error(r, 401, "SIGNATURE_INVALID")

    async def test_tampered_body(self, client, partner, id_number):
        body = volunteer_body(id_number(1))
        r = await send_signed(client, partner, "PUT", path(), body, sent_body=encode({**body, "hours": 12}))
        assert_error(r, 401, "SIGNATURE_INVALID")

    async def test_tampered_path(self, client, partner, id_number):
        r = await send_signed(
            client, partner, "PUT", path("rec-1"), volunteer_body(id_number(1)), sent_path=path("rec-2")
        )
        assert_error(r, 401, "SIGNATURE_INVALID")

    async def test_tampered_query(self, client, partner, id_number):
        for signed, sent in (("?a=1", "?a=2"), ("?a=1&b=2", "?b=2&a=1"), ("", "?a=1"), ("?a=1", "")):
            r = await send_signed(
                client, partner, "PUT", path() + signed, volunteer_body(id_number(1)), sent_path=path() + sent
            )
            assert_error(r, 401, "SIGNATURE_INVALID")

    async def test_other_method(self, client, partner):
        raw = b""
        h = signed_headers(partner["key"], partner["secret"], "PUT", path(), raw)
        assert_error(await client.delete(path(), headers=h), 401, "SIGNATURE_INVALID")

    async def test_stale_or_future_timestamp(self, client, partner, id_number):
        for offset in (-301, -3600, 301, 3600, -(10**9)):
            r = await send_signed(
                client, partner, "PUT", path(), volunteer_body(id_number(1)), now=time.time() + offset
            )
            assert_error(r, 401, "TIMESTAMP_SKEW")

    async def test_timestamp_within_300_seconds_is_fine(self, client, partner, id_number):
        for offset in (-290, 290):
            r = await send_signed(
                client, partner, "PUT", path(), volunteer_body(id_number(1)), now=time.time() + offset
            )
            assert r.status_code in (200, 201), r.text

    async def test_reused_nonce(self, client, partner, id_number):
        first = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="nonce-once-1"
        )
        assert first.status_code == 201, first.text
        again = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="nonce-once-1"
        )
        assert_error(again, 401, "NONCE_REUSED")
        # Even for another request: a nonce is single-use per partner.
        other = await send_signed(client, partner, "DELETE", path("x"), nonce="nonce-once-1")
        assert_error(other, 401, "NONCE_REUSED")

    async def test_a_nonce_is_refused_again_after_redis_lost_its_keys(self, client, partner, id_number):
        first = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="nonce-durable-1"
        )
        assert first.status_code == 201, first.text
        await client.app.ctx.redis.flushdb()  # a Redis restart without persistence, a failover
        again = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="nonce-durable-1"
        )
        assert_error(again, 401, "NONCE_REUSED")

    async def test_nonces_are_forgotten_once_their_window_is_over(self, client, partner, id_number):
        from datetime import UTC, datetime, timedelta

        from partners.models import PartnerNonce
        from partners.signing import NONCE_TTL_S, purge_nonces

        r = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="nonce-purged-1"
        )
        assert r.status_code == 201, r.text
        assert await purge_nonces(datetime.now(UTC)) == 0
        assert await PartnerNonce.filter(nonce="nonce-purged-1").exists()
        assert await purge_nonces(datetime.now(UTC) + timedelta(seconds=NONCE_TTL_S + 1)) == 1

    async def test_a_nonce_is_burnt_only_by_a_valid_signature(self, client, partner, id_number):
        forged = await send_signed(
            client,
            partner,
            "PUT",
            path(),
            volunteer_body(id_number(1)),
            nonce="nonce-burn-1",
            secret="sk_forged",
        )
        assert_error(forged, 401, "SIGNATURE_INVALID")
        genuine = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="nonce-burn-1"
        )
        assert genuine.status_code == 201, genuine.text

    async def test_the_same_nonce_may_be_used_by_two_partners(self, client, partner, id_number):
        other = await make_partner(client, name="另一个平台")
        a = await send_signed(
            client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="shared-nonce-1"
        )
        b = await send_signed(
            client, other, "PUT", path(), volunteer_body(id_number(2)), nonce="shared-nonce-1"
        )
        assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)

    async def test_the_nonce_is_kept_in_redis_for_ten_minutes(self, client, partner, id_number):
        await send_signed(client, partner, "PUT", path(), volunteer_body(id_number(1)), nonce="nonce-ttl-1")
        ttl = await client.app.ctx.redis.ttl(f"partner-nonce:{partner['id']}:nonce-ttl-1")
        assert 600 <= ttl <= 601

    async def test_missing_header(self, client, partner, id_number):
        for header in ("X-Partner-Key", "X-Timestamp", "X-Nonce", "X-Signature"):
            r = await send_signed(
                client, partner, "PUT", path(), volunteer_body(id_number(1)), headers={header: ""}
            )
            assert_error(r, 401, "SIGNATURE_INVALID")
            assert header in r.json()["error"]["message"]

    async def test_malformed_header(self, client, partner, id_number):
        for header, value in (
            ("X-Timestamp", "17e8"),
            ("X-Timestamp", "-5"),
            ("X-Timestamp", "1" * 13),
            ("X-Nonce", "short"),
            ("X-Nonce", "has space in it"),
            ("X-Signature", "abc"),
            ("X-Signature", "z" * 64),
            ("X-Partner-Key", "pk with space"),
        ):
            r = await send_signed(
                client, partner, "PUT", path(), volunteer_body(id_number(1)), headers={header: value}
            )
            assert_error(r, 401, "SIGNATURE_INVALID")
            assert header in r.json()["error"]["message"]

    async def test_no_headers_at_all(self, client):
        assert_error(await client.put(path(), json={}), 401, "SIGNATURE_INVALID")

    async def test_unknown_key(self, client, partner, id_number):
        r = await send_signed(
            client, {**partner, "key": "pk_" + "0" * 32}, "PUT", path(), volunteer_body(id_number(1))
        )
        assert_error(r, 401, "SIGNATURE_INVALID")

    async def test_missing_scope_is_403(self, client, id_number):
        tourism = await make_partner(client, kind="tourism", scopes=("tier:read", "pass:verify"))
        r = await send_signed(client, tourism, "PUT", path(), volunteer_body(id_number(1)))
        assert_error(r, 403, "SCOPE_MISSING")

    async def test_an_admin_token_is_no_signature(self, client):
        r = await client.put(path(), json={}, headers=await client.admin_headers())
        assert_error(r, 401, "SIGNATURE_INVALID")

    async def test_authentication_comes_before_validation(self, client, partner):
        r = await send_signed(client, partner, "PUT", path("bad id!"), {"hours": "x"}, secret="sk_wrong")
        assert_error(r, 401, "SIGNATURE_INVALID")


class TestRotation:
    @pytest.fixture
    def clock(self, client):
        """The app's clock, given to it by the test and moved instead of sleeping."""
        state = {"now": datetime.now(UTC)}
        client.app.ctx.clock = lambda: state["now"]
        return state

    async def rotate(self, client, partner) -> dict:
        r = await client.post(
            f"{ADMIN}/partners/{partner['id']}/rotate-secret", headers=await client.admin_headers()
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def probe(self, client, partner, secret: str, at: datetime):
        """A signed DELETE of an unknown record: 404 means the signature was accepted."""
        return await send_signed(
            client,
            partner,
            "DELETE",
            path(f"probe-{uuid.uuid4().hex[:8]}"),
            secret=secret,
            now=at.timestamp(),
        )

    async def test_new_secret_works_at_once_and_the_old_one_during_the_grace_period(
        self, client, partner, clock
    ):
        t0 = clock["now"]
        rotated = await self.rotate(client, partner)
        assert datetime.fromisoformat(rotated["previous_secret_expires_at"]) == t0 + service.SECRET_GRACE
        assert (await self.probe(client, partner, rotated["secret"], t0)).status_code == 404
        assert (await self.probe(client, partner, partner["secret"], t0)).status_code == 404

        clock["now"] = t0 + service.SECRET_GRACE - timedelta(seconds=1)
        assert (await self.probe(client, partner, partner["secret"], clock["now"])).status_code == 404

    async def test_the_old_secret_fails_after_the_grace_period(self, client, partner, clock):
        t0 = clock["now"]
        rotated = await self.rotate(client, partner)
        clock["now"] = t0 + service.SECRET_GRACE + timedelta(seconds=1)
        assert_error(
            await self.probe(client, partner, partner["secret"], clock["now"]), 401, "SIGNATURE_INVALID"
        )
        assert (await self.probe(client, partner, rotated["secret"], clock["now"])).status_code == 404

    async def test_a_second_rotation_retires_the_first_secret_at_once(self, client, partner, clock):
        first = await self.rotate(client, partner)
        second = await self.rotate(client, partner)
        assert_error(
            await self.probe(client, partner, partner["secret"], clock["now"]), 401, "SIGNATURE_INVALID"
        )
        assert (await self.probe(client, partner, first["secret"], clock["now"])).status_code == 404
        assert (await self.probe(client, partner, second["secret"], clock["now"])).status_code == 404

    async def test_the_server_clock_decides_the_timestamp_window(self, client, partner, clock):
        clock["now"] = clock["now"] + timedelta(hours=1)
        real_now = datetime.now(UTC)
        assert_error(await self.probe(client, partner, partner["secret"], real_now), 401, "TIMESTAMP_SKEW")
        assert (await self.probe(client, partner, partner["secret"], clock["now"])).status_code == 404


class TestRedisDown:
    async def test_the_nonce_check_is_never_skipped_503_with_retry_after(self, settings, id_number):
        from xinyi.app import create_app

        down = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")
        app = create_app(down, name=f"xinyi_noredis_{uuid.uuid4().hex[:6]}")
        async with started_client(app) as c:
            partner, secret = await service.create_partner(
                PartnerIn(name="志愿平台", kind=PartnerKind.VOLUNTEER, scopes=[PartnerScope.VOLUNTEER_WRITE]),
                cipher=app.ctx.cipher,
                prod=False,
            )
            started = time.monotonic()
            r = await send_signed(
                c, {"key": partner.key, "secret": secret}, "PUT", path(), volunteer_body(id_number(1))
            )
            assert_error(r, 503, "SERVICE_UNAVAILABLE")
            assert int(r.headers["Retry-After"]) > 0
            assert time.monotonic() - started < 10
            # Nothing was written.
            from credit.models import VolunteerRecord

            assert await VolunteerRecord.all().count() == 0
            # A bad signature is still a 401: Redis is only asked once the signature holds.
            forged = await send_signed(
                c, {"key": partner.key, "secret": "sk_forged"}, "PUT", path(), volunteer_body(id_number(1))
            )
            assert_error(forged, 401, "SIGNATURE_INVALID")


def test_sign_is_what_the_server_checks():
    """The helper tests and partners use is the recipe the server verifies (no private variant)."""
    h = signed_headers("pk_x", "sk_y", "PUT", "/p?q=1", b"{}", now=1_700_000_000, nonce="nonce-abcdef")
    assert h["X-Signature"] == sign("sk_y", "PUT", "/p?q=1", "1700000000", "nonce-abcdef", b"{}")
