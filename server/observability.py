"""What every request leaves for an operator: one JSON access-log line and its request metrics.

One response middleware does both, for every answer the app renders, errors included (the
frame's error handler renders them as responses, and response middleware runs on those too).
The line, on the logger ``xinyi.access`` (``ACCESS_LOG``, on by default except under
``XINYI_ENV=test``; ``xinyi serve`` writes it to standard output)::

    {"ts":"2025-05-01T08:00:00.123Z","request_id":"…","method":"POST",
     "route":"/api/v1/merchant/redemptions/<redemption_id>/reverse","status":200,
     "duration_ms":4.21,"audience":"merchant","worker":12345}

It never holds a concrete path (paths carry identifiers), a query string, a body, a header, a
token or a client address: the route is the matched route's template (``<unmatched>`` when
no route matched) and the audience is read from its prefix. The clock starts when Sanic has
parsed the request's headers (``TimedRequest``) and stops when the answer is ready to send.
Sanic's own access log (which prints client addresses and full URLs) stays off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from functools import lru_cache
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from server import metrics
from server.http import request_id
from server.settings import Settings

ACCESS_LOGGER = "xinyi.access"
UNMATCHED = "<unmatched>"
access_log = logging.getLogger(ACCESS_LOGGER)

_AUDIENCES = (
    ("/api/v1/mp/", "mp"),
    ("/api/v1/merchant/", "merchant"),
    ("/api/v1/partner/", "partner"),
    ("/api/v1/admin/", "admin"),
    ("/admin/", "admin"),
    ("/api/v1/public/", "public"),
    ("/public/", "public"),
)
_TYPED_PARAMETER = re.compile(r"<([^:>]+):[^>]*>")


class TimedRequest(Request):
    """A request that knows when it began: its headers were parsed (``time.perf_counter``)."""

    __slots__ = ("started",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.started = time.perf_counter()


def audience_of(path: str) -> str:
    """mp, merchant, partner, admin, public, or ops (health, readiness, metrics, docs, keys)."""
    path = path if path.endswith("/") else path + "/"
    for prefix, audience in _AUDIENCES:
        if path.startswith(prefix):
            return audience
    return "ops"


@lru_cache(maxsize=1024)  # one entry per route of the app
def _template(route_path: str) -> tuple[str, str]:
    """Sanic's route path (``api/v1/mp/grants/<grant_id:str>``) as ``/api/v1/mp/grants/<grant_id>``, and its audience."""
    template = "/" + _TYPED_PARAMETER.sub(r"<\1>", route_path)
    return template, audience_of(template)


def route_of(request: Request) -> tuple[str, str]:
    """The matched route's template and audience; unmatched: a placeholder and the audience of the path's prefix."""
    route = request.route
    if route is None:
        return UNMATCHED, audience_of(request.path)
    return _template(route.path)


def observe(request: Request, status: int, *, log_line: bool) -> None:
    """Count the answer in the request metrics and, with ``log_line``, write its access-log line."""
    started = getattr(request, "started", None)
    seconds = time.perf_counter() - started if started is not None else 0.0
    route, audience = route_of(request)
    method = metrics.method_label(request.method)
    metrics.observe_request(route, method, status, seconds)
    if log_line and access_log.isEnabledFor(logging.INFO):
        line = orjson.dumps(
            {
                "ts": _timestamp(),
                "request_id": request_id(request),
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "audience": audience,
                "worker": os.getpid(),
            }
        ).decode()
        # ``handle(makeRecord(...))`` is ``info(line)`` without looking up the caller's file and
        # line in the stack, which no one reads here (a quarter of the logging's time, measured).
        access_log.handle(access_log.makeRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, line, (), None))


_second: tuple[int, str] = (0, "")  # the last whole second and its text: formatted once a second


def _timestamp() -> str:
    """Now in UTC as ISO 8601 with milliseconds (``2025-05-01T08:00:00.123Z``), cheaper than datetime's."""
    global _second
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


def install(app: Sanic, settings: Settings) -> None:
    """The access log and request metrics on every answer, ``GET /metrics``, and the worker's metric bookkeeping.

    The app must have been made with ``request_class=TimedRequest`` for the durations to count
    from the request's start (otherwise they are 0).
    """
    log_line = settings.access_log
    app.blueprint(metrics.bp)

    @app.on_response(priority=-100)  # after the others: the status is final
    async def _observe(request: Request, response: BaseHTTPResponse) -> None:
        observe(request, response.status, log_line=log_line)

    @app.after_server_start
    async def _worker_up(app: Sanic, _loop: Any = None) -> None:
        metrics.worker_started()
        if metrics.multiprocess_dir():  # several processes: each writes its own pools' usage
            app.ctx.start_task(app.ctx.telemetry.sample_pools_every())

    @app.before_server_stop
    async def _worker_down(app: Sanic, _loop: Any = None) -> None:
        metrics.worker_stopped()


def log_to_stdout(settings: Settings) -> None:
    """For ``xinyi serve``: the access-log lines on standard output, one JSON object a line, nothing around it."""
    if not settings.access_log or any(getattr(h, "xinyi_access", False) for h in access_log.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.xinyi_access = True  # type: ignore[attr-defined]
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
