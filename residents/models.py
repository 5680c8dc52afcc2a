"""Residents: a WeChat account, its consent and its bound identity (encrypted + keyed hash)."""

from __future__ import annotations

from uuid import UUID

from tortoise import fields
from tortoise.models import Model


class Resident(Model):
    id = fields.UUIDField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True, null=True)  # None once erased
    unionid = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)
    consent_version = fields.CharField(max_length=32, null=True)
    consented_at = fields.DatetimeField(null=True)
    name_enc = fields.TextField(null=True)
    id_number_enc = fields.TextField(null=True)
    id_number_hash = fields.CharField(max_length=64, null=True, unique=True)
    phone_enc = fields.TextField(null=True)
    phone_hash = fields.CharField(max_length=64, null=True, db_index=True)
    identity_bound_at = fields.DatetimeField(null=True)
    # Set when the resident erased the account: the row stays as the pseudonym the ledgers name.
    erased_at = fields.DatetimeField(null=True)

    class Meta:
        table = "residents"

    @property
    def identity_bound(self) -> bool:
        return self.id_number_hash is not None


class ConsentEvent(Model):
    """Every acceptance or withdrawal of the privacy terms, kept as evidence."""

    id = fields.BigIntField(primary_key=True)
    resident: fields.ForeignKeyRelation[Resident] = fields.ForeignKeyField(
        "residents.Resident", related_name="consent_events", on_delete=fields.CASCADE
    )
    resident_id: UUID
    version = fields.CharField(max_length=32)
    action = fields.CharField(max_length=16)  # accepted | withdrawn
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consent_events"


class ResidentNumber(Model):
    """A small, dense, stable integer per resident, given on first need.

    Bitmaps of residents (the statistics' distinct counts) and the offline bundle's status
    list index residents by it: a UUID cannot be a bit position. The number is never shown to
    anyone and says nothing about the resident; it outlives erasure as the pseudonym does.
    """

    number = fields.BigIntField(primary_key=True)
    resident: fields.OneToOneRelation[Resident] = fields.OneToOneField(
        "residents.Resident", related_name="number_row", on_delete=fields.CASCADE
    )
    resident_id: UUID

    class Meta:
        table = "resident_numbers"
