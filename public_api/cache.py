"""The public pages' short cache and their HTTP caching headers.

Answers are kept in the app's Redis (or its in-process store) for ``CACHE_TTL_S`` seconds under a
key made of the page, its normalised query and, for the lists, the lists' version
(``rights.publicity.list_version``): an entry that leaves a list changes the version, so the next
request misses the cache and the entry is gone at once. Browsers and proxies get an ``ETag`` and
``Cache-Control: public, no-cache``: they may keep the page but ask again each time (a 304 when
nothing changed), so they never show an exited entry either.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError
from sanic import Request
from sanic.response import HTTPResponse

from server.http import json

log = logging.getLogger(__name__)

CACHE_TTL_S = 30
CACHE_CONTROL = "public, no-cache"
_PREFIX = "xinyi:public:"


def cache_key(*parts: Any) -> str:
    """A fixed-length key from the page's name and its normalised query (a cursor may be long)."""
    raw = "\x1f".join("" if part is None else str(part) for part in parts)
    return _PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:40]


async def cached_json(request: Request, key: str, produce: Callable[[], Awaitable[Any]]) -> bytes:
    """The JSON body under ``key``, produced (and kept ``CACHE_TTL_S`` seconds) when missing."""
    redis = request.app.ctx.redis
    hit = await redis.get(key)
    if hit is not None:
        return hit if isinstance(hit, bytes) else str(hit).encode()
    body = json(await produce()).body or b""
    try:
        await redis.set(key, body, ex=CACHE_TTL_S)
    except RedisError:  # the answer is right without the cache; the next request tries again
        log.warning("the public cache could not be written")
    return body


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def conditional(
    request: Request, body: bytes, *, content_type: str, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """200 with the body, or 304 when the client's ``If-None-Match`` names this body's ETag."""
    etag = etag_of(body)
    common = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding", **(headers or {})}
    wanted = request.headers.get("if-none-match", "")
    if etag in {tag.strip() for tag in wanted.split(",")} or wanted.strip() == "*":
        return HTTPResponse(status=304, headers=common)
    return HTTPResponse(body, status=200, headers=common, content_type=content_type)
