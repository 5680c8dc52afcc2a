"""Webhooks to partners: a transactional outbox and the worker that delivers it.

**Never lost.** An event is a ``WebhookDelivery`` row written in the transaction of the change
that causes it (a tier change through ``credit.service.tier_change_hooks``, a grant revocation),
so it exists exactly when the change committed, and it stays until a receiver acknowledged it
with a 2xx or its retry window ran out. A restart loses nothing: the worker of the next process
picks up pending rows.

**Claiming.** A worker claims a batch of due rows in one statement and marks them
``delivering`` with a lease (on PostgreSQL ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED)``, so concurrent workers take disjoint rows without waiting for each other; on SQLite,
whose writers are serialised anyway, one conditional UPDATE per row). The row lock lasts only
for that statement, not for the HTTP call: a slow receiver never holds a database connection.
A worker that dies mid-delivery leaves rows ``delivering``; they become claimable again when
their lease (the HTTP timeout plus a margin) has expired. The outcome is recorded only under
the claim (``WHERE claimed_by = me AND status = 'delivering'``), so an event acknowledged by a
2xx is marked delivered once and never claimed again: each event id reaches a receiver at most
once after a 2xx (before one, receivers may see retries and de-duplicate by ``X-Event-Id``).

**Retries.** Any non-2xx, timeout or connection error is retried with exponential backoff and
full jitter (a uniform delay in ``[0, min(WEBHOOK_BACKOFF_MAX_S, WEBHOOK_BACKOFF_BASE_S · 2^(n-1))]``
after the n-th attempt, as AWS's "Exponential Backoff And Jitter" recommends to spread retries
of many events that failed together) until ``WEBHOOK_RETRY_FOR_S`` after the event (or an
admin's redelivery); then the row is ``failed``.

**Latency.** On PostgreSQL the writer also sends ``NOTIFY xinyi_webhooks`` in its transaction;
PostgreSQL delivers it at commit, so a listening worker wakes up as soon as the event is
visible. Without it (SQLite, or the listening connection lost) the worker looks at the outbox
every ``WEBHOOK_POLL_S`` and at the next due retry.

**SSRF.** In ``prod`` the URL is checked again before every attempt (https, every address
public) and the request goes to an address that was checked, with the original host name for
the Host header, TLS SNI and certificate verification, so a DNS answer changed between the check
and the connection cannot point the request inside. Redirects are not followed and at most 64 KiB
of an answer is read (to keep the connection), never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from tortoise import connections
from tortoise.expressions import F, Q
from tortoise.functions import Count, Min

from credit.models import Subject
from partners.exceptions import WebhookAlreadyDelivered, WebhookDeliveryInFlight, WebhookDeliveryNotFound
from partners.models import DeliveryStatus, Grant, GrantStatus, Partner, WebhookDelivery
from partners.service import current_secret
from partners.signing import signed_headers
from partners.webhook_url import IPAddress, Resolver, WebhookUrlRejected, check_webhook_url
from residents.models import Resident
from residents.service import is_consented
from server.context import FrameContext
from server.crypto import FieldCipher
from server.dbtypes import DbConn, column_values
from server.http import page
from server.metrics import WEBHOOK_BACKLOG, WEBHOOK_OLDEST_AGE, Reading
from server.outage import Backoff, unavailable
from server.pagination import keyset_page
from server.settings import Settings

log = logging.getLogger("xinyi.webhooks")

TIER_CHANGED = "tier.changed"
GRANT_REVOKED = "grant.revoked"
NOTIFY_CHANNEL = "xinyi_webhooks"
EVENT_ID_HEADER = "X-Event-Id"
USER_AGENT = "xinyi-webhooks/1"
MAX_ERROR_CHARS = 500
MAX_ANSWER_BYTES = 64 * 1024  # a receiver's answer is never stored: read at most this much of it
NO_URL = "the partner has no webhook URL"
ACK_FLUSH_S = 0.01  # acknowledgements noted within this are written with one statement
CLAIM_COALESCE_S = 0.02  # a busy worker waits at most this for more free slots before claiming
RESOLVE_TIMEOUT_S = 5.0
LISTEN_RETRY_S = 30.0
CLAIM_RETRY_MAX_S = 30.0  # the longest pause between claims while the database is down


# ===========================================================================================
# The outbox (called inside the transaction of the change)
# ===========================================================================================


def _is_postgres(conn: DbConn) -> bool:
    return conn.capabilities.dialect == "postgres"


def event_body(event_id: uuid.UUID, event_type: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The JSON every attempt sends: ``{"id","type","created_at","data"}``."""
    return orjson.dumps(
        {
            "id": str(event_id),
            "type": event_type,
            "created_at": created_at.astimezone(UTC).isoformat(),
            "data": data,
        }
    ).decode()


