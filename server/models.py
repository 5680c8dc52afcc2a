"""Models of the frame: refresh-token families shared by every audience."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class RefreshToken(Model):
    """One refresh token of a login session (a *family*), stored as its SHA-256 only.

    Rotation: using a token marks it used and issues the next one of the same family. A used
    token presented again means it was stolen or replayed, so the whole family is revoked.
    """

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    family_id = fields.UUIDField(db_index=True)
    audience = fields.CharField(max_length=16)
    subject_id = fields.CharField(max_length=64, db_index=True)
    issued_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"
