"""Helpers every route uses: body parsing, the caller, pagination, JSON responses."""

from __future__ import annotations

import base64
import functools
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sanic import Request
from sanic.response import HTTPResponse

from server.auth import Audience, Principal
from server.errors import NotFound, Unauthenticated, ValidationFailed
from server.openapi import bearer, secured_by

M = TypeVar("M", bound=BaseModel)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id(request: Request) -> str:
    """The caller's ``X-Request-Id`` if it is sane, else a new one; the same for the whole request."""
    rid = getattr(request.ctx, "request_id", None)
    if rid is None:
        incoming = request.headers.get("x-request-id", "")
        # a new id: secrets.token_hex(16) has uuid4().hex's shape for a fifth of its CPU
        rid = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)
        request.ctx.request_id = rid
    return rid


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID subclass, which orjson does not take for one
        return str(value)
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


UNSTORABLE_TEXT = "must not contain NUL characters"


def unstorable_text(value: Any, path: str = "") -> dict[str, str]:
    """The fields of ``value`` (a model, or what a model dumps) holding text a database cannot store.

    PostgreSQL's text types cannot hold the NUL character (``\\u0000`` in JSON), and SQLite
    would store what PostgreSQL refuses, so both are refused here, at the boundary, the same way.
    """
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, str):
        return {path or "body": UNSTORABLE_TEXT} if "\x00" in value else {}
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                found[where] = UNSTORABLE_TEXT
            found.update(unstorable_text(item, where))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.update(unstorable_text(item, f"{path}.{index}" if path else str(index)))
    return found


def parse_body(request: Request, model: type[M], *, text_checked_by_service: bool = False) -> M:
    """Validate the JSON body against ``model``; 422 ``VALIDATION_ERROR`` with per-field reasons.

    ``text_checked_by_service``: the body is a batch whose items the service validates one by
    one (and rejects alone, NUL characters included), so one bad item must not refuse them all.
    """
    raw = request.body or b""
    if not raw.strip():
        raise ValidationFailed({"body": "A JSON object is required."})
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed(_field_errors(exc)) from None
    # JSON can only carry a NUL as the escape \\u0000 (a raw control character is invalid JSON).
    if b"\\u0000" in raw and not text_checked_by_service and (problems := unstorable_text(parsed)):
        raise ValidationFailed(problems)
    return parsed


def parse_query(request: Request, model: type[M]) -> M:
    """Validate query parameters (first value of each) against ``model``."""
    params = {key: values[0] for key, values in request.args.items()}
    try:
        parsed = model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed(_field_errors(exc)) from None
    if "%00" in request.query_string and (problems := unstorable_text(parsed)):
        raise ValidationFailed(problems)
    return parsed


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

        return secured_by(wrapper, bearer(audience.value))

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
