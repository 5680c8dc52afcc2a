"""Helpers every route uses: body parsing, the caller, pagination, JSON responses."""

from __future__ import annotations

import base64
import functools
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sanic import Request
from sanic.response import HTTPResponse

from server.auth import Audience, Principal
from server.errors import NotFound, Unauthenticated, ValidationFailed

M = TypeVar("M", bound=BaseModel)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id(request: Request) -> str:
    """The caller's ``X-Request-Id`` if it is sane, else a new one; the same for the whole request."""
    rid = getattr(request.ctx, "request_id", None)
    if rid is None:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.ctx.request_id = rid
    return rid


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    """A JSON response rendered with orjson (datetimes as ISO 8601 with offset)."""
    return HTTPResponse(
        orjson.dumps(body, default=_default, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        if err["type"] == "json_invalid":
            loc = "body"
        fields.setdefault(loc, err["msg"])
    return fields


def parse_body(request: Request, model: type[M]) -> M:
    """Validate the JSON body against ``model``; 422 ``VALIDATION_ERROR`` with per-field reasons."""
    raw = request.body or b""
    if not raw.strip():
        raise ValidationFailed({"body": "A JSON object is required."})
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed(_field_errors(exc)) from None


def parse_query(request: Request, model: type[M]) -> M:
    """Validate query parameters (first value of each) against ``model``."""
    params = {key: values[0] for key, values in request.args.items()}
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed(_field_errors(exc)) from None


def parse_uuid(value: str, *, what: str = "resource") -> uuid.UUID:
    """A path id; an id that is not a UUID cannot exist, so it is a 404."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        raise NotFound(f"No such {what}.") from None


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    return token.strip()


Handler = Callable[..., Awaitable[HTTPResponse]]


def authenticated(audience: Audience) -> Callable[[Handler], Handler]:
    """Route decorator: a valid access token of ``audience``; the principal lands on ``request.ctx``."""

    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            principal: Principal = request.app.ctx.tokens.verify_access(bearer_token(request), audience)
            request.ctx.principal = principal
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorator


# --- cursor pagination ---------------------------------------------------------------------


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise ValidationFailed({"cursor": "Invalid cursor."}) from None
    if not isinstance(parts, list) or len(parts) != arity:
        raise ValidationFailed({"cursor": "Invalid cursor."})
    return parts


def page(items: Sequence[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": list(items), "next_cursor": next_cursor}
