"""Errors a client can cause with a pass; the codes are fixed by the API contract."""

from __future__ import annotations

from server.errors import AppError


class PassInvalid(AppError):
    status_code = 400
    code = "PASS_INVALID"
    message = "The pass is not valid."


class PassExpired(AppError):
    status_code = 400
    code = "PASS_EXPIRED"
    message = "The pass has expired; show a fresh one."


class PassAlreadyUsed(AppError):
    status_code = 409
    code = "PASS_ALREADY_USED"
    message = "The pass was already used."
