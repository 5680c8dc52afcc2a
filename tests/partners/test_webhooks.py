"""Webhooks to a real HTTP receiver on 127.0.0.1: outbox, signature, retries, restarts, concurrent workers."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from credit.models import Subject
from partners import webhooks
from partners.models import Partner, WebhookDelivery
from partners.webhooks import WebhookConfig, WebhookWorker, enqueue, on_tier_change
from tests import factories as f
from tests.conftest import USES_POSTGRES
from tests.factories import ADMIN, MP, exchange, granted_ref, make_grant, tourism_partner
from tests.partners.webhook_receiver import Receiver

FAST = {
    "webhook_worker": True,
    "webhook_backoff_base_s": 0.05,
    "webhook_backoff_max_s": 0.2,
    "webhook_poll_s": 0.05,
    "webhook_timeout_s": 2.0,
}


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            rows = await WebhookDelivery.all().values(
                "status", "attempts", "claimed_by", "lease_until", "next_attempt_at", "last_error"
            )
            raise AssertionError(f"timed out waiting {datetime.now(UTC)} {rows}")
        await asyncio.sleep(0.02)


async def statuses() -> list[str]:
    return [d.status for d in await WebhookDelivery.all().order_by("created_at")]


def all_delivered(count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = await statuses()
        return len(rows) == count and set(rows) == {"delivered"}

    return check


@pytest.fixture
async def receiver():
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
def fast_settings(settings):
    return settings.with_overrides(**FAST)


@pytest.fixture
async def hooked(fast_settings):
    """A client of an app that runs the webhook worker (tiny backoff, quick polling)."""
    async with f.started_client(f.new_app(fast_settings)) as c:
        yield c


async def scenario(client, receiver_url: str, seed: int = 101, scopes=("tier:read",)):
    """A tourism partner with a webhook URL and a resident who granted it ``scopes``."""
    partner = await tourism_partner(client, webhook_url=receiver_url)
    resident = await f.make_resident(client, seed)
    ref = await granted_ref(client, resident, partner, scopes)
    return partner, resident, ref


class TestOutbox:
    async def test_a_tier_change_writes_one_event_per_partner_that_may_read_tiers(
        self, client, receiver, id_number
    ):
        resident = await f.make_resident(client, 102)
        reader = await tourism_partner(client, "读等级的平台", webhook_url=receiver.url)
        seller = await tourism_partner(client, "只核销的平台", webhook_url=receiver.url)
        silent = await tourism_partner(client, "没有回调地址的平台")
        revoked = await tourism_partner(client, "已撤销的平台", webhook_url=receiver.url)
        ref = await granted_ref(client, resident, reader, ("tier:read",))
        await granted_ref(client, resident, seller, ("redemption:write",))
        await granted_ref(client, resident, silent, ("tier:read",))
        grant = await make_grant(client, resident, revoked, ("tier:read",))
        await exchange(client, revoked, grant["authorization_code"])
        await client.delete(f"{MP}/grants/{grant['id']}", headers=resident["headers"])
        await WebhookDelivery.all().delete()

        await f.blacklist(client, id_number(102))
        rows = await WebhookDelivery.all()
        assert [(str(r.partner_id), r.type, r.status) for r in rows] == [
            (reader["id"], "tier.changed", "pending")
        ]
        body = webhooks.orjson.loads(rows[0].body)
        assert body["id"] == str(rows[0].id) and body["type"] == "tier.changed" and body["created_at"]
        assert {k: v for k, v in body["data"].items() if k != "as_of"} == {
            "partner_user_ref": ref,
            "tier": "restricted",
            "previous_tier": "A",
        }

    async def test_a_resident_who_withdrew_consent_is_not_reported(self, client, receiver, id_number):
        _, resident, _ = await scenario(client, receiver.url)
        assert (await client.delete(f"{MP}/consent", headers=resident["headers"])).status_code == 200
        await f.blacklist(client, id_number(101))
        assert await WebhookDelivery.all().count() == 0

    async def test_nothing_is_written_when_the_change_rolls_back(self, client, receiver):
        partner, resident, _ = await scenario(client, receiver.url)
        subject = Subject(id=1, resident_id=uuid.UUID(resident["resident"]["id"]))
        with pytest.raises(RuntimeError):
            async with in_transaction() as conn:
                await on_tier_change(conn, subject, "A", "B")
                assert await WebhookDelivery.filter().using_db(conn).count() == 1
                raise RuntimeError("the change failed")
        assert await WebhookDelivery.all().count() == 0

    async def test_revoking_a_held_grant_writes_grant_revoked(self, client, receiver):
        partner = await tourism_partner(client, webhook_url=receiver.url)
        resident = await f.make_resident(client, 103)
        held = await make_grant(client, resident, partner)
        ref = (await exchange(client, partner, held["authorization_code"])).json()["partner_user_ref"]
        pending = await make_grant(client, resident, partner)
        await client.delete(
            f"{MP}/grants/{pending['id']}", headers=resident["headers"]
        )  # never exchanged: silent
        await client.delete(f"{MP}/grants/{held['id']}", headers=resident["headers"])
        await client.delete(f"{MP}/grants/{held['id']}", headers=resident["headers"])  # again: nothing more
        rows = await WebhookDelivery.all()
        assert [(r.type, webhooks.orjson.loads(r.body)["data"]) for r in rows] == [
            ("grant.revoked", {"partner_user_ref": ref})
        ]


class TestDelivery:
    async def test_signed_with_the_partners_secret_over_the_webhook_path_and_query(
        self, hooked, receiver, id_number
    ):
        partner, _, ref = await scenario(hooked, receiver.url)
        await f.blacklist(hooked, id_number(101))
        await receiver.wait_for(lambda r: len(r.requests) == 1)
        got = receiver.requests[0]
        assert got.method == "POST" and got.target == "/hooks/xinyi?tenant=yn"
        assert got.signature_ok(partner["secret"])
        assert not got.signature_ok("sk_someone-else")
        body = got.json
        assert set(body) == {"id", "type", "created_at", "data"}
        assert got.headers["x-event-id"] == body["id"] and got.headers["content-type"] == "application/json"
        assert body["type"] == "tier.changed" and body["data"]["partner_user_ref"] == ref
        assert abs(int(got.headers["x-timestamp"]) - datetime.now(UTC).timestamp()) < 60
        await eventually(all_delivered(1))
        row = await WebhookDelivery.get(id=body["id"])
        assert (row.attempts, row.last_status_code, row.last_error) == (1, 200, None)

    async def test_the_signature_covers_the_target_as_sent_also_for_non_ascii_urls(self, client, id_number):
        receiver = await Receiver(path="/回调/信易游?地区=云南&x=%2F").start()
        try:
            partner, _, _ = await scenario(client, receiver.url)
            await f.blacklist(client, id_number(101))
            worker = WebhookWorker(cipher=client.app.ctx.cipher, config=WebhookConfig())
            try:
                assert await worker.drain() == 1
            finally:
                await worker.close()
            [got] = receiver.requests
            assert (
                got.target
                == "/%E5%9B%9E%E8%B0%83/%E4%BF%A1%E6%98%93%E6%B8%B8?%E5%9C%B0%E5%8C%BA=%E4%BA%91%E5%8D%97&x=%2F"
            )
            assert got.signature_ok(partner["secret"]) and got.status == 200
        finally:
            await receiver.stop()

    async def test_a_grant_revocation_reaches_the_partner(self, hooked, receiver):
        partner, resident, ref = await scenario(hooked, receiver.url)
        grant_id = (await hooked.get(f"{MP}/grants", headers=resident["headers"])).json()["items"][0]["id"]
        await hooked.delete(f"{MP}/grants/{grant_id}", headers=resident["headers"])
        await receiver.wait_for(lambda r: len(r.requests) == 1)
        assert receiver.requests[0].json["type"] == "grant.revoked"
        assert receiver.requests[0].json["data"] == {"partner_user_ref": ref}
        assert receiver.requests[0].signature_ok(partner["secret"])

    async def test_after_a_rotation_events_are_signed_with_the_new_secret(self, hooked, receiver, id_number):
        partner, _, _ = await scenario(hooked, receiver.url)
        r = await hooked.post(
            f"{ADMIN}/partners/{partner['id']}/rotate-secret", headers=await hooked.admin_headers()
        )
        await f.blacklist(hooked, id_number(101))
        await receiver.wait_for(lambda r: len(r.requests) == 1)
        assert receiver.requests[0].signature_ok(r.json()["secret"])

    async def test_a_receiver_answering_500_twice_gets_the_event_on_the_third_try(
        self, hooked, receiver, id_number
    ):
        receiver.script = [500, 500]
        await scenario(hooked, receiver.url)
        await f.blacklist(hooked, id_number(101))
        await receiver.wait_for(lambda r: len(r.acknowledged) == 1)
        assert [r.status for r in receiver.requests] == [500, 500, 200]
        assert len({r.headers["x-event-id"] for r in receiver.requests}) == 1
        assert len({r.headers["x-nonce"] for r in receiver.requests}) == 3  # every attempt is signed afresh
        await eventually(all_delivered(1))
        row = await WebhookDelivery.get()
        assert row.attempts == 3 and row.last_status_code == 200

    async def test_timeouts_are_retried(self, settings, receiver, id_number):
        receiver.delay_s = 0.6
        slow = settings.with_overrides(**{**FAST, "webhook_timeout_s": 0.2})
        async with f.started_client(f.new_app(slow)) as c:
            await scenario(c, receiver.url)
            await f.blacklist(c, id_number(101))

            async def retried() -> bool:
                row = await WebhookDelivery.first()
                return row is not None and row.attempts >= 2

            await eventually(retried)
            row = await WebhookDelivery.get()
            assert row.status in ("pending", "delivering") and "timed out" in (row.last_error or "")
            receiver.delay_s = 0.0
            await eventually(all_delivered(1))

    async def test_without_a_2xx_within_the_retry_window_it_fails_and_an_admin_redelivers_it(
        self, settings, receiver, id_number
    ):
        receiver.default = 503
        short = settings.with_overrides(**{**FAST, "webhook_retry_for_s": 0.4})
        async with f.started_client(f.new_app(short)) as c:
            partner, _, _ = await scenario(c, receiver.url)
            await f.blacklist(c, id_number(101))
            admin = await c.admin_headers()

            async def failed() -> bool:
                return await statuses() == ["failed"]

            await eventually(failed)
            r = await c.get(f"{ADMIN}/partners/{partner['id']}/webhook-deliveries", headers=admin)
            assert r.status_code == 200, r.text
            [item] = r.json()["items"]
            assert item["status"] == "failed" and item["attempts"] >= 2 and item["last_error"] == "HTTP 503"
            assert item["last_status_code"] == 503 and item["type"] == "tier.changed"
            assert item["payload"]["data"]["tier"] == "restricted"

            receiver.default = 200
            r = await c.post(f"{ADMIN}/webhook-deliveries/{item['id']}/redeliver", headers=admin)
            assert r.status_code == 200 and r.json()["status"] == "pending"
            await eventually(all_delivered(1))
            assert len(receiver.acknowledged) == 1
            r = await c.post(f"{ADMIN}/webhook-deliveries/{item['id']}/redeliver", headers=admin)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "WEBHOOK_ALREADY_DELIVERED")
            r = await c.post(f"{ADMIN}/webhook-deliveries/{uuid.uuid4()}/redeliver", headers=admin)
            assert r.status_code == 404
            r = await c.get(
                f"{ADMIN}/partners/{partner['id']}/webhook-deliveries",
                params={"status": "failed"},
                headers=admin,
            )
            assert r.json()["items"] == []

    async def test_a_partner_without_a_url_any_more_fails_at_once(self, client, receiver, id_number):
        partner, _, _ = await scenario(client, receiver.url)
        await f.blacklist(client, id_number(101))
        await Partner.filter(id=partner["id"]).update(webhook_url=None)
        worker = WebhookWorker(cipher=client.app.ctx.cipher, config=WebhookConfig(backoff_base_s=0.05))
        try:
            assert await worker.drain() == 1
        finally:
            await worker.close()
        row = await WebhookDelivery.get()
        assert (row.status, row.last_error) == ("failed", "the partner has no webhook URL")


class TestNeverLost:
    async def test_a_receiver_down_while_the_server_restarts_gets_every_event_once_back(
        self, settings, fast_settings, receiver, id_number
    ):
        await receiver.stop()  # down; its port stays reserved for it
        async with f.started_client(f.new_app(fast_settings)) as c:
            await scenario(c, receiver.url, seed=104)
            await f.blacklist(c, id_number(104))

            async def attempted() -> bool:
                row = await WebhookDelivery.first()
                return row is not None and row.attempts >= 1 and row.status == "pending"

            await eventually(attempted)
            assert "connection failed" in (await WebhookDelivery.get()).last_error
        # The server with the worker is down: a change made meanwhile (by a process without a
        # worker) waits in the outbox.
        async with f.started_client(f.new_app(settings)) as c:
            await scenario(c, receiver.url, seed=105)
            await f.blacklist(c, id_number(105))
            assert await WebhookDelivery.all().count() == 2
        await receiver.start()
        async with f.started_client(f.new_app(fast_settings)):  # a new server on the same database
            await eventually(all_delivered(2))
            await receiver.wait_for(lambda r: len(r.acknowledged) == 2)
            ids = Counter(r.headers["x-event-id"] for r in receiver.acknowledged)
            assert sorted(ids.values()) == [1, 1]
            assert set(ids) == {str(d.id) for d in await WebhookDelivery.all()}

    async def test_a_claim_of_a_crashed_worker_comes_back_after_its_lease(self, client, receiver, id_number):
        await scenario(client, receiver.url)
        await f.blacklist(client, id_number(101))
        now = datetime.now(UTC)
        await WebhookDelivery.all().update(
            status="delivering", claimed_by="dead-worker", attempts=1, lease_until=now + timedelta(seconds=30)
        )
        worker = WebhookWorker(cipher=client.app.ctx.cipher, config=WebhookConfig(backoff_base_s=0.05))
        try:
            assert await worker.drain() == 0  # the lease still holds: not taken from a live worker
            await WebhookDelivery.all().update(lease_until=now - timedelta(seconds=1))
            assert await worker.drain() == 1
        finally:
            await worker.close()
        row = await WebhookDelivery.get()
        assert (row.status, row.attempts, row.claimed_by) == ("delivered", 2, worker.id)
        assert len(receiver.acknowledged) == 1

    async def test_a_late_answer_of_a_worker_that_lost_its_claim_changes_nothing(
        self, client, receiver, id_number
    ):
        await scenario(client, receiver.url)
        await f.blacklist(client, id_number(101))
        worker = WebhookWorker(cipher=client.app.ctx.cipher, config=WebhookConfig())
        try:
            [claimed] = await webhooks.claim_due(
                worker.id, now=datetime.now(UTC), lease=timedelta(seconds=30), limit=5
            )
            await WebhookDelivery.all().update(claimed_by="another-worker")
            await worker._record_failure(claimed, webhooks.Outcome(ok=False, error="HTTP 500"))
            worker._acknowledge(claimed.id, 200)
            await worker.flush_acks()
        finally:
            await worker.close()
        row = await WebhookDelivery.get()
        assert (row.status, row.claimed_by, row.last_error) == ("delivering", "another-worker", None)


class TestConcurrentWorkers:
    @pytest.mark.postgres_only
    @pytest.mark.skipif(
        not USES_POSTGRES, reason="concurrent claims with FOR UPDATE SKIP LOCKED need PostgreSQL"
    )
    async def test_two_workers_deliver_each_event_once(self, client, receiver):
        receiver.delay_s = 0.01
        partner = await tourism_partner(client, webhook_url=receiver.url)
        async with in_transaction() as conn:
            await enqueue(
                conn,
                [(uuid.UUID(partner["id"]), "tier.changed", {"n": n}) for n in range(120)],
                now=datetime.now(UTC),
            )
        config = WebhookConfig(backoff_base_s=0.05, poll_s=0.05, concurrency=10)
        workers = [WebhookWorker(cipher=client.app.ctx.cipher, config=config) for _ in range(2)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            await receiver.wait_for(lambda r: len(r.acknowledged) == 120, timeout_s=30)
            await eventually(all_delivered(120))
        finally:
            for w in workers:
                w.stop()
            await asyncio.gather(*tasks)
        ids = Counter(r.headers["x-event-id"] for r in receiver.requests)
        assert len(ids) == 120 and set(ids.values()) == {1}
        by_worker = Counter(d.claimed_by for d in await WebhookDelivery.all())
        assert set(by_worker) == {w.id for w in workers}  # both took part


class TestProductionRules:
    async def test_an_internal_url_is_refused_again_at_delivery(self, client, receiver, id_number):
        await scenario(client, receiver.url)
        await f.blacklist(client, id_number(101))
        worker = WebhookWorker(
            cipher=client.app.ctx.cipher, config=WebhookConfig(prod=True, backoff_base_s=0.05)
        )
        try:
            await worker.run_once()
        finally:
            await worker.close()
        row = await WebhookDelivery.get()
        assert row.status == "pending" and row.last_error.startswith("webhook URL refused")
        assert receiver.requests == []

    async def test_the_request_goes_to_the_checked_address_with_the_original_host(
        self, client, receiver, id_number, monkeypatch
    ):
        import ipaddress

        url = f"http://hooks.invalid:{receiver.port}/hooks/xinyi?tenant=yn"  # .invalid never resolves
        partner, _, _ = await scenario(client, url)
        checked = []

        async def check(u, *, prod, resolve=None, timeout_s=5.0):
            checked.append(u)
            return [ipaddress.ip_address("127.0.0.1")]

        monkeypatch.setattr(webhooks, "check_webhook_url", check)
        await f.blacklist(client, id_number(101))
        worker = WebhookWorker(cipher=client.app.ctx.cipher, config=WebhookConfig())
        try:
            assert await worker.drain() == 1
        finally:
            await worker.close()
        assert checked == [url]
        [got] = receiver.requests
        assert (
            got.headers["host"] == f"hooks.invalid:{receiver.port}" and got.target == "/hooks/xinyi?tenant=yn"
        )
        assert got.signature_ok(partner["secret"])


class TestSettings:
    def test_the_worker_runs_by_default_except_under_test_and_the_knobs_are_read(self, tmp_path):
        from server.settings import SettingsError, load_settings

        base = {"XINYI_VAR_DIR": str(tmp_path)}
        assert load_settings({**base, "XINYI_ENV": "dev"}, dotenv=None).webhook_worker is True
        assert load_settings({**base, "XINYI_ENV": "test"}, dotenv=None).webhook_worker is False
        tuned = load_settings(
            {
                **base,
                "WEBHOOK_WORKER": "0",
                "WEBHOOK_TIMEOUT_S": "2.5",
                "WEBHOOK_POLL_S": "0.2",
                "WEBHOOK_BACKOFF_BASE_S": "1",
            },
            dotenv=None,
        )
        assert (tuned.webhook_worker, tuned.webhook_timeout_s, tuned.webhook_poll_s) == (False, 2.5, 0.2)
        config = WebhookConfig.from_settings(tuned)
        assert config.lease > timedelta(seconds=config.attempt_deadline_s)
        for name, value in (("WEBHOOK_WORKER", "maybe"), ("WEBHOOK_POLL_S", "0")):
            with pytest.raises(SettingsError, match=name):
                load_settings({**base, name: value}, dotenv=None)

    def test_backoff_is_exponential_with_full_jitter_and_capped(self):
        config = WebhookConfig(backoff_base_s=30, backoff_max_s=3600)
        highest = lambda low, high: high  # noqa: E731
        assert [config.backoff_s(n, highest) for n in (1, 2, 3, 8, 50)] == [30, 60, 120, 3600, 3600]
        assert config.backoff_s(3, lambda low, high: low) == 0
        assert all(0 <= config.backoff_s(4) <= 240 for _ in range(100))


class TestIsolation:
    async def test_a_hanging_receiver_does_not_hold_up_other_partners(self, settings, receiver, id_number):
        hanging = await Receiver(delay_s=1.5).start()
        try:
            slow = settings.with_overrides(**FAST)
            async with f.started_client(f.new_app(slow)) as c:
                await scenario(c, hanging.url, seed=106)
                await scenario(c, receiver.url, seed=107)
                await f.blacklist(c, id_number(106))
                started = asyncio.get_running_loop().time()
                await f.blacklist(c, id_number(107))
                await receiver.wait_for(lambda r: len(r.acknowledged) == 1)
                assert asyncio.get_running_loop().time() - started < 1.0
                await hanging.wait_for(lambda r: len(r.acknowledged) == 1)
        finally:
            await hanging.stop()


class TestCommand:
    async def test_xinyi_webhooks_worker_once_delivers_what_is_due(
        self, client, settings, receiver, id_number
    ):
        import os
        import subprocess
        import sys

        partner, _, _ = await scenario(client, receiver.url)
        await f.blacklist(client, id_number(101))
        env = {
            **os.environ,
            "XINYI_ENV": "test",
            "XINYI_VAR_DIR": str(settings.var_dir),
            "DATABASE_URL": settings.database_url or "",
        }
        env.pop("REDIS_URL", None)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "server", "webhooks-worker", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "1 webhook attempts made" in done.stdout
        assert [r.status for r in receiver.requests] == [200]
        assert receiver.requests[0].signature_ok(partner["secret"])
        assert await statuses() == ["delivered"]
