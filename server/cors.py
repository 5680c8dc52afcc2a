"""An explicit CORS policy: none by default, exact origins from ``CORS_ORIGINS`` otherwise.

The mini-program, the merchants' scanners and the partners' servers are not browsers, so by default no
origin may call the API from a page: a preflight is answered 403 ``CORS_ORIGIN_NOT_ALLOWED`` (clearer
than the 405 that a route without ``OPTIONS`` would give) and answers carry no ``Access-Control-*``
header. A deployment that serves a web console from another origin lists it in ``CORS_ORIGINS``.
"""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import HTTPResponse, empty

from server.errors import AppError

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
EXPOSED_HEADERS = "X-Request-Id, Retry-After"
PREFLIGHT_MAX_AGE_S = 600


class OriginNotAllowed(AppError):
    status_code = 403
    code = "CORS_ORIGIN_NOT_ALLOWED"
    message = "Cross-origin calls from this origin are not allowed."


def install_cors(app: Sanic, origins: tuple[str, ...]) -> None:
    allowed = frozenset(origins)

    @app.middleware("request", priority=95)  # as on_request(priority=...), which sanic types wrongly
    async def _preflight(request: Request) -> HTTPResponse | None:
        origin = request.headers.get("origin")
        if (
            request.method != "OPTIONS"
            or origin is None
            or "access-control-request-method" not in request.headers
        ):
            return None
        if origin not in allowed:
            raise OriginNotAllowed()
        return empty(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
                "Vary": "Origin",
            },
        )

    @app.on_response(priority=95)
    async def _allow(request: Request, response: HTTPResponse) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.headers["Vary"] = "Origin"
