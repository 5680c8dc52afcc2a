"""Partner accounts: creation, secret rotation with a grace period, lookup by key, secrets."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from partners.exceptions import PartnerNotFound
from partners.models import Partner
from partners.schemas import PartnerIn
from partners.webhook_url import WebhookUrlRejected, check_webhook_url
from server.crypto import FieldCipher
from server.errors import ValidationFailed
from server.pagination import keyset_page

# How long the previous secret keeps verifying after a rotation: a day to roll the new one out.
SECRET_GRACE = timedelta(hours=24)


def _new_key() -> str:
    return "pk_" + secrets.token_hex(16)


def _new_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def _aad(partner_id: uuid.UUID) -> str:
    # Both secret columns share the binding so a rotation moves the ciphertext as it is.
    return f"partner:{partner_id}:secret"


def partner_out(partner: Partner) -> dict[str, Any]:
    """The account as admins see it: never a secret."""
    return {
        "id": str(partner.id),
        "name": partner.name,
        "kind": partner.kind,
        "scopes": list(partner.scopes or []),
        "key": partner.key,
        "webhook_url": partner.webhook_url,
        "created_at": partner.created_at,
        "secret_rotated_at": partner.secret_rotated_at,
        "previous_secret_expires_at": partner.previous_secret_expires_at,
    }


async def create_partner(data: PartnerIn, *, cipher: FieldCipher, prod: bool) -> tuple[Partner, str]:
    """A new partner account and its secret (returned here once, stored only encrypted)."""
    if data.webhook_url is not None:
        try:
            await check_webhook_url(data.webhook_url, prod=prod)
        except WebhookUrlRejected as exc:
            raise ValidationFailed({"webhook_url": str(exc)}) from None
    partner_id = uuid.uuid4()
    secret = _new_secret()
    partner = await Partner.create(
        id=partner_id,
        name=data.name,
        kind=data.kind.value,
        scopes=[scope.value for scope in data.scopes],
        key=_new_key(),
        secret_enc=cipher.encrypt(secret, aad=_aad(partner_id)),
        webhook_url=data.webhook_url,
    )
    return partner, secret


async def rotate_secret(
    partner_id: uuid.UUID, *, cipher: FieldCipher, now: datetime, grace: timedelta = SECRET_GRACE
) -> tuple[Partner, str]:
    """A new secret that works at once; the current one keeps working for ``grace``.

    Only one previous secret is kept: rotating twice within the grace period retires the
    oldest at once. The row is locked so two concurrent rotations cannot both keep their own
    "previous" and lose a secret a partner was told about.
    """
    secret = _new_secret()
    async with in_transaction() as conn:
        partner = await Partner.filter(id=partner_id).select_for_update().using_db(conn).first()
        if partner is None:
            raise PartnerNotFound()
        partner.previous_secret_enc = partner.secret_enc
        partner.previous_secret_expires_at = now + grace
        partner.secret_enc = cipher.encrypt(secret, aad=_aad(partner.id))
        partner.secret_rotated_at = now
        await partner.save(
            using_db=conn,
            update_fields=[
                "previous_secret_enc",
                "previous_secret_expires_at",
                "secret_enc",
                "secret_rotated_at",
                "updated_at",
            ],
        )
    return partner, secret


async def get_partner(partner_id: uuid.UUID) -> Partner:
    partner = await Partner.get_or_none(id=partner_id)
    if partner is None:
        raise PartnerNotFound()
    return partner


async def find_by_key(key: str) -> Partner | None:
    """The partner whose public ``X-Partner-Key`` this is (not cached: rotation must show at once)."""
    return await Partner.get_or_none(key=key)


async def list_partners(*, limit: int, cursor: str | None) -> tuple[list[Partner], str | None]:
    """Newest first, by (created_at, id)."""
    return await keyset_page(Partner.all(), limit=limit, cursor=cursor)


def current_secret(partner: Partner, *, cipher: FieldCipher) -> str:
    """The secret to sign with (webhooks to this partner)."""
    return cipher.decrypt(partner.secret_enc, aad=_aad(partner.id))


def verification_secrets(partner: Partner, *, cipher: FieldCipher, now: datetime) -> list[str]:
    """Every secret a request from this partner may be signed with at ``now``: current, then previous in grace."""
    found = [current_secret(partner, cipher=cipher)]
    expires = partner.previous_secret_expires_at
    if partner.previous_secret_enc and expires is not None and now < expires:
        found.append(cipher.decrypt(partner.previous_secret_enc, aad=_aad(partner.id)))
    return found
