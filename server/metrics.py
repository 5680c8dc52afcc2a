"""Prometheus metrics: every metric of the service is named here, and ``GET /metrics`` serves them.

Counted as things happen: requests by route template, method and status, their latency
(``server.observability`` counts them for every answer), scans by outcome and reason
(``count_scan``, called by the scan's service) and committed redemptions by offer type and
channel (``count_redemption``). Read when Prometheus scrapes, by the worker that answers:
the database pools' saturation and what the domains registered on the app's ``Telemetry``
(the webhook outbox's backlog and its oldest event's age). No label ever holds a concrete path,
an identifier or personal data: routes are templates, reasons are the contract's error codes.

**Several workers.** ``xinyi serve --workers N`` runs N processes, and Prometheus scrapes
whichever one answers. ``serve`` therefore gives its workers a fresh directory in
``PROMETHEUS_MULTIPROC_DIR`` (``multiprocess_directory``) before they start: prometheus_client
then keeps every value in a small memory-mapped file per process there, and the answering
worker adds up all the files (``MultiProcessCollector``), so counters and histograms are the
sums over every worker, including workers that have since stopped. Each worker also writes its
own pool usage (a background sample every second) and removes its live gauges when it stops.
Without the variable (tests, an embedded app) the process's own registry is served.

**Who may read it.** Nothing here is personal, but request rates and routes are no business of
the internet: with ``METRICS_TOKEN`` set, ``/metrics`` answers only ``Authorization: Bearer
<METRICS_TOKEN>``; without it, keep ``/metrics`` on the internal network (README, "Operating it").
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from server.errors import Unauthenticated

log = logging.getLogger("xinyi.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FOLDER_PREFIX = "xinyi-metrics-"  # serve's own folders: xinyi-metrics-<pid of serve>-<random>
POOL_SAMPLE_S = 1.0  # how often each worker writes its pools' usage in multiprocess mode
SCRAPE_READ_TIMEOUT_S = 2.0  # a reading that takes longer is left out of that scrape

# ``_created`` series double the series count for no use here.
disable_created_metrics()

# Latency buckets for an API whose answers take 1-500 ms (the scan: a few ms; a redemption:
# ~10 ms; reports and exports: hundreds), with room on both sides to see a slide.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter(
    "xinyi_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "xinyi_http_request_duration_seconds",
    "Time from the request's headers to its answer, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
SCANS = Counter(
    "xinyi_scans",
    "Pass scans logged, by outcome (accepted, refused) and the refusal's error code.",
    ["outcome", "reason"],
)
REDEMPTIONS = Counter(
    "xinyi_redemptions",
    "Redemptions committed, by offer type and channel (store, partner).",
    ["type", "channel"],
)
# ``liveall``: one series per live worker (label ``pid`` in multiprocess mode), so a saturated
# worker is not averaged away by an idle one; a stopped worker's series are removed.
POOL_IN_USE = Gauge(
    "xinyi_db_pool_connections_in_use",
    "Database connections in use, by pool (orm, hot, ledger).",
    ["pool"],
    multiprocess_mode="liveall",
)
POOL_MAX = Gauge(
    "xinyi_db_pool_connections_max",
    "The most connections a pool opens, by pool (orm, hot, ledger).",
    ["pool"],
    multiprocess_mode="liveall",
)
WORKERS = Gauge(
    "xinyi_workers",
    "Worker processes serving (the sum over live workers).",
    multiprocess_mode="livesum",
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def method_label(method: str) -> str:
    """The request's method, or ``OTHER`` for a made-up one (which must not make new series)."""
    return method if method in _METHODS else "OTHER"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (``route``: a template; ``method``: a ``method_label``)."""
    key = (route, method, status)
    series = _request_series.get(key)
    if series is None:  # bounded: routes x methods x statuses
        series = _request_series[key] = (
            REQUESTS.labels(route, method, str(status)),
            LATENCY.labels(route, method),
        )
    series[0].inc()
    series[1].observe(seconds)


def count_scan(outcome: str, reason: str | None = None) -> None:
    """One logged scan: ``accepted``, or ``refused`` with the contract's error code."""
    SCANS.labels(outcome, reason or "").inc()


def count_redemption(offer_type: str, channel: str) -> None:
    """One committed redemption (call it only once the transaction has committed)."""
    REDEMPTIONS.labels(offer_type, channel).inc()


# --- read at scrape time ---------------------------------------------------------------------


class ScrapeGauge(NamedTuple):
    """A gauge whose value is read when Prometheus scrapes (by the worker that answers)."""

    name: str
    help: str


WEBHOOK_BACKLOG = ScrapeGauge(
    "xinyi_webhook_backlog", "Webhook events not yet acknowledged by their receiver (pending or in delivery)."
)
WEBHOOK_OLDEST_AGE = ScrapeGauge(
    "xinyi_webhook_oldest_pending_age_seconds",
    "Age of the oldest webhook event not yet acknowledged (0 when there is none).",
)

Reading = tuple[ScrapeGauge, float]
ScrapeSource = Callable[[datetime], Awaitable[Iterable[Reading]]]


class PoolUsage(Protocol):
    def usage(self) -> tuple[int, int] | None:
        """(connections in use, the most it opens); None: it has no connections of its own."""


