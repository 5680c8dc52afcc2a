"""What the credit engine holds about a resident: the export, and what an erasure does to it.

Records and volunteer hours are about the subject (the person behind an ID number), not the
account: they come from public authorities and platforms and stay with the subject when the
account is erased. The score and its history were computed for the account and go with it; when
the same person binds the ID number again (a new account), the subject is linked again and scored
afresh from the same records (``attach_resident``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from tortoise import connections

from credit.models import CreditRecord, CreditScore, ScoreHistory, Subject, VolunteerRecord
from credit.scores import lock_subjects, stored_ruleset
from credit.service import _record_points, history_out, record_out, score_out, volunteer_out
from server.dbtypes import DbConn, column_values
from server.pagination import every_row


async def export_for(resident_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """``records``, ``scores``, ``score_history`` and ``volunteer_hours`` of the resident's subject, as stored.

    Read as they are (no recomputation: a resident who withdrew consent gets a copy without being
    scored again); records newest decision first with their points in the stored score.
    """
    export: dict[str, list[dict[str, Any]]] = {
        "records": [],
        "scores": [],
        "score_history": [],
        "volunteer_hours": [],
    }
    subject_ids = await column_values(Subject.filter(resident_id=resident_id), "id")
    for subject_id in subject_ids:
        score = await CreditScore.get_or_none(subject_id=subject_id)
        rules = await stored_ruleset(connections.get("default"), score.ruleset_version) if score else None
        shares = _record_points(score.factors, rules) if score else {}
        if score is not None:
            export["scores"].append(score_out(score))
        records = CreditRecord.filter(subject_id=subject_id)
        async for rows in every_row(records, key=("decided_at", date), tiebreak=("id", int)):
            export["records"] += [record_out(r, rules=rules, shares=shares) for r in rows]
        history = ScoreHistory.filter(subject_id=subject_id)
        async for rows in every_row(history, key=("id", int), tiebreak=None):
            export["score_history"] += [history_out(h) for h in rows]
        hours = VolunteerRecord.filter(subject_id=subject_id)
        async for rows in every_row(hours, key=("started_at", datetime), tiebreak=("id", int)):
            export["volunteer_hours"] += [volunteer_out(v) for v in rows]
    return export


async def detach_resident(conn: DbConn, resident_id: uuid.UUID) -> None:
    """At erasure, in ``conn``'s transaction: the subject is unlinked from the account, its score and history deleted.

    The subject row is locked first, as every credit write does, so no concurrent change rescores
    it between the deletion and the unlinking (an unlinked subject is never scored).
    """
    subject_ids = await column_values(Subject.filter(resident_id=resident_id).using_db(conn), "id")
    if not subject_ids:
        return
    await lock_subjects(conn, subject_ids)
    await CreditScore.filter(subject_id__in=subject_ids).using_db(conn).delete()
    await ScoreHistory.filter(subject_id__in=subject_ids).using_db(conn).delete()
    await Subject.filter(id__in=subject_ids).using_db(conn).update(resident_id=None)
