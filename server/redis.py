"""Redis, or the in-process stand-in behind the same ``redis.asyncio`` interface.

With ``REDIS_URL`` unset the app uses ``fakeredis`` (with Lua) inside the process: fine for
``make run`` on a laptop with one worker, wrong for several workers, which would each have their
own store. ``server.cli`` therefore refuses ``--workers 2`` without ``REDIS_URL``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis as sync_redis
import redis.asyncio as aioredis

if TYPE_CHECKING:
    from server.settings import Settings

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
            settings.redis_url,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            health_check_interval=30,
        )
    import fakeredis

    return fakeredis.FakeAsyncRedis(server=_shared_fake_server())


def connect_sync_redis(settings: Settings) -> sync_redis.Redis:
    """A blocking client over the same store, for wechatpy's token cache (it runs in a thread)."""
    if settings.redis_url:
        return sync_redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    import fakeredis

    return fakeredis.FakeRedis(server=_shared_fake_server())
