"""Credit engine errors in the contract's shape (``server.errors.AppError`` subclasses)."""

from __future__ import annotations

from server.errors import AppError, Conflict, NotFound, ValidationFailed


class TooManyItems(ValidationFailed):
    code = "VALIDATION_ERROR"
    message = "Too many items in one request."


class RulesetInvalid(ValidationFailed):
    code = "VALIDATION_ERROR"
    message = "The ruleset is invalid."


class RulesetNotFound(NotFound):
    code = "RULESET_NOT_FOUND"
    message = "No ruleset with this version."


class RulesetVersionExists(Conflict):
    code = "RULESET_VERSION_EXISTS"
    message = "A ruleset with this version already exists; rulesets are immutable, create a new version."


class RulesetActivationConflict(Conflict):
    code = "RULESET_ACTIVATION_CONFLICT"
    message = "Another ruleset was activated at the same moment; try again."


class NoActiveRuleset(AppError):
    """No ruleset is active and the default one cannot be seeded: an operator must activate one."""

    status_code = 503
    code = "NO_ACTIVE_RULESET"
    message = "No scoring ruleset is active."
    quiet = False


class VolunteerRecordConflict(Conflict):
    code = "VOLUNTEER_RECORD_CONFLICT"
    message = "This volunteer record was written concurrently; try again."


class RecordNotFound(NotFound):
    """Not a record of this resident (another person's record is not found either)."""

    code = "NOT_FOUND"
    message = "No such credit record."
