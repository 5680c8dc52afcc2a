"""Credit data: subjects, public credit records, volunteer records, rulesets and scores.

A subject is whoever the records are about, keyed by a keyed hash of its identifier (the ID
number of a natural person, the unified social credit code of a legal person), never by the
plain identifier. A resident is linked to its subject when it binds its identity, so records
imported before sign-up attach the moment the resident appears.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from uuid import UUID

    from residents.models import Resident


class Subject(Model):
    """Whoever credit records are about (natural person first, legal persons later)."""

    id = fields.BigIntField(primary_key=True)
    subject_type = fields.CharField(max_length=24, default="natural_person")
    id_hash = fields.CharField(max_length=64)
    name_enc = fields.TextField(null=True)
    resident: fields.OneToOneNullableRelation[Resident] = fields.OneToOneField(
        "residents.Resident", related_name="credit_subject", null=True, on_delete=fields.SET_NULL
    )
    resident_id: UUID | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "credit_subjects"
        unique_together = (("subject_type", "id_hash"),)


class CreditRecord(Model):
    """One public credit record, idempotent by (source, source_record_id)."""

    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="records", on_delete=fields.CASCADE
    )
    subject_id: int
    source = fields.CharField(max_length=64)
    source_record_id = fields.CharField(max_length=128)
    category = fields.CharField(max_length=32)
    severity = fields.CharField(max_length=16, null=True)
    title = fields.CharField(max_length=255)
    decided_at = fields.DateField()
    publicity_until = fields.DateField(null=True)
    # notified (a list entry within its objection window), active, disputed (an objection open),
    # corrected (re-graded after an upheld objection), withdrawn (objection upheld), repaired,
    # revoked (by its source), exited (left its list). Only active, corrected and, as the ruleset
    # says, disputed count (credit.scoring.COUNTING_STATUSES).
    status = fields.CharField(max_length=16, default="active")
    objection_until = fields.DatetimeField(null=True)  # a list entry's notice: objections accepted until then
    disputed_until = fields.DateField(null=True)  # the open objection's due date (status disputed)
    # SHA-256 of the imported content: a re-import of the same content changes nothing.
    content_hash = fields.CharField(max_length=64)
    # A record about the subject's conduct in a key profession (seed 002 §10): tour_guide, with the licence.
    profession = fields.CharField(max_length=24, null=True)
    licence_no = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "credit_records"
        unique_together = (("source", "source_record_id"),)
        indexes = (("subject_id", "decided_at"), ("profession", "licence_no"))


class VolunteerRecord(Model):
    """Service hours posted by a volunteer platform, idempotent by (partner, external_id).

    ``duplicate_of`` marks a record that overlaps in time with one of the same subject posted
    earlier (by any platform), so the same activity is never counted twice.
    """

    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="volunteer_records", on_delete=fields.CASCADE
    )
    subject_id: int
    partner_id = fields.UUIDField(db_index=True)
    external_id = fields.CharField(max_length=128)
    activity = fields.CharField(max_length=255)
    organization = fields.CharField(max_length=255)
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField()
    hours = fields.DecimalField(max_digits=5, decimal_places=2)
    status = fields.CharField(max_length=16, default="active")  # active, revoked
    duplicate_of: fields.ForeignKeyNullableRelation[VolunteerRecord] = fields.ForeignKeyField(
        "credit.VolunteerRecord", related_name="duplicates", null=True, on_delete=fields.SET_NULL
    )
    duplicate_of_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "volunteer_records"
        unique_together = (("partner_id", "external_id"),)
        indexes = (("subject_id", "started_at"),)


class Ruleset(Model):
    """A versioned scoring ruleset, as data. Exactly one is active at a time."""

    version = fields.CharField(max_length=32, primary_key=True)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField()
    status = fields.CharField(max_length=16, default="draft")  # draft, active, retired
    created_at = fields.DatetimeField(auto_now_add=True)
    activated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "credit_rulesets"


class CreditScore(Model):
    """The current score of a subject (one row per subject), read on every scan for the live tier.

    Only subjects linked to a resident are scored: the row is made when the resident binds the
    identity and kept current whenever a record of the subject changes.
    """

    id = fields.BigIntField(primary_key=True)
    subject: fields.OneToOneRelation[Subject] = fields.OneToOneField(
        "credit.Subject", related_name="score", on_delete=fields.CASCADE
    )
    subject_id: int
    score = fields.IntField()
    tier = fields.CharField(max_length=16)
    ruleset_version = fields.CharField(max_length=32)
    as_of = fields.DateField()
    factors: fields.JSONField[list[dict[str, Any]]] = fields.JSONField()
    next_tier = fields.CharField(max_length=16, null=True)
    points_needed = fields.IntField(null=True)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "credit_scores"


class ScoreHistory(Model):
    """A score that changed, with why (record added, ruleset activated, daily decay …)."""

    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="score_history", on_delete=fields.CASCADE
    )
    subject_id: int
    score = fields.IntField()
    tier = fields.CharField(max_length=16)
    previous_tier = fields.CharField(max_length=16, null=True)
    ruleset_version = fields.CharField(max_length=32)
    reason = fields.CharField(max_length=64)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "credit_score_history"
        indexes = (("subject_id", "id"),)


class ProfessionalLicence(Model):
    """A key profession's licence (a tour guide's 导游证) as the records that carry it name it.

    Written by record intake: the first record naming a licence creates it for the record's
    subject, and an item may say the licence's status (valid, suspended, revoked). The public
    standing of a licence holder is derived from the records carrying the licence.
    """

    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="licences", on_delete=fields.CASCADE
    )
    subject_id: int
    profession = fields.CharField(max_length=24)
    licence_no = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16, default="valid")  # valid, suspended, revoked
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "credit_licences"
        unique_together = (("profession", "licence_no"),)


class ThirdPartyScore(Model):
    """A scoring provider's score of a subject on its own scale (one row per provider and subject).

    It counts (a bounded ``THIRD_PARTY`` factor, the ruleset's mapping) from ``as_of`` until
    ``valid_until`` while ``status`` is active; revoking the resident's grant to the provider
    withdraws it. ``partner_id`` is a plain column: credit sits below the partners package.
    """

    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="third_party_scores", on_delete=fields.CASCADE
    )
    subject_id: int
    partner_id = fields.UUIDField()
    provider = fields.CharField(max_length=128)
    score = fields.FloatField()
    scale_min = fields.FloatField()
    scale_max = fields.FloatField()
    as_of = fields.DatetimeField()
    valid_until = fields.DatetimeField()
    status = fields.CharField(max_length=16, default="active")  # active, withdrawn
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "credit_third_party_scores"
        unique_together = (("partner_id", "subject_id"),)


class CreditReport(Model):
    """A signed credit report issued to a partner (信易贷): what was disclosed, to whom, why, until when.

    The resident reads these (``GET /mp/reports``); the signed token itself is not kept, only its
    payload, so a leak of this table forges nothing.
    """

    id = fields.UUIDField(primary_key=True)
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="reports", on_delete=fields.CASCADE
    )
    subject_id: int
    resident_id = fields.UUIDField()
    partner_id = fields.UUIDField()
    purpose = fields.CharField(max_length=64)
    kid = fields.CharField(max_length=16)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    issued_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "credit_reports"
        indexes = (("resident_id", "issued_at"),)
