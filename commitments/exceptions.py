"""信易批 errors in the contract's shape."""

from __future__ import annotations

from server.errors import Conflict, Forbidden, NotFound


class TierTooLow(Forbidden):
    code = "TIER_TOO_LOW"
    message = "The resident's live tier is below the ruleset's floor for green channels."


class CommitmentNotFound(NotFound):
    code = "COMMITMENT_NOT_FOUND"
    message = "No commitment with this id was accepted by this partner."


class CommitmentBroken(Conflict):
    code = "COMMITMENT_BROKEN"
    message = "The commitment's deadline passed before it was fulfilled: it is broken."
