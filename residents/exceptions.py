"""Resident-facing business errors (contract codes)."""

from __future__ import annotations

from server.errors import AppError, Conflict, Forbidden, ValidationFailed


class ConsentRequired(Forbidden):
    code = "CONSENT_REQUIRED"
    message = "Accept the current privacy terms first."


class IdentityRequired(Forbidden):
    code = "IDENTITY_REQUIRED"
    message = "Bind your real-name identity first."


class IdNumberInvalid(ValidationFailed):
    code = "ID_NUMBER_INVALID"
    message = "The ID number is not valid."


class IdentityTaken(Conflict):
    code = "IDENTITY_TAKEN"
    message = "This ID number is already bound to another account."


class IdentityAlreadyBound(Conflict):
    code = "IDENTITY_ALREADY_BOUND"
    message = "This account is already bound to another ID number."


class ConsentVersionOutdated(Conflict):
    code = "CONSENT_VERSION_OUTDATED"
    message = "These are not the current terms; fetch GET /consent and accept that version."


class ResidentGone(AppError):
    status_code = 401
    code = "UNAUTHENTICATED"
    message = "This account no longer exists."