class Telemetry:
    """What ``/metrics`` reads when scraped: the worker's pools and the domains' readings.

    Held on the app's context; the composition root registers the domains' pools and sources
    once they have started (``watch_pool``, ``read_at_scrape``).
    """

    def __init__(self) -> None:
        self._pools: dict[str, PoolUsage] = {}
        self._sources: dict[str, ScrapeSource] = {}

    def watch_pool(self, name: str, pool: PoolUsage | None) -> None:
        if pool is not None:
            self._pools[name] = pool

    def read_at_scrape(self, name: str, source: ScrapeSource) -> None:
        self._sources[name] = source

    def sample_pools(self) -> None:
        """Write this worker's pools' usage to the pool gauges (Tortoise's pool as ``orm``, when it has one)."""
        pools: dict[str, tuple[int, int] | None] = {"orm": _orm_pool_usage()}
        pools.update((name, pool.usage()) for name, pool in self._pools.items())
        for name, usage in pools.items():
            if usage is not None:
                POOL_IN_USE.labels(name).set(usage[0])
                POOL_MAX.labels(name).set(usage[1])

    async def readings(self, now: datetime) -> list[Reading]:
        """Every registered source's readings; one that fails or is slow is left out (and logged)."""
        found: list[Reading] = []
        for name, source in self._sources.items():
            try:
                found.extend(await asyncio.wait_for(source(now), SCRAPE_READ_TIMEOUT_S))
            except Exception as exc:  # noqa: BLE001 - /metrics must answer while a backing service is down
                log.warning("metrics: %s could not be read (%s)", name, type(exc).__name__)
        return found

    async def sample_pools_every(self, seconds: float = POOL_SAMPLE_S) -> None:
        """In multiprocess mode each worker writes its own pools' usage, scraped or not."""
        while True:
            self.sample_pools()
            await asyncio.sleep(seconds)


def _orm_pool_usage() -> tuple[int, int] | None:
    """Tortoise's asyncpg pool, where there is one (not on SQLite, not before the database started)."""
    from tortoise import connections

    try:
        pool = getattr(connections.get("default"), "_pool", None)
    except Exception:  # noqa: BLE001 - not initialised
        return None
    if pool is None or not hasattr(pool, "get_max_size"):
        return None
    return pool.get_size() - pool.get_idle_size(), pool.get_max_size()


class _Readings(Collector):
    def __init__(self, readings: Iterable[Reading]):
        self._readings = list(readings)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for gauge, value in self._readings:
            family = families.get(gauge.name)
            if family is None:
                family = families[gauge.name] = GaugeMetricFamily(gauge.name, gauge.help)
            family.add_metric([], value)
        up = GaugeMetricFamily("xinyi_up", "1 when the worker answering this scrape is serving.")
        up.add_metric([], 1)
        build = GaugeMetricFamily(
            "xinyi_build_info", "The running version (always 1).", labels=["version", "python"]
        )
        build.add_metric([_VERSION, platform.python_version()], 1)
        return [*families.values(), up, build]


class _ThisProcess(Collector):
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _version() -> str:
    try:
        return metadata.version("xinyi")
    except metadata.PackageNotFoundError:
        return "unknown"


_VERSION = _version()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition(readings: Iterable[Reading], *, accept: str = "") -> tuple[bytes, str]:
    """The metrics in the format the scraper asked for (``Accept``): every worker's, or this process's."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(_Readings(readings))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


@contextlib.contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """For ``xinyi serve``: a fresh ``PROMETHEUS_MULTIPROC_DIR`` for its workers, set before they start.

    Given one (an operator's choice, e.g. a tmpfs), its files from an earlier run are deleted
    first: counts of another run must not be added in. Otherwise a temporary directory named
    after this process, removed when ``serve`` ends (and by the next ``serve`` if this one was
    killed outright). One per ``serve``: two servers must never share one.
    """
    given = multiprocess_dir()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        yield path
        return
    _remove_folders_of_dead_servers()
    path = Path(tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def _remove_folders_of_dead_servers() -> None:
    """The folders of servers that were killed outright (``SIGKILL`` skips the clean-up): named after their pid."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_FOLDER_PREFIX}*-*"):
        pid = folder.name[len(_FOLDER_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def worker_started() -> None:
    WORKERS.set(1)


def worker_stopped() -> None:
    """A stopping worker's live gauges (pools, the worker count) leave the sums; its counts stay."""
    directory = multiprocess_dir()
    if directory:
        multiprocess.mark_process_dead(os.getpid(), directory)
    else:
        WORKERS.set(0)


# --- GET /metrics ------------------------------------------------------------------------------

bp = Blueprint("metrics")


def _check_token(request: Request, token: str | None) -> None:
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthenticated(
            "The metrics need Authorization: Bearer <METRICS_TOKEN>.", headers={"WWW-Authenticate": "Bearer"}
        )


@bp.get("/metrics")
@openapi.exclude()  # for Prometheus, not a client of the API: outside the contract and its document
async def metrics(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    _check_token(request, ctx.settings.metrics_token)
    telemetry: Telemetry = ctx.telemetry
    telemetry.sample_pools()
    readings = await telemetry.readings(ctx.clock())
    # Reading every worker's files is blocking I/O: off the event loop.
    body, content_type = await asyncio.to_thread(
        exposition, readings, accept=request.headers.get("accept", "")
    )
    return HTTPResponse(body, content_type=content_type)
