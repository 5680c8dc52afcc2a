"""Redis, or the in-process stand-in behind the same ``redis.asyncio`` interface.

With ``REDIS_URL`` unset the app uses ``fakeredis`` (with Lua) inside the process: fine for
``make run`` on a laptop with one worker, wrong for several workers, which would each have their
own store. ``server.cli`` therefore refuses ``--workers 2`` without ``REDIS_URL``.

A Redis that restarts (or fails over) closes every pooled connection. The clients retry a
command that failed on its connection (refused, reset, timed out) on a new one, a few times with
exponential backoff, so the first request after Redis is back is served rather than failing on
a connection that died meanwhile; and a connection idle longer than ``HEALTH_CHECK_S`` is pinged
before it is used. While Redis stays down, a command fails after ``RETRIES`` retries (under a
second when connections are refused) and the request answers 503 with ``Retry-After``.

**Redis Cluster.** A ``REDIS_URL`` of scheme ``redis+cluster://`` (``rediss+cluster://`` for TLS)
lists startup nodes, ``redis+cluster://[user:password@]host:port,host:port,…``; ``REDIS_CLUSTER=1``
makes a plain ``redis://host:port`` URL a cluster's startup node too. The clients are then redis-py's
own ``RedisCluster`` (async and sync), which follow the slots and fail-overs themselves. What the
app keeps in Redis holds on a cluster because every command touches one key (partners'
nonces, cached entry codes, WeChat's token) or the keys of one script
(``limits``' moving windows: one key per script) or one pipeline on one key (the throttle's known
addresses): nothing spans slots, so no hash tag is needed today. A future command over several
keys must put them in one slot with a hash tag (``xinyi:{resident-id}:…``); ``same_slot`` checks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis as sync_redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as SyncRetry

if TYPE_CHECKING:
    from server.settings import Settings

SOCKET_TIMEOUT_S = 2.0
HEALTH_CHECK_S = 10
RETRIES = 3
BACKOFF = {"base": 0.05, "cap": 0.5}  # 0.1, 0.2, 0.4 s between the attempts


def _options(retry: Any) -> dict[str, Any]:
    return {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_S,
        "retry": retry,
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


Redis = aioredis.Redis
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str | None, *, flag: bool = False) -> bool:
    """Whether ``url`` names a Redis Cluster (its scheme, or ``REDIS_CLUSTER=1`` with a plain URL)."""
    return bool(url) and (flag or str(url).startswith(CLUSTER_SCHEMES))


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The startup nodes of a cluster URL and its connection options (credentials, TLS).

    ``redis+cluster://user:pw@h1:7000,h2:7001/0`` → ``[("h1", 7000), ("h2", 7001)]``,
    ``{"username": "user", "password": "pw"}``. A cluster has only database 0.
    """
    scheme, _, rest = url.partition("://")
    options: dict[str, Any] = {}
    if scheme.startswith("rediss"):
        options["ssl"] = True
    rest = rest.split("?", 1)[0]
    hosts, _, db = rest.partition("/")
    if db not in ("", "0"):
        raise ValueError(f"a Redis Cluster has only database 0, REDIS_URL names {db!r}")
    if "@" in hosts:
        auth, _, hosts = hosts.rpartition("@")
        from urllib.parse import unquote

        user, sep, password = auth.partition(":")
        if sep:
            if user:
                options["username"] = unquote(user)
            options["password"] = unquote(password)
        else:
            options["password"] = unquote(user)
    nodes: list[tuple[str, int]] = []
    for part in filter(None, hosts.split(",")):
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "6379")
        nodes.append((host.strip("[]"), int(port or 6379)))
    if not nodes:
        raise ValueError("REDIS_URL names no Redis Cluster node")
    return nodes, options


def same_slot(*keys: str) -> bool:
    """Whether ``keys`` hash to one cluster slot (what a multi-key command or script needs)."""
    from redis.cluster import key_slot

    return len({key_slot(k.encode()) for k in keys}) <= 1


def is_cluster(client: Any) -> bool:
    return isinstance(client, (aioredis.RedisCluster, sync_redis.RedisCluster))


def cluster_options(client: Any) -> dict[str, Any]:
    """What another ``RedisCluster`` needs to reach the nodes of ``client`` (startup nodes, credentials, timeouts)."""
    from redis.asyncio.cluster import ClusterNode

    kwargs = client.connection_kwargs
    options: dict[str, Any] = {
        "startup_nodes": [ClusterNode(n.host, n.port) for n in client.nodes_manager.startup_nodes.values()],
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        "max_connections": 100,
    }
    for name in ("username", "password"):
        if kwargs.get(name):
            options[name] = kwargs[name]
    if client.connection_kwargs.get("connection_class").__name__.startswith("SSL"):
        options["ssl"] = True
    return options


_fake_server = None


def _shared_fake_server():
    global _fake_server
    if _fake_server is None:
        import fakeredis

        _fake_server = fakeredis.FakeServer()
    return _fake_server


def connect_redis(settings: Settings) -> aioredis.Redis:
    """An async client for ``REDIS_URL`` (a ``RedisCluster`` for a cluster URL), or the in-process store."""
    return _connect_redis(settings)


def _connect_redis(settings: Settings) -> Any:
    if settings.redis_url and is_cluster_url(settings.redis_url, flag=settings.redis_cluster):
        from redis.asyncio.cluster import ClusterNode

        nodes, auth = cluster_nodes(settings.redis_url)
        return aioredis.RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes],
            **auth,
            **_options(AsyncRetry(ExponentialBackoff(**BACKOFF), RETRIES)),
        )
    if settings.redis_url:
        return aioredis.from_url(
            settings.redis_url, **_options(AsyncRetry(ExponentialBackoff(**BACKOFF), RETRIES))
        )
    import fakeredis

    return fakeredis.FakeAsyncRedis(server=_shared_fake_server())


def connect_sync_redis(settings: Settings) -> sync_redis.Redis:
    """A blocking client over the same store, for wechatpy's token cache (it runs in a thread)."""
    if settings.redis_url and is_cluster_url(settings.redis_url, flag=settings.redis_cluster):
        from redis.cluster import ClusterNode as SyncClusterNode

        nodes, auth = cluster_nodes(settings.redis_url)
        return sync_redis.RedisCluster(  # type: ignore[return-value]  # the commands wechatpy uses are the same
            startup_nodes=[SyncClusterNode(host, port) for host, port in nodes],
            **auth,
            **_options(SyncRetry(ExponentialBackoff(**BACKOFF), RETRIES)),
        )
    if settings.redis_url:
        return sync_redis.Redis.from_url(
            settings.redis_url, **_options(SyncRetry(ExponentialBackoff(**BACKOFF), RETRIES))
        )
    import fakeredis

    return fakeredis.FakeRedis(server=_shared_fake_server())
