"""What the residents domain holds about a resident: the account (masked) and the consent events; the erasure of both.

An erased account stays as a row: its id is the pseudonym that the ledgers (scans, redemptions,
grants, cases, consent events) name, and nothing else is left on it. The openid is cleared, not
replaced, so the same WeChat user logging in again is a new resident (``openid`` is unique and
nullable), and the ID number's hash is cleared, so that person may bind the same number again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from residents.models import ConsentEvent, Resident
from residents.service import profile
from server.crypto import FieldCipher
from server.dbtypes import DbConn

WITHDRAWN = "withdrawn"


def account_export(resident: Resident, *, cipher: FieldCipher, tier: str | None) -> dict[str, Any]:
    """The account as ``GET /me`` shows it (identity masked), with its dates."""
    return {
        **profile(resident, cipher=cipher, tier=tier),
        "created_at": resident.created_at,
        "last_login_at": resident.last_login_at,
        "consent_version": resident.consent_version,
        "consented_at": resident.consented_at,
        "identity_bound_at": resident.identity_bound_at,
    }


async def consents_export(resident_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every acceptance and withdrawal of the privacy terms, oldest first."""
    events = await ConsentEvent.filter(resident_id=resident_id).order_by("at", "id")
    return [{"version": e.version, "action": e.action, "at": e.at} for e in events]


async def lock_account(conn: DbConn, resident_id: uuid.UUID) -> Resident | None:
    """The resident's row, locked for the erasure; None when it is gone or already erased."""
    resident = await Resident.filter(id=resident_id).select_for_update().using_db(conn).first()
    if resident is None or resident.erased_at is not None:
        return None
    return resident


async def erase_account(conn: DbConn, resident: Resident, *, now: datetime) -> None:
    """Clear everything that identifies the resident, in ``conn``'s transaction, and withdraw the consent.

    Cleared: openid, unionid, name, ID number (ciphertext and hash), phone (ciphertext and hash),
    the consent and the dates of login and binding. Kept: the id, ``created_at``, ``erased_at`` and the
    consent events (the evidence of what was agreed when), with a withdrawal appended if the terms
    were accepted at the time.
    """
    if resident.consent_version is not None:
        await ConsentEvent.create(
            resident_id=resident.id, version=resident.consent_version, action=WITHDRAWN, at=now, using_db=conn
        )
    await (
        Resident.filter(id=resident.id)
        .using_db(conn)
        .update(
            openid=None,
            unionid=None,
            name_enc=None,
            id_number_enc=None,
            id_number_hash=None,
            phone_enc=None,
            phone_hash=None,
            consent_version=None,
            consented_at=None,
            identity_bound_at=None,
            last_login_at=None,
            erased_at=now,
        )
    )
