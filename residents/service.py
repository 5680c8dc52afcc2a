"""Resident accounts: login, consent, identity binding, the masked profile."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from residents.consent import CURRENT_TERMS
from residents.exceptions import (
    ConsentRequired,
    ConsentVersionOutdated,
    IdentityAlreadyBound,
    IdentityRequired,
    IdentityTaken,
    IdNumberInvalid,
    ResidentGone,
)
from residents.identity import (
    id_number_problem,
    mask_id_number,
    mask_name,
    mask_phone,
    name_problem,
    normalize_id_number,
)
from residents.models import ConsentEvent, Resident
from server.auth import Audience, Principal, TokenPair, TokenService
from server.crypto import FieldCipher, KeyedHasher
from server.dbtypes import DbConn
from server.errors import ValidationFailed

# What follows a newly bound identity inside the binding transaction, with (conn, resident): the
# credit engine attaches the records imported by ID number before the resident signed up
# (``credit.service.attach_resident``). Residents sit below credit, so the caller passes it.
IdentityBound = Callable[[DbConn, Resident], Awaitable[None]]


def is_consented(resident: Resident) -> bool:
    return resident.consent_version == CURRENT_TERMS["version"]


def summary(resident: Resident) -> dict[str, Any]:
    return {
        "id": str(resident.id),
        "consented": is_consented(resident),
        "identity_bound": resident.identity_bound,
    }


async def login(*, tokens: TokenService, openid: str, unionid: str | None) -> tuple[Resident, TokenPair]:
    """Find or create the resident of this openid and open a new session family."""
    now = datetime.now(UTC)
    resident = await Resident.get_or_none(openid=openid)
    if resident is None:
        try:
            resident = await Resident.create(openid=openid, unionid=unionid, last_login_at=now)
        except IntegrityError:  # a concurrent first login of the same openid won
            resident = await Resident.get(openid=openid)
    else:
        await Resident.filter(id=resident.id).update(last_login_at=now)
    pair = await tokens.issue_pair(Audience.RESIDENT, str(resident.id))
    return resident, pair


async def refresh(*, tokens: TokenService, refresh_token: str) -> tuple[Resident, TokenPair]:
    row = await tokens.rotate(refresh_token, Audience.RESIDENT)
    resident = await Resident.get_or_none(id=row.subject_id)
    if resident is None or resident.erased_at is not None:
        raise ResidentGone()
    pair = await tokens.issue_pair(Audience.RESIDENT, str(resident.id), family_id=row.family_id)
    return resident, pair


async def current_resident(
    principal: Principal, *, need_consent: bool = False, need_identity: bool = False
) -> Resident:
    """The caller as a ``Resident``; 403 ``CONSENT_REQUIRED`` / ``IDENTITY_REQUIRED`` as asked.

    401 for an erased account: its access tokens outlive the erasure by their expiry, and the row is
    a pseudonymous shell that nobody may act as.
    """
    try:
        resident_id = uuid.UUID(principal.subject_id)
    except ValueError:
        raise ResidentGone() from None
    resident = await Resident.get_or_none(id=resident_id)
    if resident is None or resident.erased_at is not None:
        raise ResidentGone()
    if need_consent and not is_consented(resident):
        raise ConsentRequired()
    if need_identity and not resident.identity_bound:
        raise IdentityRequired()
    return resident


def consent_view(resident: Resident) -> dict[str, Any]:
    return {
        **CURRENT_TERMS,
        "accepted_version": resident.consent_version,
        "consented": is_consented(resident),
    }


async def accept_consent(resident: Resident, *, version: str) -> dict[str, Any]:
    if version != CURRENT_TERMS["version"]:
        raise ConsentVersionOutdated(current_version=CURRENT_TERMS["version"])
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await Resident.filter(id=resident.id).using_db(conn).update(consent_version=version, consented_at=now)
        await ConsentEvent.create(resident_id=resident.id, version=version, action="accepted", using_db=conn)
    resident.consent_version, resident.consented_at = version, now
    return consent_view(resident)


async def withdraw_consent(resident: Resident) -> dict[str, Any]:
    async with in_transaction() as conn:
        await Resident.filter(id=resident.id).using_db(conn).update(consent_version=None, consented_at=None)
        await ConsentEvent.create(
            resident_id=resident.id, version=resident.consent_version or "", action="withdrawn", using_db=conn
        )
    resident.consent_version = None
    return consent_view(resident)


async def bind_identity(
    resident: Resident,
    *,
    name: str,
    id_number: str,
    phone: str | None,
    cipher: FieldCipher,
    hasher: KeyedHasher,
    then: IdentityBound,
) -> dict[str, Any]:
    """Bind name + ID number (encrypted, plus a keyed hash that is unique across residents), then ``then`` in the same transaction."""
    problems: dict[str, str] = {}
    if why := name_problem(name):
        problems["name"] = why
    if why := id_number_problem(id_number):
        raise IdNumberInvalid({"id_number": why, **problems})
    if problems:
        raise ValidationFailed(problems)
    number = normalize_id_number(id_number)
    digest = hasher.id_number(number)
    if resident.id_number_hash is not None and resident.id_number_hash != digest:
        raise IdentityAlreadyBound()
    now = datetime.now(UTC)
    changes: dict[str, Any] = {
        "name_enc": cipher.encrypt(name.strip(), aad=f"resident:{resident.id}:name"),
        "id_number_enc": cipher.encrypt(number, aad=f"resident:{resident.id}:id_number"),
        "id_number_hash": digest,
        "identity_bound_at": resident.identity_bound_at or now,
    }
    if phone is not None:
        changes["phone_enc"] = cipher.encrypt(phone, aad=f"resident:{resident.id}:phone")
        changes["phone_hash"] = hasher.phone(phone)
    try:
        async with in_transaction() as conn:
            await Resident.filter(id=resident.id).using_db(conn).update(**changes)
            for key, value in changes.items():
                setattr(resident, key, value)
            await then(conn, resident)
    except IntegrityError:
        raise IdentityTaken() from None
    return {"identity_bound": True, "id_number_masked": mask_id_number(number)}


def profile(resident: Resident, *, cipher: FieldCipher, tier: str | None) -> dict[str, Any]:
    """``GET /me``: masked values only; the plain ones never leave the server."""

    def reveal(column: str, value: str | None) -> str | None:
        return cipher.decrypt(value, aad=f"resident:{resident.id}:{column}") if value else None

    name = reveal("name", resident.name_enc)
    number = reveal("id_number", resident.id_number_enc)
    phone = reveal("phone", resident.phone_enc)
    return {
        "id": str(resident.id),
        "name_masked": mask_name(name) if name else None,
        "id_number_masked": mask_id_number(number) if number else None,
        "phone_masked": mask_phone(phone) if phone else None,
        "tier": tier,
        "consented": is_consented(resident),
        "identity_bound": resident.identity_bound,
    }
