"""HMAC request signing for partners (and, the same recipe, for the webhooks sent to them).

The signature is lowercase hex HMAC-SHA256 under the partner's secret (its UTF-8 bytes) of::

    METHOD \\n PATH?QUERY \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body))

PATH?QUERY is the request target exactly as sent (percent-encoding untouched, no ``?`` when
there is no query). A request is checked in this order: headers present and well formed → key
known → timestamp within ±300 s → signature (constant-time, against the current secret and the
previous one during its grace period) → nonce unused (only now, so an unsigned request cannot
burn a partner's nonces) → scope. The nonce is kept in Redis for the whole window in which its
timestamp would still be accepted, and a Redis outage answers 503: the check is never skipped.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sanic import Request
from sanic.response import HTTPResponse
from tortoise.exceptions import IntegrityError

from partners import service
from partners.exceptions import (
    NonceReused,
    ReplayGuardUnavailable,
    ScopeMissing,
    SignatureInvalid,
    TimestampSkew,
)
from partners.models import Partner, PartnerNonce
from server.context import FrameContext
from server.crypto import FieldCipher
from server.http import Handler
from server.tasks import purge_every

KEY_HEADER = "X-Partner-Key"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
SIGNATURE_HEADER = "X-Signature"
MAX_SKEW_S = 300
NONCE_TTL_S = 600
RETRY_AFTER_S = 5

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_NONCE = re.compile(r"^[A-Za-z0-9._~-]{8,128}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")


# --- the recipe (pure) -------------------------------------------------------------------


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path_qs: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    return f"{method.upper()}\n{path_qs}\n{timestamp}\n{nonce}\n{body_sha256(body)}"


def sign(secret: str, method: str, path_qs: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the request (or webhook) under ``secret``."""
    message = string_to_sign(method, path_qs, timestamp, nonce, body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def signed_headers(
    key: str | None,
    secret: str,
    method: str,
    path_qs: str,
    body: bytes = b"",
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers of a signed request (without ``X-Partner-Key`` when ``key`` is None, as for webhooks)."""
    timestamp = int(time.time() if now is None else now)
    nonce = nonce or new_nonce()
    headers = {
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, method, path_qs, timestamp, nonce, body),
    }
    if key is not None:
        headers = {KEY_HEADER: key, **headers}
    return headers


def signature_matches(signature: str, expected: Iterable[str]) -> bool:
    """Constant-time comparison against every candidate (no early exit on the first match)."""
    given = signature.lower().encode()
    ok = False
    for candidate in expected:
        ok |= hmac.compare_digest(given, candidate.encode())
    return ok


# --- verifying a request ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    key: str
    timestamp: int
    nonce: str
    signature: str
    method: str
    path_qs: str
    body: bytes


def request_target(request: Request) -> str:
    """The path and query exactly as sent (no ``?`` when the query is empty)."""
    query = request.query_string
    return f"{request.path}?{query}" if query else request.path


def read_signed_request(request: Request) -> SignedRequest:
    """The signature headers of ``request``; 401 ``SIGNATURE_INVALID`` when one is missing or malformed."""
    shapes = {
        KEY_HEADER: _KEY,
        TIMESTAMP_HEADER: _TIMESTAMP,
        NONCE_HEADER: _NONCE,
        SIGNATURE_HEADER: _SIGNATURE,
    }
    values = {name: (request.headers.get(name) or "").strip() for name in shapes}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SignatureInvalid(f"Missing signature headers: {', '.join(missing)}.")
    for name, shape in shapes.items():
        if not shape.match(values[name]):
            raise SignatureInvalid(f"Malformed {name} header.")
    return SignedRequest(
        key=values[KEY_HEADER],
        timestamp=int(values[TIMESTAMP_HEADER]),
        nonce=values[NONCE_HEADER],
        signature=values[SIGNATURE_HEADER],
        method=request.method,
        path_qs=request_target(request),
        body=request.body or b"",
    )


async def verify_signed_request(
    signed: SignedRequest, *, redis: aioredis.Redis, cipher: FieldCipher, now: datetime
) -> Partner:
    """The partner that signed this request, or the contract's 401 (503 when Redis is down)."""
    partner = await service.find_by_key(signed.key)
    if partner is None:
        raise SignatureInvalid()
    now_s = int(now.timestamp())
    if abs(now_s - signed.timestamp) > MAX_SKEW_S:
        raise TimestampSkew(server_time=now_s)
    expected = [
        sign(secret, signed.method, signed.path_qs, signed.timestamp, signed.nonce, signed.body)
        for secret in service.verification_secrets(partner, cipher=cipher, now=now)
    ]
    if not signature_matches(signed.signature, expected):
        raise SignatureInvalid()
    # Keep the nonce at least as long as its timestamp stays acceptable (ts + 300 s), and never
    # less than the contract's 10 minutes.
    ttl = max(NONCE_TTL_S, signed.timestamp + MAX_SKEW_S - now_s + 1)
    key, mark = f"partner-nonce:{partner.id}:{signed.nonce}", secrets.token_hex(8).encode()
    try:
        fresh = await redis.set(key, mark, nx=True, ex=ttl)
        # The client retries a command whose connection failed: if the first try did set the key
        # before its answer was lost, the key holds this request's own mark.
        fresh = fresh or await redis.get(key) == mark
    except (RedisError, OSError):
        raise ReplayGuardUnavailable(headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    if not fresh:
        raise NonceReused()
    try:  # the database is the authority: Redis may have forgotten an earlier use of the nonce
        await PartnerNonce.create(
            partner_id=partner.id, nonce=signed.nonce, expires_at=now + timedelta(seconds=ttl)
        )
    except IntegrityError:
        raise NonceReused() from None
    except Exception:
        # Not stored (the database is unavailable: 503): nothing was done, so the nonce is given
        # back and the same signed request may be sent again. Had the row been written after all,
        # the retry is refused NONCE_REUSED by it, and a new nonce is the way (as after any 503).
        with contextlib.suppress(RedisError, OSError):
            await redis.delete(key)
        raise
    return partner


async def purge_nonces(now: datetime) -> int:
    """Forget nonces whose window is over (a request signed with one is refused for its timestamp by then)."""
    return await PartnerNonce.filter(expires_at__lt=now).delete()


def start(ctx: FrameContext) -> None:
    """Purge nonces past their window every minute, while the app runs."""
    ctx.start_task(purge_every(60.0, purge_nonces, what="partner nonces"))


def signed_partner(scope: str | None) -> Callable[[Handler], Handler]:
    """Route decorator: a correctly signed partner request holding ``scope`` (None: any partner).

    Puts the partner on ``request.ctx.partner`` and the instant it was verified at on
    ``request.ctx.now`` (the clock the handler should pass to services).
    """

    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            signed = read_signed_request(request)
            ctx = request.app.ctx
            now = ctx.clock()
            partner = await verify_signed_request(signed, redis=ctx.redis, cipher=ctx.cipher, now=now)
            if scope is not None and not partner.has_scope(scope):
                needed = str(getattr(scope, "value", scope))
                raise ScopeMissing(f"This call needs the scope {needed!r}.", scope=needed)
            request.ctx.partner = partner
            request.ctx.now = now
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorator
