"""The subject's rights' errors in the contract's words."""

from __future__ import annotations

from typing import Any

from server.errors import AppError, Conflict, NotFound


class ObjectionOpen(Conflict):
    code = "OBJECTION_OPEN"
    message = "An objection to this record is already open; wait for its decision."


class RecordNotContestable(Conflict):
    code = "RECORD_NOT_CONTESTABLE"
    message = (
        "This record no longer counts (withdrawn, repaired, revoked or exited): there is nothing to contest."
    )


class RepairOpen(Conflict):
    code = "REPAIR_OPEN"
    message = "A repair of this record is already under review."


class RepairNotApplicable(Conflict):
    code = "REPAIR_NOT_APPLICABLE"
    message = "This record cannot be repaired here."


class RepairNotEligible(Conflict):
    code = "REPAIR_NOT_ELIGIBLE"
    message = "This record cannot be repaired yet."

    def __init__(self, eligible_from: Any):
        super().__init__(
            f"This record can be repaired from {eligible_from.isoformat()}.",
            eligible_from=eligible_from.isoformat(),
        )


class CaseDecided(Conflict):
    code = "CASE_ALREADY_DECIDED"
    message = "This case has already been decided."


class ListEntryNotFound(NotFound):
    message = "No such list entry."


class ListEntryExited(Conflict):
    code = "LIST_ENTRY_EXITED"
    message = "This list entry has already exited."


class ObjectionNotFound(NotFound):
    message = "No such objection."


class RepairNotFound(NotFound):
    message = "No such repair."


class AttachmentTooLarge(AppError):
    status_code = 413
    code = "ATTACHMENT_TOO_LARGE"
    message = "An attachment may be at most 5 MB (5,242,880 bytes)."


class AttachmentType(AppError):
    status_code = 415
    code = "ATTACHMENT_TYPE"
    message = "An attachment must be a JPEG, PNG or PDF file."


class AttachmentNotFound(NotFound):
    message = "No such attachment."


class SelfReportNotFound(NotFound):
    message = "No such self-report."


class ResidentUnidentified(Conflict):
    code = "RESIDENT_UNIDENTIFIED"
    message = "The resident of this case can no longer be identified (the account was erased)."
