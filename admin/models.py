"""Regulator (admin) accounts, made with ``xinyi create-admin``."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AdminUser(Model):
    id = fields.UUIDField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "admin_users"
