"""The app on a real Redis Cluster of three masters (``REDIS_URL=redis+cluster://…``), over HTTP.

Each key the app keeps in Redis is exercised here on the cluster: the login throttle's moving
windows and known addresses (``limits``' cluster storage), partners' signed-request nonces, WeChat's access token
(the sync client) and the redemption's idempotency. The cluster (``bench/_replication.py``) is
started once for this module on spare ports and removed after it; without ``redis-server`` the
module is skipped, except under ``REDIS_CLUSTER_TEST=1`` (CI), where that is an error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from bench._replication import RedisClusterNodes, why_no_own_redis
from server.redis import cluster_nodes, connect_redis, connect_sync_redis, is_cluster, same_slot
from tests import factories as f

REQUIRED = os.environ.get("REDIS_CLUSTER_TEST") == "1"

if why_no_own_redis() and not REQUIRED:
    pytest.skip(f"no Redis Cluster here: {why_no_own_redis()}", allow_module_level=True)


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisClusterNodes]:
    nodes = RedisClusterNodes()
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.close()


@pytest.fixture
async def settings(settings, redis_cluster):  # the conftest's settings (a fresh database), on the cluster
    redis_cluster.flush()
    return settings.with_overrides(redis_url=redis_cluster.url)


def test_a_cluster_url_names_its_startup_nodes_and_credentials():
    nodes, options = cluster_nodes("redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001/0")
    assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert options == {"username": "app", "password": "s@cret"}
    with pytest.raises(ValueError, match="database 0"):
        cluster_nodes("redis+cluster://10.0.0.1:7000/3")
    assert same_slot("xinyi:{r1}:a", "xinyi:{r1}:b") and not same_slot("xinyi:a", "xinyi:b")


async def test_the_app_talks_to_every_master(client, redis_cluster):
    redis = client.app.ctx.redis
    assert is_cluster(redis)
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["redis"] is True
    # keys spread over the three masters: each answered by the node of its slot
    for i in range(30):
        await redis.set(f"xinyi:probe:{i}", i, ex=60)
    holders = {redis.get_node_from_key(f"xinyi:probe:{i}").port for i in range(30)}
    assert holders == set(redis_cluster.ports)


async def test_failed_logins_are_throttled_and_a_success_remembers_the_address(client):
    await client.admin_headers("desk", "desk-password")  # the account exists
    for _ in range(5):
        r = await client.post("/api/v1/admin/auth/login", json={"username": "desk", "password": "wrong"})
        assert r.status_code == 401
    r = await client.post("/api/v1/admin/auth/login", json={"username": "desk", "password": "desk-password"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


async def test_a_success_is_recorded_as_a_known_address(client):
    headers = await client.admin_headers("clerk", "clerk-password")
    assert headers["Authorization"].startswith("Bearer ")
    keys = [k async for k in _keys(client.app.ctx.redis, "xinyi:throttle:known:*")]
    assert len(keys) == 1


async def test_a_pass_scans_once_then_is_a_replay_and_redeems_once_per_key(client):
    shop = await f.make_shop(client)
    offer = await f.make_offer(client, shop, type="amount_off", value=500, label="立减5元", total_stock=5)
    resident = await f.make_resident(client, 61)
    token = (await f.issue_pass(client, resident["headers"]))["token"]
    first = await f.make_scan(client, shop["cashier"], token, f.store(shop))
    assert first.status_code == 201, first.text
    replay = await f.make_scan(client, shop["cashier"], token, f.store(shop))
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "PASS_ALREADY_USED"
    key = f.new_key()
    scan_id = first.json()["scan_id"]
    a = await f.redeem(client, shop["cashier"], scan_id, offer["id"], key=key, order_amount_fen=3000)
    b = await f.redeem(client, shop["cashier"], scan_id, offer["id"], key=key, order_amount_fen=3000)
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    state = await f.offer_state(client, shop, offer["id"])
    assert (state["redeemed_count"], state["remaining"]) == (1, 4)


async def test_passes_spent_are_each_refused_again_whatever_the_cluster_forgets(client):
    shop = await f.make_shop(client)
    tokens = []
    for seed in range(70, 76):
        resident = await f.make_resident(client, seed)
        tokens.append((await f.issue_pass(client, resident["headers"]))["token"])
    for token in tokens:
        assert (await f.make_scan(client, shop["cashier"], token, f.store(shop))).status_code == 201
    await _flush(client.app.ctx.redis)  # a failover that lost everything: PostgreSQL refuses a replay
    for token in tokens:
        again = await f.make_scan(client, shop["cashier"], token, f.store(shop))
        assert again.status_code == 409 and again.json()["error"]["code"] == "PASS_ALREADY_USED"


async def test_a_partners_nonce_is_refused_when_sent_again(client, id_number):
    partner = await f.make_partner(client)
    nonce, path = uuid.uuid4().hex, f"{f.PARTNER}/volunteer-hours/rec-1"
    first = await f.send_signed(client, partner, "PUT", path, f.volunteer_body(id_number(1)), nonce=nonce)
    assert first.status_code == 201, first.text
    again = await f.send_signed(client, partner, "PUT", path, f.volunteer_body(id_number(1)), nonce=nonce)
    assert again.status_code == 401 and again.json()["error"]["code"] == "NONCE_REUSED"


def test_the_sync_client_keeps_wechats_token_on_the_cluster(settings):
    client = connect_sync_redis(settings)
    try:
        client.set("xinyi:wechat:probe", "token", ex=30)
        assert client.get("xinyi:wechat:probe") == b"token"
    finally:
        client.close()


async def test_the_async_client_is_a_cluster_client(settings):
    redis = connect_redis(settings)
    try:
        assert is_cluster(redis) and await redis.ping()
    finally:
        await redis.aclose()


async def _flush(redis) -> None:
    for node in redis.get_primaries():
        await redis.flushall(target_nodes=node)


async def _keys(redis, pattern: str):
    for node in redis.get_primaries():
        for key in await redis.keys(pattern, target_nodes=node):
            yield key
