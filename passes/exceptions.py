"""Errors a client can cause with a pass or a scan; the codes are fixed by the API contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.errors import AppError, Conflict, NotFound, ServiceUnavailable

if TYPE_CHECKING:
    from passes.claims import PassClaims


class PassInvalid(AppError):
    status_code = 400
    code = "PASS_INVALID"
    message = "The pass is not valid."


class PassExpired(AppError):
    status_code = 400
    code = "PASS_EXPIRED"
    message = "The pass has expired; show a fresh one."

    claims: PassClaims | None = None
    """The verified claims of the genuine but expired pass (so the refusal can name the resident)."""


class PassAlreadyUsed(AppError):
    status_code = 409
    code = "PASS_ALREADY_USED"
    message = "The pass was already used."


class PassKeysUnavailable(ServiceUnavailable):
    code = "PASS_KEYS_UNAVAILABLE"
    message = "No pass signing key is configured; an operator must run `xinyi rotate-pass-key`."


class ScanNotFound(NotFound):
    code = "SCAN_NOT_FOUND"
    message = "No such scan at this merchant."


class ScanExpired(Conflict):
    code = "SCAN_EXPIRED"
    message = "This scan is too old to redeem; scan the pass again."


class ScanRefused(Conflict):
    code = "SCAN_REFUSED"
    message = "This scan was refused; it cannot be used to redeem."
