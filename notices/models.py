"""Notices to a resident, and what the resident accepted in ``wx.requestSubscribeMessage``."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Notification(Model):
    """One notice in a resident's inbox. ``subscribe_status``: ``none`` (no WeChat message: no acceptance
    was left), ``pending`` (an acceptance was used; the sender will deliver it), ``sent`` or ``failed``."""

    id = fields.UUIDField(primary_key=True)
    resident_id = fields.UUIDField(db_index=True)
    kind = fields.CharField(max_length=32)  # list_notice, case_decision, tier_changed, publicity_ending
    title = fields.CharField(max_length=120)
    body = fields.TextField()
    case_kind = fields.CharField(max_length=24, null=True)
    case_id = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)
    subscribe_status = fields.CharField(max_length=8, default="none")
    subscribe_error = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "notifications"
        indexes = (("resident_id", "created_at"), ("subscribe_status", "created_at"))


class SubscribeAllowance(Model):
    """How many subscribe messages of a template the resident has accepted and not yet been sent."""

    id = fields.BigIntField(primary_key=True)
    resident_id = fields.UUIDField()
    template = fields.CharField(max_length=32)
    remaining = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "subscribe_allowances"
        unique_together = (("resident_id", "template"),)
