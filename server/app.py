"""The frame of every app: Sanic's configuration, the error model, middleware, the operational routes, and the
start and stop of the frame's own resources (database, Redis, WeChat). It knows no domain: the composition root
(``xinyi.app``) adds the blueprints and the domains' resources."""

from __future__ import annotations

import gc
import logging
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse
from sanic_ext import Extend
from sanic_ext.extensions.openapi.extension import OpenAPIExtension
from tortoise.exceptions import ValidationError as TortoiseValidationError

from server import docs, listen, observability, openapi, replica, workers
from server.auth import configure_password_hashing
from server.context import FrameContext
from server.cors import install_cors
from server.database import Apps, close_db, init_db
from server.errors import AppError
from server.http import json, request_id
from server.outage import RETRY_AFTER_S, unavailable
from server.redis import connect_redis, connect_sync_redis
from server.replica import ReadRouting
from server.routes import bp as ops_bp
from server.throttle import PUBLIC_PREFIXES, Throttle, ThrottleLimits, client_address
from server.wechat import WeChat

log = logging.getLogger("xinyi")

# Sanic's own exceptions mapped onto the contract's codes.
_SANIC_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    416: "RANGE_NOT_SATISFIABLE",
    503: "SERVICE_UNAVAILABLE",
}


def error_body(request: Request | None, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "request_id": request_id(request) if request else None,
            **extra,
        }
    }


def _render_error(request: Request, exc: BaseException) -> HTTPResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, AppError):
        status, body = exc.status_code, error_body(request, exc.code, exc.detail_message, **exc.details)
        headers.update(exc.headers or {})
    elif isinstance(exc, SanicException) and exc.status_code == 413 and "header" in str(exc).lower():
        # Sanic reports oversized request headers as 413; HTTP's word for them is 431.
        status = 431
        body = error_body(request, "HEADERS_TOO_LARGE", "The request headers are too large.")
    elif (
        isinstance(exc, SanicException)
        and 400 <= exc.status_code < 500
        or getattr(exc, "status_code", 0) == 503
    ):
        status = getattr(exc, "status_code", 0)  # a SanicException, or any error that carries a 503
        code = _SANIC_CODES.get(status, "BAD_REQUEST")
        message = {
            404: "No such resource.",
            405: "This method is not allowed here.",
            413: "The request body is too large.",
        }.get(status, str(exc) or code)
        body = error_body(request, code, message)
        headers.update(getattr(exc, "headers", None) or {})
    elif service := unavailable(exc):
        # The database or Redis cannot be reached (lost, restarting, refusing connections): the
        # client may retry, and the next request after it is back is served. Redis holds replay
        # guards, nonces and lockouts: without it we refuse rather than skip them. Logged by the
        # exception's type and the route's pattern only (messages and paths may carry personal data).
        log.warning(
            "%s unavailable on %s %s: %s",
            service,
            request.method,
            _route_pattern(request),
            type(exc).__name__,
        )
        status = 503
        body = error_body(
            request, "SERVICE_UNAVAILABLE", "A backing service is unavailable; try again shortly."
        )
        headers["Retry-After"] = str(RETRY_AFTER_S)
    elif isinstance(exc, TortoiseValidationError):
        # A value the ORM refuses (too long, out of range) that a schema should have caught:
        # still the client's bad input, so 422, but logged so the schema gets fixed.
        log.warning("ORM validation error on %s %s: %s", request.method, request.path, type(exc).__name__)
        status, body = 422, error_body(request, "VALIDATION_ERROR", "Some fields are invalid.", fields={})
    else:
        log.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        status, body = 500, error_body(request, "INTERNAL_ERROR", "An internal error occurred.")
    if status == 503:  # every 503 says when to come back (Sanic's own response timeout too)
        headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    headers["X-Request-Id"] = request_id(request)
    return json(body, status=status, headers=headers)


def _route_pattern(request: Request) -> str:
    """The matched route's pattern (``/api/v1/partner/residents/<partner_user_ref:str>/tier``), else the path."""
    route = getattr(request, "route", None)
    return "/" + route.path.lstrip("/") if route is not None else request.path