async def enqueue(
    conn: DbConn, events: Sequence[tuple[uuid.UUID, str, dict[str, Any]]], *, now: datetime
) -> list[uuid.UUID]:
    """Write events ``(partner_id, type, data)`` to the outbox in ``conn``'s transaction; wake the workers at commit."""
    rows = []
    for partner_id, event_type, data in events:
        event_id = uuid.uuid4()
        rows.append(
            WebhookDelivery(
                id=event_id,
                partner_id=partner_id,
                type=event_type,
                body=event_body(event_id, event_type, now, data),
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                window_started_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    if not rows:
        return []
    await WebhookDelivery.bulk_create(rows, using_db=conn)
    if _is_postgres(conn):
        await conn.execute_query(
            f"NOTIFY {NOTIFY_CHANNEL}"
        )  # delivered when (and only if) the transaction commits
    return [r.id for r in rows]


async def _partners_with_url(conn: DbConn, partner_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not partner_ids:
        return set()
    query = Partner.filter(id__in=partner_ids, webhook_url__isnull=False).using_db(conn)
    return set(await column_values(query, "id"))


async def on_tier_change(conn: DbConn, subject: Subject, previous_tier: str, new_tier: str) -> None:
    """``tier.changed`` for every partner holding an active grant of the resident with ``tier:read``.

    A grant without ``tier:read`` does not hear about tiers, nor does any partner of a resident
    who withdrew consent: the event discloses the tier, which those partners may not read (see
    ``partners.grants.require_grant``). Runs in the transaction of the change.
    """
    resident_id = getattr(subject, "resident_id", None)
    if resident_id is None:
        return
    now = datetime.now(UTC)
    grants = await Grant.filter(
        resident_id=resident_id, status=GrantStatus.ACTIVE.value, expires_at__gt=now
    ).using_db(conn)
    holders = {g.partner_id: g for g in grants if "tier:read" in (g.scopes or [])}
    if not holders:
        return
    resident = await Resident.get_or_none(id=resident_id, using_db=conn)
    if resident is None or not is_consented(resident):
        return
    with_url = await _partners_with_url(conn, set(holders))
    await enqueue(
        conn,
        [
            (
                partner_id,
                TIER_CHANGED,
                {
                    "partner_user_ref": grant.partner_user_ref,
                    "tier": new_tier,
                    "previous_tier": previous_tier,
                    "as_of": now.isoformat(),
                },
            )
            for partner_id, grant in holders.items()
            if partner_id in with_url
        ],
        now=now,
    )


async def enqueue_grant_revoked(conn: DbConn, grant: Grant, *, now: datetime) -> None:
    """``grant.revoked`` to the partner of this grant, in the revocation's transaction."""
    if await _partners_with_url(conn, {grant.partner_id}):
        await enqueue(
            conn, [(grant.partner_id, GRANT_REVOKED, {"partner_user_ref": grant.partner_user_ref})], now=now
        )


# ===========================================================================================
# The worker
# ===========================================================================================


@dataclass(frozen=True)
class WebhookConfig:
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    retry_for_s: float = 86400.0
    timeout_s: float = 10.0
    poll_s: float = 1.0
    prod: bool = False
    concurrency: int = 32  # attempts in flight at once, per worker
    lease_margin_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        return cls(
            backoff_base_s=settings.webhook_backoff_base_s,
            backoff_max_s=settings.webhook_backoff_max_s,
            retry_for_s=settings.webhook_retry_for_s,
            timeout_s=settings.webhook_timeout_s,
            poll_s=settings.webhook_poll_s,
            prod=settings.is_prod,
        )

    @property
    def claim_chunk(self) -> int:
        """A busy worker claims when this many slots are free (or after ``CLAIM_COALESCE_S``)."""
        return max(1, self.concurrency // 4)

    @property
    def attempt_deadline_s(self) -> float:
        """The most one attempt may take: resolving the host (prod) and the HTTP exchange."""
        return self.timeout_s + RESOLVE_TIMEOUT_S + 1.0

    @property
    def lease(self) -> timedelta:
        """How long a claim holds: longer than any attempt can take, so two workers never send one event at once."""
        return timedelta(seconds=self.attempt_deadline_s + self.lease_margin_s)

    def backoff_s(self, attempts: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Full jitter: uniform in [0, min(max, base · 2^(attempts-1))]."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** min(max(attempts - 1, 0), 60))
        return rng(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    partner_id: uuid.UUID
    type: str
    body: str
    attempts: int
    window_started_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None


_CLAIM_SQL = f"""
UPDATE {WebhookDelivery._meta.db_table} AS d
SET status = 'delivering', claimed_by = $1, lease_until = $2, attempts = d.attempts + 1,
    last_attempt_at = $3, updated_at = $3
WHERE d.id IN (
    SELECT id FROM {WebhookDelivery._meta.db_table}
    WHERE (status = 'pending' AND next_attempt_at <= $3) OR (status = 'delivering' AND lease_until < $3)
    ORDER BY next_attempt_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
RETURNING d.id, d.partner_id, d.type, d.body, d.attempts, d.window_started_at
"""


def _due(now: datetime) -> Q:
    return Q(status=DeliveryStatus.PENDING.value, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.DELIVERING.value, lease_until__lt=now
    )


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def claim_due(worker_id: str, *, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for ``worker_id`` (see the module docstring)."""
    conn = connections.get("default")
    lease_until = now + lease
    if _is_postgres(conn):
        async with conn.acquire_connection() as raw:
            rows = await raw.fetch(_CLAIM_SQL, worker_id, lease_until, now, limit)
        return [
            Claimed(
                id=_as_uuid(r["id"]),
                partner_id=_as_uuid(r["partner_id"]),
                type=r["type"],
                body=r["body"],
                attempts=r["attempts"],
                window_started_at=_as_datetime(r["window_started_at"]),
            )
            for r in rows
        ]
    candidates = (
        await WebhookDelivery.filter(_due(now))
        .order_by("next_attempt_at", "id")
        .limit(limit)
        .values_list("id", flat=True)
    )
    claimed_ids = []
    for delivery_id in candidates:
        # Conditional on still being due: of two claimers of one row, one updates it.
        taken = await WebhookDelivery.filter(_due(now), id=delivery_id).update(
            status=DeliveryStatus.DELIVERING.value,
            claimed_by=worker_id,
            lease_until=lease_until,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            updated_at=now,
        )
        if taken:
            claimed_ids.append(delivery_id)
    if not claimed_ids:
        return []
    rows = await WebhookDelivery.filter(id__in=claimed_ids, claimed_by=worker_id).order_by(
        "next_attempt_at", "id"
    )
    return [
        Claimed(
            id=r.id,
            partner_id=r.partner_id,
            type=r.type,
            body=r.body,
            attempts=r.attempts,
            window_started_at=r.window_started_at,
        )
        for r in rows
    ]


async def next_due_in(now: datetime) -> float | None:
    """Seconds until the earliest pending retry or expiring lease (None: nothing waits)."""
    pending = (
        await WebhookDelivery.filter(status=DeliveryStatus.PENDING.value).order_by("next_attempt_at").first()
    )
    leased = (
        await WebhookDelivery.filter(status=DeliveryStatus.DELIVERING.value).order_by("lease_until").first()
    )
    moments = [
        d
        for d in (pending.next_attempt_at if pending else None, leased.lease_until if leased else None)
        if d is not None
    ]
    if not moments:
        return None
    return max((min(moments) - now).total_seconds(), 0.0)


def _target(url: str) -> tuple[str, str]:
    """(host, the path?query signed): the request target exactly as it goes on the wire.

    httpx percent-encodes what a URL leaves raw (non-ASCII characters), so the signature is
    computed over its encoding, which is what the receiver reads in its request line.
    """
    return urlsplit(url).hostname or "", httpx.URL(url).raw_path.decode("ascii")


def _url_at(url: str, address: IPAddress) -> str:
    """``url`` with its host replaced by a checked address (brackets for IPv6)."""
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


async def _drain(response: httpx.Response) -> None:
    """Read a small answer to its end so the connection is reused; a large one is cut off (and the connection closed)."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > MAX_ANSWER_BYTES:
            break


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class WebhookWorker:
    """Claims due webhook deliveries and sends them; one per process (inside ``serve`` or ``xinyi webhooks-worker``)."""

    def __init__(
        self,
        *,
        cipher: FieldCipher,
        config: WebhookConfig,
        database_url: str | None = None,
        resolve: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        name: str | None = None,
    ):
        self.cipher = cipher
        self.config = config
        self.database_url = database_url
        self.resolve = resolve
        self.clock = clock
        self.id = name or f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._listener: Any = None
        self._next_listen_try = 0.0
        self._listen_failed = False
        self._acks: list[tuple[uuid.UUID, int | None]] = []
        self._claim_backoff = Backoff(first_s=max(config.poll_s, 0.05), cap_s=CLAIM_RETRY_MAX_S)
        self._ack_flush: asyncio.Task | None = None
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(config.timeout_s, connect=min(5.0, config.timeout_s)),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the request goes where it was checked to go
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(
                max_connections=config.concurrency, max_keepalive_connections=config.concurrency
            ),
        )

    # --- the loop -------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped (attempts in flight finish) or cancelled (they are given back).

        A pipeline, not rounds: up to ``concurrency`` attempts are in flight, and a free slot is
        filled by a new claim at once, so a receiver that takes its whole timeout to answer holds
        one slot, not the deliveries of every other partner. A failing database is logged and
        retried at the next poll, never fatal.
        """
        await self._listen()
        in_flight: set[asyncio.Task] = set()
        try:
            while not self._stopping:
                free = self.config.concurrency - len(in_flight)
                if in_flight and free < self.config.claim_chunk:
                    # Busy: let a few slots free up before claiming, so that a loaded worker claims
                    # in chunks (two statements for many events) rather than once per event.
                    await asyncio.wait(
                        in_flight, timeout=CLAIM_COALESCE_S, return_when=asyncio.FIRST_COMPLETED
                    )
                    free = self.config.concurrency - len(in_flight)
                started = 0
                if free > 0:
                    try:
                        started = await self._start(free, in_flight)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - the worker outlives a database outage
                        await self._claim_failed(exc)
                        continue
                    self._claim_backoff.succeeded()
                if self._stopping:
                    break
                if free > 0 and started == free:
                    continue  # every slot taken: more may be due
                if len(in_flight) >= self.config.concurrency:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                await self._idle()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            await self.flush_acks()  # before giving claims back: an acknowledged event is never sent again
            await self.release_claims()
            await self.close()

    async def _claim_failed(self, exc: Exception) -> None:
        """Log a failed claim and wait before the next: a pause that doubles up to ``CLAIM_RETRY_MAX_S`` while it fails."""
        delay = self._claim_backoff.failed()
        if service := unavailable(exc):
            log.warning(
                "webhook worker %s: claiming failed, the %s is unavailable (%s); again in %.1f s",
                self.id,
                service,
                type(exc).__name__,
                delay,
            )
        else:
            log.exception("webhook worker %s: claiming failed", self.id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)  # stop() ends the pause
        self._wake.clear()

    async def _idle(self) -> None:
        """Wait for a NOTIFY, a retry falling due, a lease running out or the next poll."""
        wait = self.config.poll_s
        with contextlib.suppress(Exception):
            due = await next_due_in(self.clock())
            if due is not None:
                wait = min(wait, due)
        if self._listener is None and self.database_url and self.database_url.startswith("postgres://"):
            await self._listen()  # the listening connection was lost: try again, polling meanwhile
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
        self._wake.clear()

    async def _claim(self, limit: int) -> list[tuple[Claimed, Partner | None]]:
        claimed = await claim_due(self.id, now=self.clock(), lease=self.config.lease, limit=limit)
        if not claimed:
            return []
        partners = {p.id: p for p in await Partner.filter(id__in={c.partner_id for c in claimed})}
        return [(c, partners.get(c.partner_id)) for c in claimed]

    async def _start(self, limit: int, in_flight: set[asyncio.Task]) -> int:
        """Claim up to ``limit`` due deliveries and start sending them; the number started."""
        claimed = await self._claim(limit)
        for item, partner in claimed:
            task = asyncio.create_task(self._deliver(item, partner))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        return len(claimed)

    async def run_once(self) -> int:
        """Claim up to ``concurrency`` due deliveries, send them, record the outcomes; the number claimed."""
        claimed = await self._claim(self.config.concurrency)
        await asyncio.gather(*(self._deliver(item, partner) for item, partner in claimed))
        await self.flush_acks()
        return len(claimed)

    async def drain(self, *, rounds: int = 100) -> int:
        """Deliver what is due now, round after round, until nothing is (``xinyi webhooks-worker --once``)."""
        total = 0
        for _ in range(rounds):
            done = await self.run_once()
            if not done:
                break
            total += done
        return total

    async def _deliver(self, claimed: Claimed, partner: Partner | None) -> None:
        outcome = await self._attempt_safely(claimed, partner)
        if outcome.ok:
            self._acknowledge(claimed.id, outcome.status_code)
            return
        try:
            await self._record_failure(claimed, outcome)
        except Exception:  # noqa: BLE001 - the claim's lease brings the event back
            log.exception("webhook %s: recording the outcome failed", claimed.id)
        self._wake.set()  # a retry may now fall due before the idle loop's next look

    # --- outcomes -------------------------------------------------------------------------

    def _acknowledge(self, delivery_id: uuid.UUID, status_code: int | None) -> None:
        """Mark an acknowledged event delivered, with others acknowledged within ``ACK_FLUSH_S`` (one UPDATE).

        Until then the row stays ``delivering`` under this worker's lease, so no one sends it again.
        """
        self._acks.append((delivery_id, status_code))
        if self._ack_flush is None or self._ack_flush.done():
            self._ack_flush = asyncio.create_task(self._flush_acks_soon())

    async def _flush_acks_soon(self) -> None:
        await asyncio.sleep(ACK_FLUSH_S)
        await self.flush_acks()

    async def flush_acks(self) -> None:
        """Write every acknowledgement noted so far (only rows this worker still holds)."""
        while self._acks:
            acks, self._acks = self._acks, []
            now = self.clock()
            by_status: dict[int | None, list[uuid.UUID]] = {}
            for delivery_id, status_code in acks:
                by_status.setdefault(status_code, []).append(delivery_id)
            for status_code, ids in by_status.items():
                try:
                    await WebhookDelivery.filter(
                        id__in=ids, claimed_by=self.id, status=DeliveryStatus.DELIVERING.value
                    ).update(
                        status=DeliveryStatus.DELIVERED.value,
                        delivered_at=now,
                        lease_until=None,
                        last_status_code=status_code,
                        last_error=None,
                        updated_at=now,
                    )
                except Exception:  # noqa: BLE001 - unrecorded, the events are sent again after the lease
                    log.exception(
                        "webhook worker %s: recording %d acknowledgements failed", self.id, len(ids)
                    )

    async def close(self) -> None:
        await self._client.aclose()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def _listen(self) -> None:
        """LISTEN for the writers' NOTIFY on a connection of its own (PostgreSQL only; best effort).

        Behind a pooler in transaction mode (PgBouncer) LISTEN does not work: the worker then
        polls, says so once, and tries again every ``LISTEN_RETRY_S``.
        """
        if (
            not (self.database_url and self.database_url.startswith("postgres://"))
            or self._listener is not None
        ):
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_listen_try:
            return
        self._next_listen_try = loop.time() + LISTEN_RETRY_S
        try:
            import asyncpg

            conn = await asyncpg.connect(self.database_url, timeout=5)
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            conn.add_termination_listener(self._lost_listener)
            self._listener = conn
        except Exception as exc:  # noqa: BLE001 - polling still delivers
            level = logging.DEBUG if self._listen_failed else logging.WARNING
            self._listen_failed = True
            log.log(
                level,
                "webhook worker %s: cannot LISTEN (%s); polling every %s s",
                self.id,
                type(exc).__name__,
                self.config.poll_s,
            )

    def _lost_listener(self, _conn: Any) -> None:
        self._listener = None

    # --- one delivery ---------------------------------------------------------------------

    async def _attempt_safely(self, claimed: Claimed, partner: Partner | None) -> Outcome:
        try:
            # One deadline for the whole attempt (resolving, every checked address), well inside the lease.
            async with asyncio.timeout(self.config.attempt_deadline_s):
                return await self.attempt(claimed, partner)
        except TimeoutError:
            return Outcome(ok=False, error=f"timed out after {self.config.attempt_deadline_s:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one delivery must not stop the others
            log.exception("webhook %s: unexpected error", claimed.id)
            return Outcome(ok=False, error=f"internal error: {type(exc).__name__}")

    async def attempt(self, claimed: Claimed, partner: Partner | None) -> Outcome:
        """Send the event once: sign it with the partner's current secret and POST it to its URL."""
        if partner is None or not partner.webhook_url:
            return Outcome(ok=False, error=NO_URL)
        url = partner.webhook_url
        try:
            addresses = await check_webhook_url(
                url, prod=self.config.prod, resolve=self.resolve, timeout_s=RESOLVE_TIMEOUT_S
            )
        except WebhookUrlRejected as exc:
            return Outcome(ok=False, error=f"webhook URL refused: {exc}")
        host, path_qs = _target(url)
        body = claimed.body.encode()
        headers = {
            **signed_headers(None, current_secret(partner, cipher=self.cipher), "POST", path_qs, body),
            EVENT_ID_HEADER: str(claimed.id),
            "X-Event-Type": claimed.type,
            "Content-Type": "application/json",
        }
        targets: list[tuple[str, dict[str, Any]]] = [(url, {})]
        if addresses:
            https = urlsplit(url).scheme == "https"
            headers["Host"] = _host_header(url)
            targets = [(_url_at(url, a), {"sni_hostname": host} if https else {}) for a in addresses]
        last = Outcome(ok=False, error="no address to connect to")
        for target, extensions in targets:
            try:
                async with asyncio.timeout(self.config.timeout_s + 1.0):
                    async with self._client.stream(
                        "POST", target, content=body, headers=headers, extensions=extensions
                    ) as response:
                        status = response.status_code
                        await _drain(response)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = Outcome(ok=False, error=_short(f"connection failed: {type(exc).__name__}: {exc}"))
                continue  # the next checked address
            except (httpx.TimeoutException, TimeoutError):
                return Outcome(ok=False, error=f"timed out after {self.config.timeout_s:g} s")
            except httpx.HTTPError as exc:
                return Outcome(ok=False, error=_short(f"{type(exc).__name__}: {exc}"))
            if 200 <= status < 300:
                return Outcome(ok=True, status_code=status)
            return Outcome(ok=False, status_code=status, error=f"HTTP {status}")
        return last

    async def _record_failure(self, claimed: Claimed, outcome: Outcome) -> None:
        """A retry at the next backoff, or ``failed`` past the retry window (only while this worker holds the claim)."""
        now = self.clock()
        mine = WebhookDelivery.filter(
            id=claimed.id, claimed_by=self.id, status=DeliveryStatus.DELIVERING.value
        )
        next_at = now + timedelta(seconds=self.config.backoff_s(claimed.attempts))
        deadline = claimed.window_started_at + timedelta(seconds=self.config.retry_for_s)
        if outcome.error == NO_URL or next_at > deadline:
            await mine.update(
                status=DeliveryStatus.FAILED.value,
                lease_until=None,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
                updated_at=now,
            )
            log.warning(
                "webhook %s failed for good after %d attempts: %s",
                claimed.id,
                claimed.attempts,
                outcome.error,
            )
            return
        await mine.update(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=next_at,
            lease_until=None,
            claimed_by=None,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
            updated_at=now,
        )

    async def release_claims(self) -> None:
        """Give back, at once, every claim of this worker (it is stopping, possibly mid-attempt).

        Cancellation can strike after the claiming UPDATE committed and before its rows reached
        the worker, so the claims are found by the worker's id, not by what it holds. An
        interrupted attempt is sent again (receivers de-duplicate by X-Event-Id); without this
        the events would wait for the lease to expire.
        """
        with contextlib.suppress(Exception):
            await WebhookDelivery.filter(claimed_by=self.id, status=DeliveryStatus.DELIVERING.value).update(
                status=DeliveryStatus.PENDING.value,
                claimed_by=None,
                lease_until=None,
                next_attempt_at=self.clock(),
                updated_at=self.clock(),
            )


def start(ctx: FrameContext) -> None:
    """The worker of a ``serve`` process, running as a background task of the app until it stops."""
    worker = WebhookWorker(
        cipher=ctx.cipher,
        config=WebhookConfig.from_settings(ctx.settings),
        database_url=ctx.settings.effective_database_url,
    )
    ctx.background.append(asyncio.create_task(worker.run(), name=f"webhook-worker-{worker.id}"))


async def outbox_readings(now: datetime) -> list[Reading]:
    """For ``/metrics``: events not yet acknowledged (pending or in delivery) and the age of the oldest.

    One statement on the ``(status, next_attempt_at)`` index; it reads as many rows as wait,
    which is a handful when receivers keep up (a long backlog is what the alert is for).
    """
    row = (
        await WebhookDelivery.filter(
            status__in=[DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERING.value]
        )
        .annotate(waiting=Count("id"), oldest=Min("created_at"))
        .values("waiting", "oldest")
    )[0]
    oldest = row["oldest"]
    if isinstance(oldest, str):  # SQLite's aggregate gives the stored text
        oldest = datetime.fromisoformat(oldest)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return [(WEBHOOK_BACKLOG, float(row["waiting"] or 0)), (WEBHOOK_OLDEST_AGE, age)]


# ===========================================================================================
# Regulators: the delivery log, redelivery
# ===========================================================================================


def delivery_out(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "partner_id": str(d.partner_id),
        "type": d.type,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": d.created_at,
        "last_attempt_at": d.last_attempt_at,
        "next_attempt_at": d.next_attempt_at if d.status == DeliveryStatus.PENDING else None,
        "delivered_at": d.delivered_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "payload": orjson.loads(d.body),
    }


async def list_deliveries(
    partner_id: uuid.UUID, *, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A partner's webhook deliveries, newest first."""
    from partners.service import get_partner

    await get_partner(partner_id)
    query = WebhookDelivery.filter(partner_id=partner_id)
    if status is not None:
        query = query.filter(status=status)
    shown, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    return page([delivery_out(d) for d in shown], next_cursor)


async def redeliver(delivery_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """Send an event again now, with a fresh retry window (a failed one, or a pending one waiting for its retry).

    409 while a worker is sending it, and for an event a receiver already acknowledged.
    """
    updated = await WebhookDelivery.filter(
        id=delivery_id, status__in=[DeliveryStatus.FAILED.value, DeliveryStatus.PENDING.value]
    ).update(
        status=DeliveryStatus.PENDING.value,
        next_attempt_at=now,
        window_started_at=now,
        claimed_by=None,
        lease_until=None,
        updated_at=now,
    )
    delivery = await WebhookDelivery.get_or_none(id=delivery_id)
    if delivery is None:
        raise WebhookDeliveryNotFound()
    if not updated:
        if delivery.status == DeliveryStatus.DELIVERED:
            raise WebhookAlreadyDelivered()
        raise WebhookDeliveryInFlight()
    conn = connections.get("default")
    if _is_postgres(conn):
        await conn.execute_query(f"NOTIFY {NOTIFY_CHANNEL}")
    return delivery_out(delivery)
