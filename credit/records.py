"""Records as the subject's cases change them: a list entry's record, a record disputed, corrected,
withdrawn, repaired or exited, a commendation from an approved self-report.

Other domains (``rights``) change records only through here, the way every credit write is done:
the subject is row-locked first, the record written, and the subject rescored in the same
transaction with a history reason that names the case (``objection_upheld:<id>``), so the
resident's score history says why it moved and the partners' tier webhooks follow.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime
from typing import Any

import orjson

from credit.exceptions import RecordNotFound
from credit.models import CreditRecord, Subject
from credit.scores import ensure_subjects, local_today, lock_subjects, recompute_subjects
from server.crypto import FieldCipher, KeyedHasher
from server.dbtypes import DbConn

_UNSET: Any = object()


async def resident_record(resident_id: uuid.UUID, record_id: Any, conn: DbConn) -> CreditRecord:
    """The record if it is about this resident; 404 ``NOT_FOUND`` otherwise (another person's record included)."""
    try:
        rid = int(record_id)
    except (TypeError, ValueError):
        raise RecordNotFound() from None
    record = (
        await CreditRecord.filter(id=rid, subject__resident_id=resident_id).using_db(conn).first()
        if 0 < rid < 2**63
        else None
    )
    if record is None:
        raise RecordNotFound()
    return record


async def record_by_id(record_id: int, conn: DbConn, *, lock: bool = False) -> CreditRecord:
    query = CreditRecord.filter(id=record_id).using_db(conn)
    record = await (query.select_for_update() if lock else query).first()
    if record is None:
        raise RecordNotFound()
    return record


async def resident_of_subject(subject_id: int, conn: DbConn | None) -> uuid.UUID | None:
    subject = await Subject.filter(id=subject_id).using_db(conn).first()
    return None if subject is None else subject.resident_id


async def subject_of_resident(resident_id: uuid.UUID, conn: DbConn) -> int | None:
    subject = await Subject.filter(resident_id=resident_id).using_db(conn).first()
    return None if subject is None else subject.id


async def subject_for_identity(
    conn: DbConn, *, id_number: str, name: str | None, hasher: KeyedHasher, cipher: FieldCipher
) -> int:
    """The subject of an ID number (created if new, the name kept encrypted): records wait there for the resident."""
    id_hash = hasher.id_number(id_number)
    found = await ensure_subjects(
        conn,
        {id_hash: name},
        encrypt_name=lambda h, plain: cipher.encrypt(plain, aad=f"credit_subject:{h}:name"),  # as imports do
    )
    return found[id_hash]


async def new_record(
    conn: DbConn,
    *,
    subject_id: int,
    source: str,
    source_record_id: str,
    category: str,
    severity: str | None,
    title: str,
    decided_at: date,
    publicity_until: date | None,
    status: str,
    objection_until: datetime | None = None,
    reason: str,
    now: datetime,
) -> CreditRecord:
    """A record written by a case (a regulator's list entry, an approved self-report), the subject rescored."""
    await lock_subjects(conn, [subject_id])
    content = [source, source_record_id, category, severity, title, decided_at.isoformat()]
    record = await CreditRecord.create(
        subject_id=subject_id,
        source=source,
        source_record_id=source_record_id,
        category=category,
        severity=severity,
        title=title[:255],
        decided_at=decided_at,
        publicity_until=publicity_until,
        status=status,
        objection_until=objection_until,
        content_hash=hashlib.sha256(orjson.dumps(content)).hexdigest(),
        using_db=conn,
    )
    await recompute_subjects([subject_id], reason=reason, conn=conn, as_of=local_today(now), now=now)
    return record


async def change_record(
    conn: DbConn,
    record_id: int,
    *,
    reason: str,
    now: datetime,
    status: str = _UNSET,
    severity: str | None = _UNSET,
    disputed_until: date | None = _UNSET,
    objection_until: datetime | None = _UNSET,
) -> CreditRecord:
    """Change what a case decided about a record, then rescore its subject (reason: the case)."""
    record = await record_by_id(record_id, conn)
    await lock_subjects(conn, [record.subject_id])
    changes = {
        name: value
        for name, value in (
            ("status", status),
            ("severity", severity),
            ("disputed_until", disputed_until),
            ("objection_until", objection_until),
        )
        if value is not _UNSET
    }
    if changes:
        changes["updated_at"] = now
        await CreditRecord.filter(id=record_id).using_db(conn).update(**changes)
        for name, value in changes.items():
            setattr(record, name, value)
    await recompute_subjects([record.subject_id], reason=reason, conn=conn, as_of=local_today(now), now=now)
    return record
