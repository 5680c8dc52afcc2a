"""Who handles which case: one assignee per case of the regulators' queue (``casework.queue``)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class CaseAssignment(Model):
    """A case given to a regulator. One row per case (``kind``, ``case_id``): reassigning replaces it.

    ``case_id`` is the case's id as its source renders it (a UUID's text for every kind so far), so a
    kind added later needs no migration here.
    """

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(
        max_length=16
    )  # objection, repair, self_report, breach, list_notice, charge_dispute
    case_id = fields.CharField(max_length=64)
    admin_id = fields.UUIDField()
    assigned_at = fields.DatetimeField()
    assigned_by = fields.UUIDField()

    class Meta:
        table = "case_assignments"
        unique_together = (("kind", "case_id"),)
        indexes = (("admin_id", "kind"),)
