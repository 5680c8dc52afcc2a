"""Merchants (scenic spots, hotels, shuttles…), their stores and their staff."""

from __future__ import annotations

from uuid import UUID

from tortoise import fields
from tortoise.models import Model


class Merchant(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=128)
    category = fields.CharField(max_length=32)
    region = fields.CharField(max_length=6)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "merchants"


class Store(Model):
    id = fields.UUIDField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "merchants.Merchant", related_name="stores", on_delete=fields.RESTRICT
    )
    merchant_id: UUID
    name = fields.CharField(max_length=128)
    region = fields.CharField(max_length=6)
    address = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "stores"


class Staff(Model):
    id = fields.UUIDField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "merchants.Merchant", related_name="staff", on_delete=fields.RESTRICT
    )
    merchant_id: UUID
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharField(max_length=16)  # owner | manager | cashier
    is_active = fields.BooleanField(default=True)
    stores: fields.ManyToManyRelation[Store] = fields.ManyToManyField(
        "merchants.Store", related_name="staff", through="staff_stores"
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff"
