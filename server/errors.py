"""The error model of the API contract: one base class, one renderer.

Every failure a client can cause is an ``AppError`` subclass with a class-level HTTP status and
an UPPER_SNAKE code. The handler in ``server.app`` renders them as
``{"error": {"code", "message", "request_id", ...}}``; anything else is a bug and becomes a
500 ``INTERNAL_ERROR`` without a traceback in the body.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sanic.exceptions import SanicException


class AppError(SanicException):
    # ``status_code`` and ``message`` keep SanicException's instance-variable declarations (its
    # ``__init__`` assigns them on the instance); ``code`` is ours and only ever read from the class.
    status_code = 400
    code: ClassVar[str] = "BAD_REQUEST"
    message = "Bad request."
    quiet = True

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        self.detail_message = message or self.message
        self.details = extra
        super().__init__(self.detail_message, status_code=self.status_code, headers=headers)


class BadRequest(AppError):
    status_code = 400
    code = "BAD_REQUEST"
    message = "The request could not be understood."


class ValidationFailed(AppError):
    """422 with ``fields``: one entry per offending field, saying why."""

    status_code = 422
    code = "VALIDATION_ERROR"
    message = "Some fields are invalid."

    def __init__(self, fields: dict[str, str], message: str | None = None):
        super().__init__(message, fields=fields)


class Unauthenticated(AppError):
    status_code = 401
    code = "UNAUTHENTICATED"
    message = "Authentication is required."


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "Not found."


class MethodNotAllowed(AppError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    message = "This method is not allowed here."


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    message = "The request conflicts with the current state."


class IdempotencyConflict(Conflict):
    code = "IDEMPOTENCY_CONFLICT"
    message = "This Idempotency-Key was already used with another request body."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The request body is too large."


class TooManyRequests(AppError):
    status_code = 429
    code = "TOO_MANY_REQUESTS"
    message = "Too many attempts; try again later."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "A backing service is unavailable; try again shortly."
