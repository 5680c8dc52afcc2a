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

_fake_server = None


def _shared_fake_server():
    global _fake_server
    if _fake_server is None:
        import fakeredis

        _fake_server = fakeredis.FakeServer()
    return _fake_server


def connect_redis(settings: Settings) -> aioredis.Redis:
    """An async client for ``REDIS_URL``, or the in-process store."""
    if settings.redis_url:
        return aioredis.from_url(
            settings.redis_url, **_options(AsyncRetry(ExponentialBackoff(**BACKOFF), RETRIES))
        )
    import fakeredis

    return fakeredis.FakeAsyncRedis(server=_shared_fake_server())


def connect_sync_redis(settings: Settings) -> sync_redis.Redis:
    """A blocking client over the same store, for wechatpy's token cache (it runs in a thread)."""
    if settings.redis_url:
        return sync_redis.Redis.from_url(
            settings.redis_url, **_options(SyncRetry(ExponentialBackoff(**BACKOFF), RETRIES))
        )
    import fakeredis

    return fakeredis.FakeRedis(server=_shared_fake_server())
