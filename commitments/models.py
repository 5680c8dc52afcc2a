"""信易批: matters an approval office accepted on a resident's credit commitment, with a deadline."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from uuid import UUID

    from residents.models import Resident


class CommitmentStatus(StrEnum):
    PENDING = "pending"  # accepted with items missing; the resident owes them by due_at
    FULFILLED = "fulfilled"  # the office received the missing items in time
    BROKEN = "broken"  # still pending at due_at: a commitment_breach record was written


class Commitment(Model):
    """One 容缺受理 commitment: the office, the matter, the items still missing, the deadline.

    Idempotent by (partner_id, external_id), a unique key; ``request_hash`` tells the same
    request again (answered with the first commitment) from another body (409). ``partner_id``
    is a plain column: commitments sit below the partners package. A pending commitment past
    ``due_at`` is broken by ``commitments.service.advance`` with one conditional update, so a
    commitment breaks (and writes its record) once, whoever runs the check.
    """

    id = fields.UUIDField(primary_key=True)
    partner_id = fields.UUIDField()
    resident: fields.ForeignKeyRelation[Resident] = fields.ForeignKeyField(
        "residents.Resident", related_name="commitments", on_delete=fields.CASCADE
    )
    resident_id: UUID
    external_id = fields.CharField(max_length=128)
    request_hash = fields.CharField(max_length=64)
    matter = fields.CharField(max_length=255)
    missing_items: fields.JSONField[list[str]] = fields.JSONField(default=list)
    due_at = fields.DatetimeField()
    status = fields.CharField(max_length=16, default=CommitmentStatus.PENDING.value)
    tier_at_acceptance = fields.CharField(max_length=16)
    record_id = fields.BigIntField(null=True)  # the commitment_breach record of a broken one
    created_at = fields.DatetimeField()
    fulfilled_at = fields.DatetimeField(null=True)
    broken_at = fields.DatetimeField(null=True)

    class Meta:
        table = "commitments"
        unique_together = (("partner_id", "external_id"),)
        indexes = (("status", "due_at"), ("resident_id", "created_at"))
