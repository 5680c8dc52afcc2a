"""信易贷: what a signed credit report says about a resident, and the log of reports issued.

The payload holds the score, tier, ruleset version, factor codes and points, the counts of the
records within publicity by category and severity, and the volunteer hours of the last twelve
months; never a name, an ID number or a record's title. Signing is the pass keys' business
(``passes.keys``) and the grant check the partners'; this module only builds the facts and keeps
the log the resident reads (``credit_reports``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from credit import scoring
from credit.models import CreditRecord, CreditReport, CreditScore, Subject, VolunteerRecord
from credit.scores import RECOMPUTE, active_ruleset, local_today, lock_subjects, recompute_subjects
from residents.exceptions import IdentityRequired
from server.dbtypes import DbConn
from server.pagination import keyset_page

REPORT_TTL = timedelta(days=30)
VOLUNTEER_WINDOW = timedelta(days=365)


def within_publicity(
    records: Iterable[CreditRecord], rules: scoring.Ruleset, *, now: datetime
) -> list[CreditRecord]:
    """The records that count on today's date (the engine's own test: status, decision date, window)."""
    today = local_today(now)
    shown = []
    for r in records:
        fact = scoring.RecordFact(
            str(r.id), r.category, r.severity, r.decided_at, r.publicity_until, r.status, r.disputed_until
        )
        if scoring._counts(fact, rules, today):
            shown.append(r)
    return shown


def record_counts(records: Iterable[CreditRecord]) -> dict[str, dict[str, int]]:
    """``{"<category>": {"minor", "general", "serious"}}`` for every category (zeros included)."""
    counts = {c: dict.fromkeys(scoring.SEVERITIES, 0) for c in scoring.CATEGORIES}
    for r in records:
        counts.setdefault(r.category, dict.fromkeys(scoring.SEVERITIES, 0))
        counts[r.category][r.severity or scoring.DEFAULT_SEVERITY] += 1
    return counts


async def report_facts(resident_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """The resident's facts as a report states them, the score brought up to today first."""
    async with in_transaction() as conn:
        subject = await Subject.filter(resident_id=resident_id).using_db(conn).first()
        if subject is None:
            raise IdentityRequired()
        await lock_subjects(conn, [subject.id])
        await recompute_subjects([subject.id], reason=RECOMPUTE, conn=conn, as_of=local_today(now), now=now)
        score = await CreditScore.get(subject_id=subject.id, using_db=conn)
        rules = await active_ruleset(conn)
        records = await CreditRecord.filter(
            subject_id=subject.id, status__in=scoring.COUNTING_STATUSES
        ).using_db(conn)
        since = now - VOLUNTEER_WINDOW
        hours = await (
            VolunteerRecord.filter(
                subject_id=subject.id, status="active", duplicate_of_id__isnull=True, started_at__gte=since
            )
            .using_db(conn)
            .values_list("hours", flat=True)
        )
    return {
        "subject_id": subject.id,
        "score": score.score,
        "tier": score.tier,
        "ruleset_version": score.ruleset_version,
        "factors": [{"code": f["code"], "points": f["points"]} for f in score.factors],
        "records": record_counts(within_publicity(records, rules, now=now)),
        "volunteer_hours_12m": float(sum((Decimal(str(h)) for h in hours), Decimal(0))),
    }


async def log_report(
    conn: DbConn,
    *,
    report_id: uuid.UUID,
    subject_id: int,
    resident_id: uuid.UUID,
    partner_id: uuid.UUID,
    purpose: str,
    kid: str,
    payload: dict[str, Any],
    issued_at: datetime,
    expires_at: datetime,
) -> CreditReport:
    """Keep what a report disclosed, to whom and why (the payload, never the signed token), in ``conn``."""
    return await CreditReport.create(
        id=report_id,
        subject_id=subject_id,
        resident_id=resident_id,
        partner_id=partner_id,
        purpose=purpose,
        kid=kid,
        payload=payload,
        issued_at=issued_at.astimezone(UTC),
        expires_at=expires_at.astimezone(UTC),
        using_db=conn,
    )


async def reports_page(
    resident_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[CreditReport], str | None]:
    """The resident's reports, newest first (the partners' names are the caller's to add)."""
    return await keyset_page(
        CreditReport.filter(resident_id=resident_id),
        limit=limit,
        cursor=cursor,
        key=("issued_at", datetime),
        tiebreak=("id", uuid.UUID),
    )
