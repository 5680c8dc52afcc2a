"""Throttling of logins, token refreshes and public pages, on the ``limits`` library's moving windows.

Failed logins are counted three ways, each a ladder of windows (``5/minute;10/15 minutes;20/day``),
so the wait grows with the failures instead of one fixed lockout:

* per account **and** client address: what slows one person guessing one password;
* per client address, whatever the account: what slows one machine guessing usernames;
* per account, from addresses this account has not logged in from lately: what slows many
  machines guessing one password, **without** locking the account's owner out. An address from
  which the account logged in within ``KNOWN_ADDRESS_DAYS`` is "known", and a stranger's failures,
  however many, never count against it. The regulator at the usual desk keeps working while a
  stranger is being slowed.

A success clears the failures of its account and address pair. Resident logins (WeChat codes) and
refresh tokens of every audience are counted per address only (they carry no password to guess,
only tokens); public pages are counted per address on every request.

Counters live in Redis (the same client as the rest of the app). If Redis cannot be reached, the
calls raise ``RedisError`` and the request is answered 503: the throttle fails closed, it is never
skipped. Addresses and usernames are stored only as keyed hashes.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis import asyncio as aioredis
from sanic import Request

from server.crypto import KeyedHasher
from server.errors import AppError, TooManyRequests
from server.redis import cluster_options, is_cluster
from server.settings import Settings, parse_limits

KNOWN_ADDRESS_DAYS = 90
PUBLIC_PREFIXES = ("/api/v1/public/", "/public/", "/.well-known/")  # pages anyone may read, with no login


@dataclass(frozen=True)
class ThrottleLimits:
    """The ladders, from settings (see ``server.settings``)."""

    login_per_account_and_address: tuple[RateLimitItem, ...]
    login_per_address: tuple[RateLimitItem, ...]
    login_per_account: tuple[RateLimitItem, ...]
    tokens_per_address: tuple[RateLimitItem, ...]
    public_per_address: tuple[RateLimitItem, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottleLimits:
        return cls(
            login_per_account_and_address=parse_limits(
                "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", settings.login_failures_per_account_and_address
            ),
            login_per_address=parse_limits("LOGIN_FAILURES_PER_ADDRESS", settings.login_failures_per_address),
            login_per_account=parse_limits("LOGIN_FAILURES_PER_ACCOUNT", settings.login_failures_per_account),
            tokens_per_address=parse_limits(
                "TOKEN_FAILURES_PER_ADDRESS", settings.token_failures_per_address
            ),
            public_per_address=parse_limits(
                "PUBLIC_REQUESTS_PER_ADDRESS", settings.public_requests_per_address
            ),
        )


def client_address(request: Request) -> str:
    """The caller's address as the throttle groups it: IPv4 as is, IPv6 by its /64 (one subscriber's block).

    Behind a load balancer, ``PROXIES_COUNT`` tells Sanic how many ``X-Forwarded-For`` hops to trust;
    without it the socket's peer is used.
    """
    raw = request.remote_addr or request.ip or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Throttle:
    def __init__(self, redis: aioredis.Redis, hasher: KeyedHasher, limits: ThrottleLimits):
        storage: RedisStorage
        if is_cluster(redis):
            # a Redis Cluster: limits' cluster storage (its own RedisCluster client, same nodes and
            # credentials); each moving window is one key, each of its scripts touches that key only
            storage = RedisClusterStorage(
                "async+redis+cluster://",
                implementation="redispy",
                key_prefix="xinyi:throttle",
                **cluster_options(redis),
            )
        else:
            # the app's own pool (real Redis or the in-process store): one set of connections and health checks
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix="xinyi:throttle",
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # limits types options as scalars
            )
        self._limiter = MovingWindowRateLimiter(storage)
        self._redis = redis
        self._hash = hasher
        self.limits = limits

    def _id(self, value: str, purpose: str) -> str:
        return self._hash.digest(value.lower(), purpose=f"throttle:{purpose}")[:32]

    async def _waits(self, items: Sequence[RateLimitItem], *ids: str) -> float:
        """Seconds until every item of the ladder admits one more hit (0: admitted now)."""
        wait = 0.0
        for item in items:
            if not await self._limiter.test(item, *ids):
                stats = await self._limiter.get_window_stats(item, *ids)
                wait = max(wait, stats.reset_time - time.time())
        return wait

    @staticmethod
    def _refuse(wait: float, message: str) -> None:
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise TooManyRequests(message, headers={"Retry-After": str(retry)}, retry_after_s=retry)

    async def _hit(self, items: Sequence[RateLimitItem], *ids: str) -> None:
        for item in items:
            await self._limiter.hit(item, *ids)

    # -- password logins (staff, regulators) --------------------------------------------------------

    def _known_key(self, account: str) -> str:
        return f"xinyi:throttle:known:{account}"

    async def check_login(self, audience: str, username: str, address: str) -> None:
        """429 with ``Retry-After`` when this attempt must wait; called before the password is checked."""
        account, where = self._id(f"{audience}:{username}", "account"), self._id(address, "address")
        limits = self.limits
        wait = max(
            await self._waits(limits.login_per_account_and_address, "login-pair", account, where),
            await self._waits(limits.login_per_address, "login-address", where),
        )
        if wait == 0 and not await self._is_known(account, where):
            wait = await self._waits(limits.login_per_account, "login-account", account)
        self._refuse(wait, "Too many failed logins; try again later.")

    async def login_failed(self, audience: str, username: str, address: str) -> None:
        account, where = self._id(f"{audience}:{username}", "account"), self._id(address, "address")
        limits = self.limits
        await self._hit(limits.login_per_account_and_address, "login-pair", account, where)
        await self._hit(limits.login_per_address, "login-address", where)
        if not await self._is_known(account, where):
            await self._hit(limits.login_per_account, "login-account", account)

    async def login_succeeded(self, audience: str, username: str, address: str) -> None:
        account, where = self._id(f"{audience}:{username}", "account"), self._id(address, "address")
        for item in self.limits.login_per_account_and_address:
            await self._limiter.clear(item, "login-pair", account, where)
        key, now = self._known_key(account), time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {where: now})
            pipe.zremrangebyscore(key, "-inf", now - KNOWN_ADDRESS_DAYS * 86400)
            pipe.expire(key, KNOWN_ADDRESS_DAYS * 86400)
            await pipe.execute()

    async def _is_known(self, account: str, where: str) -> bool:
        seen = await self._redis.zscore(self._known_key(account), where)
        return seen is not None and seen >= time.time() - KNOWN_ADDRESS_DAYS * 86400

    # -- resident logins and refresh tokens ---------------------------------------------------------

    @asynccontextmanager
    async def token_attempt(self, address: str) -> AsyncIterator[None]:
        """Around a resident login or a refresh: waits when this address failed too often, counts a 401."""
        where = self._id(address, "address")
        self._refuse(
            await self._waits(self.limits.tokens_per_address, "tokens", where),
            "Too many failed attempts from this address; try again later.",
        )
        try:
            yield
        except AppError as exc:
            if exc.status_code == 401:
                await self._hit(self.limits.tokens_per_address, "tokens", where)
            raise

    # -- public pages -------------------------------------------------------------------------------

    async def public_request(self, address: str) -> None:
        """Counts one request to a public page; 429 once the address is over its ladder."""
        where = self._id(address, "address")
        for item in self.limits.public_per_address:
            if not await self._limiter.hit(item, "public", where):
                stats = await self._limiter.get_window_stats(item, "public", where)
                self._refuse(max(stats.reset_time - time.time(), 1.0), "Too many requests; slow down.")