def create_frame_app(ctx: FrameContext, *, name: str) -> Sanic:
    """A Sanic app with the contract's error model and middleware and the ops routes; nothing connects yet."""
    settings = ctx.settings
    configure_password_hashing(settings)
    app = Sanic(name, ctx=ctx, request_class=observability.TimedRequest)  # it knows when it began
    app.config.REQUEST_MAX_SIZE = settings.request_max_size
    app.config.PROXIES_COUNT = settings.proxies_count  # trusted X-Forwarded-For hops: request.remote_addr
    app.config.REQUEST_TIMEOUT = settings.request_timeout_s
    app.config.RESPONSE_TIMEOUT = settings.response_timeout_s
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.DEBUG = False
    # the spec at /docs/openapi.json and Swagger UI at /docs from local files, no CDN (server.docs);
    # DOCS=0: no /docs and no spec
    docs.configure(app, enabled=settings.docs)
    app.config.CORS = (
        False  # no cross-origin calls: the mini-program and partners call from servers and WeChat
    )
    app.config.HEALTH = False
    # sanic-ext's automatic HEAD/OPTIONS routes re-finalise the router once per route (seconds
    # at every start); the API has no use for them.
    app.config.HTTP_AUTO_HEAD = False
    app.config.HTTP_AUTO_OPTIONS = False
    app.config.HTTP_AUTO_TRACE = False
    # Only the OpenAPI extension: dependency injection (unused here) would dispatch a signal on
    # every request, and health, templating and logging are done by the app itself.
    Extend(app, built_in_extensions=False, extensions=[OpenAPIExtension])
    openapi.install(app)  # the document's title and description, operations tagged by audience
    app.blueprint(ops_bp)
    app.error_handler.add(Exception, _render_error)
    observability.install(app, settings)  # the access-log line and metrics of every answer, GET /metrics
    install_cors(app, settings.cors_origins)
    replica.install(
        app
    )  # read-your-writes: a subject that wrote reads the primary a while (DATABASE_REPLICA_URL)

    @app.middleware("request", priority=90)
    async def _public_pages(request: Request) -> None:
        # no login there, so each client address is held to its own pace (PUBLIC_REQUESTS_PER_ADDRESS)
        if request.path.startswith(PUBLIC_PREFIXES):
            await request.app.ctx.throttle.public_request(client_address(request))

    @app.middleware("request", priority=100)  # as on_request(priority=...), which sanic types wrongly
    async def _body_limit(request: Request) -> HTTPResponse | None:
        # Sanic's HTTP server enforces REQUEST_MAX_SIZE while reading; this covers ASGI servers too.
        # A streaming route (``stream=True``: the upload of an attachment) reads its body itself, after
        # authentication, and bounds it with its own limit (``server.files.read_upload``).
        route = getattr(request, "route", None)
        if route is not None and route.extra.stream:
            return None
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.request_max_size:
            return json(
                error_body(request, "PAYLOAD_TOO_LARGE", "The request body is too large."), status=413
            )
        return None

    @app.on_response(priority=100)
    async def _stamp(request: Request, response: HTTPResponse) -> None:
        response.headers["X-Request-Id"] = request_id(request)
        headers = response.headers
        headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        # the API is data, never a document to render or frame; an HTML page sets its own policy
        # (its own scripts and styles only: server.static.page_csp)
        if page_policy := docs.page_policy(request.path):
            headers.setdefault("Content-Security-Policy", page_policy)
        headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        if settings.is_prod:  # behind TLS in prod: browsers keep to HTTPS
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

    return app


async def start_frame(ctx: FrameContext, apps: Apps) -> None:
    """The database (Tortoise, with the composition root's apps), Redis, the login throttle and WeChat."""
    await init_db(ctx.settings, apps)
    ctx.redis = connect_redis(ctx.settings)
    ctx.throttle = Throttle(ctx.redis, ctx.hasher, ThrottleLimits.from_settings(ctx.settings))
    ctx.reads = ReadRouting(ctx.settings, ctx.redis)
    ctx.wechat = _make_wechat(ctx)


async def stop_frame(ctx: FrameContext) -> None:
    """Background tasks first (they may use the rest), then Redis, the sandbox and the database."""
    await ctx.stop_tasks()
    if getattr(ctx, "redis", None) is not None:
        await ctx.redis.aclose()
    if ctx.wechat_sandbox is not None:
        ctx.wechat_sandbox.stop()
        ctx.wechat_sandbox = None
    await close_db()


def prepare_for_serving(app: Sanic) -> None:
    """What ``xinyi serve`` adds in each worker: its own accept queue, a garbage collector tuned for serving
    (and in the main process, a watch that replaces a worker that dies: ``server.workers``).

    With several workers on Linux each worker listens on a socket of its own (``server.listen``).

    Once the worker has started, everything that exists (modules, models, routes, pools) lives
    as long as the process, so it is moved out of the collector's reach (``gc.freeze``). A full
    collection then walks only what requests allocated instead of the ~100,000 startup objects,
    whose walk alone is a 60 ms pause (measured here) of every request in flight on the worker.
    Tests build many apps in one process and keep the collector as it is.
    """
    observability.log_to_stdout(app.ctx.settings)  # ACCESS_LOG: one JSON line per request on standard output

    workers.replace_dead_workers(app)  # the main process starts another worker when one dies

    @app.before_server_start
    async def _own_accept_queue(app: Sanic, _loop: Any = None) -> None:
        for info in app.state.server_info:  # the socket this worker was given (see server.listen)
            sock = info.settings.get("sock")
            if sock is not None and listen.is_reserved(sock):
                listen.listen_own(sock)

    @app.after_server_start
    async def _freeze_startup_objects(app: Sanic, _loop: Any = None) -> None:
        gc.collect()
        gc.freeze()


def _make_wechat(ctx: FrameContext) -> WeChat:
    """The WeChat client; in dev/test without ``WECHAT_API_BASE`` it talks to an in-process sandbox."""
    from wechatpy.session.redisstorage import RedisStorage

    settings = ctx.settings
    api_base = settings.wechat_api_base
    if api_base is None:
        if ctx.wechat_sandbox is None:
            from server.wechat_sandbox import WeChatSandbox

            ctx.wechat_sandbox = WeChatSandbox(appid=settings.wechat_appid, secret=settings.wechat_secret)
            ctx.wechat_sandbox.start()
        api_base = ctx.wechat_sandbox.base_url
    storage = RedisStorage(connect_sync_redis(settings), prefix="xinyi:wechat")
    return WeChat(
        appid=settings.wechat_appid, secret=settings.wechat_secret, api_base=api_base, session_storage=storage
    )
