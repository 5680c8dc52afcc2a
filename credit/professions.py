"""Key professions' credit (seed 002 §10), tour guides first: licences, public standing, the holder's own view.

A credit record item may carry ``"profession": "tour_guide"`` and ``"licence_no"``; intake keeps
both on the record and notes the licence (``credit_licences``: the subject it belongs to and its
status, ``valid`` unless a source says ``suspended`` or ``revoked``). A tourist asks for a guide's
**standing** by licence number: derived from the records carrying that licence that count today
(the engine's own test: status, decision date, publicity window), ``restricted`` when one of them
is a black-list record or of ``serious`` severity, ``warned`` for any other negative record,
``good`` otherwise. The public answer never shows a record; the guide's own view shows each one
with the way to object. A repaired, withdrawn or expired record no longer counts, so the standing
recovers with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from credit import scoring
from credit.models import CreditRecord, ProfessionalLicence, Subject
from credit.reports import within_publicity
from credit.scores import active_ruleset, db
from residents.identity import mask_name
from server.crypto import FieldCipher
from server.dbtypes import DbConn
from server.errors import NotFound
from server.sql import Sql, execute

TOUR_GUIDE = "tour_guide"
PROFESSIONS = (TOUR_GUIDE,)
GOOD, WARNED, RESTRICTED = "good", "warned", "restricted"


class LicenceNotFound(NotFound):
    code = "NOT_FOUND"
    message = "No licence with this number is known."


async def note_licences(
    conn: DbConn,
    licences: Iterable[tuple[str | None, str | None, int, str | None, str | None]],
    *,
    now: datetime,
) -> None:
    """Record intake's licences ``(profession, licence_no, subject_id, status or None, name_enc)`` in ``conn``.

    A new licence belongs to the subject of the first record naming it (``valid`` unless the item
    says otherwise); a status sent later replaces the stored one. ``ON CONFLICT DO NOTHING``, so
    two imports naming one new licence never fail each other's transaction. A licence holder's
    subject made at identity binding has no name yet: it takes the (encrypted) name of the record,
    which the public page shows masked.
    """
    for profession, licence_no, subject_id, status, name_enc in licences:
        if profession is None or licence_no is None:
            continue
        if name_enc is not None:
            await (
                Subject.filter(id=subject_id, name_enc__isnull=True).using_db(conn).update(name_enc=name_enc)
            )
        q = Sql(conn)
        await execute(
            conn,
            "INSERT INTO credit_licences (subject_id, profession, licence_no, status, created_at, updated_at) "
            f"VALUES ({q.p(subject_id)}, {q.p(profession)}, {q.p(licence_no)}, {q.p(status or 'valid')}, "
            f"{q.p(now)}, {q.p(now)}) ON CONFLICT (profession, licence_no) DO NOTHING",
            q.params,
        )
        if status is not None:
            await (
                ProfessionalLicence.filter(profession=profession, licence_no=licence_no)
                .using_db(conn)
                .update(status=status, updated_at=now)
            )


def standing_of(records: Iterable[CreditRecord]) -> str:
    """``restricted`` / ``warned`` / ``good`` from the records that count today."""
    standing = GOOD
    for r in records:
        if r.category == "black_list" or (
            r.category in scoring.NEGATIVE_CATEGORIES and r.severity == "serious"
        ):
            return RESTRICTED
        if r.category in scoring.NEGATIVE_CATEGORIES:
            standing = WARNED
    return standing


async def _licence(profession: str, licence_no: str) -> ProfessionalLicence:
    licence = await ProfessionalLicence.get_or_none(profession=profession, licence_no=licence_no)
    if licence is None:
        raise LicenceNotFound()
    return licence


def _name_masked(subject: Subject, cipher: FieldCipher) -> str | None:
    if not subject.name_enc:
        return None
    return mask_name(cipher.decrypt(subject.name_enc, aad=f"credit_subject:{subject.id_hash}:name"))


async def public_standing(licence_no: str, *, cipher: FieldCipher, now: datetime) -> dict[str, Any]:
    """``GET /public/tour-guides/{licence_no}``: masked name, licence status and standing; no record details."""
    licence = await _licence(TOUR_GUIDE, licence_no)
    subject = await Subject.get(id=licence.subject_id)
    rules = await active_ruleset(db(None))
    records = await CreditRecord.filter(
        profession=TOUR_GUIDE, licence_no=licence_no, status__in=scoring.COUNTING_STATUSES
    )
    return {
        "licence_no": licence.licence_no,
        "name_masked": _name_masked(subject, cipher),
        "licence_status": licence.status,
        "standing": standing_of(within_publicity(records, rules, now=now)),
        "as_of": now,
    }


async def my_professions(resident_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """``GET /mp/professions``: my licences, each with its public standing and every record carrying it."""
    subject = await Subject.get_or_none(resident_id=resident_id)
    if subject is None:
        return {"items": []}
    rules = await active_ruleset(db(None))
    items = []
    for licence in await ProfessionalLicence.filter(subject_id=subject.id).order_by(
        "profession", "licence_no"
    ):
        records = await CreditRecord.filter(
            profession=licence.profession, licence_no=licence.licence_no
        ).order_by("-decided_at", "-id")
        counting = {r.id for r in within_publicity(records, rules, now=now)}
        items.append(
            {
                "profession": licence.profession,
                "licence_no": licence.licence_no,
                "licence_status": licence.status,
                "standing": standing_of(r for r in records if r.id in counting),
                "as_of": now,
                "records": [
                    {
                        "id": str(r.id),
                        "category": r.category,
                        "severity": r.severity,
                        "title": r.title,
                        "source": r.source,
                        "decided_at": r.decided_at,
                        "publicity_until": r.publicity_until,
                        "status": r.status,
                        "counts_now": r.id in counting,
                    }
                    for r in records
                ],
                "objection": {
                    "how": (
                        "对记录有异议：POST /api/v1/mp/objections {record_id, reason}；"
                        "已整改的记录可申请信用修复：POST /api/v1/mp/repairs {record_id, commitment}"
                    ),
                    "objections": "/api/v1/mp/objections",
                    "repairs": "/api/v1/mp/repairs",
                },
            }
        )
    return {"items": items}
