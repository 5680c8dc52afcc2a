"""Cases about a resident's credit: list entries, objections, repairs, self-reports, their attachments, and
every transition of each (``CaseEvent``: who moved what, from which state to which, why, when)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ListEntry(Model):
    """A red or black list entry: its credit record (category ``red_list``/``black_list``) and its lifecycle.

    ``notified`` (告知: the person is told and may object until the record's ``objection_until``),
    ``active`` (认定 in force: the record counts), ``exited`` (退出: publicity over, repair approved,
    objection upheld, or revoked by a regulator). Entries from the provincial platform arrive ``active``.
    """

    id = fields.UUIDField(primary_key=True)
    record_id = fields.BigIntField(unique=True)
    subject_id = fields.BigIntField(db_index=True)
    kind = fields.CharField(max_length=8)  # red, black
    list_category = fields.CharField(max_length=48)  # which list: tourism, court_dishonest_debtor, tax, …
    basis = fields.TextField()  # 认定依据: the decision and the rule it applies
    state = fields.CharField(max_length=12, db_index=True)
    origin = fields.CharField(max_length=16, default="regulator")  # regulator, provincial
    # where the decision was made (6-digit GB/T 2260 code): the public pages filter by its prefix
    region = fields.CharField(max_length=6, null=True, db_index=True)
    created_by = fields.UUIDField(null=True)  # the regulator who identified it
    publicity_ending_noticed = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "list_entries"


class Objection(Model):
    """异议: on one of the resident's records (``target`` ``record``) or asking a human to review the score
    (``target`` ``score``, PIPL art. 24). One open objection per record (a partial unique index)."""

    id = fields.UUIDField(primary_key=True)
    resident_id = fields.UUIDField(db_index=True)
    target = fields.CharField(max_length=8)  # record, score
    record_id = fields.BigIntField(null=True)
    reason = fields.TextField()
    attachment_ids: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=10, default="open")  # open, upheld, rejected
    previous_record_status = fields.CharField(max_length=16, null=True)  # what a rejection restores
    due_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by = fields.UUIDField(null=True)
    note = fields.TextField(null=True)
    correction: fields.JSONField[dict] = fields.JSONField(null=True)

    class Meta:
        table = "objections"
        indexes = (("status", "due_at"),)


class Repair(Model):
    """信用修复: the resident's credit commitment (信用承诺) to have a record stop counting early."""

    id = fields.UUIDField(primary_key=True)
    resident_id = fields.UUIDField(db_index=True)
    record_id = fields.BigIntField()
    commitment = fields.TextField()
    attachment_ids: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=12, default="under_review")  # under_review, approved, rejected
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by = fields.UUIDField(null=True)
    note = fields.TextField(null=True)

    class Meta:
        table = "repairs"
        indexes = (("status", "created_at"),)


class CaseEvent(Model):
    """One step of a case, kept for good: the audit trail and a list entry's transitions."""

    id = fields.BigIntField(primary_key=True)
    case_kind = fields.CharField(max_length=16)  # list_entry, objection, repair, self_report
    case_id = fields.UUIDField()
    from_state = fields.CharField(max_length=16, null=True)
    to_state = fields.CharField(max_length=16)
    actor = fields.CharField(max_length=64)  # admin:<id>, resident, system
    reason = fields.TextField()
    at = fields.DatetimeField()

    class Meta:
        table = "case_events"
        # the second: the newest event of a kind, which versions the public lists' cache (rights.publicity)
        indexes = (("case_kind", "case_id", "at"), ("case_kind", "id"))


class RegulatorRead(Model):
    """A regulator read a resident's case: it shows in the resident's access log."""

    id = fields.UUIDField(primary_key=True)
    resident_id = fields.UUIDField()
    admin_id = fields.UUIDField()
    purpose = fields.CharField(max_length=32)  # case_read
    case_kind = fields.CharField(max_length=16)
    case_id = fields.UUIDField()
    at = fields.DatetimeField()

    class Meta:
        table = "regulator_reads"
        indexes = (("resident_id", "at"),)


class Attachment(Model):
    """A file a resident uploaded as evidence (JPEG, PNG or PDF, judged from its bytes), kept outside the
    database (``rights.storage``) under ``storage_key``; only its owner and regulators may read it back."""

    id = fields.UUIDField(primary_key=True)
    resident_id = fields.UUIDField(db_index=True)
    content_type = fields.CharField(max_length=32)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    storage_key = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()

    class Meta:
        table = "attachments"


class SelfReport(Model):
    """A positive fact the resident reports (volunteering elsewhere, donation, blood donation, award,
    rescue); approval creates a ``commendation`` record."""

    id = fields.UUIDField(primary_key=True)
    resident_id = fields.UUIDField(db_index=True)
    category = fields.CharField(max_length=16)
    title = fields.CharField(max_length=120)
    description = fields.TextField()
    occurred_at = fields.DateField()
    attachment_ids: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=12, default="under_review")  # under_review, approved, rejected
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by = fields.UUIDField(null=True)
    note = fields.TextField(null=True)
    record_id = fields.BigIntField(null=True)

    class Meta:
        table = "self_reports"
        indexes = (("status", "created_at"),)
