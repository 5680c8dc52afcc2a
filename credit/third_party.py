"""Third-party personal credit scores (seed 000 §4(5)) as one bounded factor of the score.

A scoring provider posts a resident's score on its own scale; the ruleset's ``third_party``
section maps it linearly onto bounded points (``credit.scoring.third_party_points``), shown as the
factor ``THIRD_PARTY`` naming the provider. It counts on the days from its ``as_of`` through its
``valid_until`` (China Standard Time), and never past the provider's grant: ``valid_until`` is
cut to the grant's end when it is posted, and revoking the grant withdraws the score and
rescores the subject in the revocation's transaction (``withdraw``, wired in ``xinyi.wiring``).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from credit import scoring
from credit.models import Subject, ThirdPartyScore
from credit.scores import active_ruleset, local_today, lock_subjects, recompute_subjects
from residents.exceptions import IdentityRequired
from server.dbtypes import DbConn
from server.errors import ValidationFailed

THIRD_PARTY_POSTED = "third_party_score"
GRANT_REVOKED = "grant_revoked"
FUTURE_LEEWAY = timedelta(minutes=5)


def _problems(
    *, score: float, scale_min: float, scale_max: float, as_of: datetime, valid_until: datetime, now: datetime
) -> dict[str, str]:
    problems: dict[str, str] = {}
    for name, value in (("score", score), ("scale_min", scale_min), ("scale_max", scale_max)):
        if not math.isfinite(value):
            problems[name] = "must be a finite number"
    if problems:
        return problems
    if scale_max <= scale_min:
        problems["scale_max"] = "must be greater than scale_min"
    elif not math.isfinite(scale_max - scale_min):
        problems["scale_max"] = "the scale is too wide"
    elif not scale_min <= score <= scale_max:
        problems["score"] = "must be within [scale_min, scale_max]"
    if as_of > now + FUTURE_LEEWAY:
        problems["as_of"] = "is in the future"
    if valid_until <= as_of:
        problems["valid_until"] = "must be after as_of"
    elif valid_until <= now:
        problems["valid_until"] = "is in the past"
    return problems


def score_out(row: ThirdPartyScore, rules: scoring.Ruleset, *, now: datetime) -> dict[str, Any]:
    fact = _fact(row)
    today = local_today(now)
    return {
        "provider": row.provider,
        "score": row.score,
        "scale_min": row.scale_min,
        "scale_max": row.scale_max,
        "as_of": row.as_of,
        "valid_until": row.valid_until,
        "status": row.status,
        "points": scoring.third_party_points(fact, rules.third_party),
        "counts": row.status == "active" and fact.as_of <= today <= fact.valid_until,
    }


def _fact(row: ThirdPartyScore) -> scoring.ThirdPartyFact:
    return scoring.ThirdPartyFact(
        str(row.id),
        row.provider,
        float(row.score),
        float(row.scale_min),
        float(row.scale_max),
        local_today(row.as_of),
        local_today(row.valid_until),
    )


async def post_score(
    *,
    partner_id: uuid.UUID,
    provider: str,
    resident_id: uuid.UUID,
    score: float,
    scale_min: float,
    scale_max: float,
    as_of: datetime,
    valid_until: datetime,
    grant_expires_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """``PUT /partner/third-party-scores/{ref}``: the provider's current score of the resident, the subject rescored.

    One row per provider and subject (a unique key): a new post replaces the last one and
    reinstates a withdrawn one. 422 for impossible values; ``valid_until`` is cut to the grant's end.
    """
    problems = _problems(
        score=score, scale_min=scale_min, scale_max=scale_max, as_of=as_of, valid_until=valid_until, now=now
    )
    if problems:
        raise ValidationFailed(problems)
    if grant_expires_at is not None:
        valid_until = min(valid_until, grant_expires_at)
    values = {
        "provider": provider[:128],
        "score": float(score),
        "scale_min": float(scale_min),
        "scale_max": float(scale_max),
        "as_of": as_of.astimezone(UTC),
        "valid_until": valid_until.astimezone(UTC),
        "status": "active",
        "updated_at": now,
    }
    async with in_transaction() as conn:
        subject = await Subject.filter(resident_id=resident_id).using_db(conn).first()
        if subject is None:
            raise IdentityRequired()
        await lock_subjects(conn, [subject.id])
        row = (
            await ThirdPartyScore.filter(partner_id=partner_id, subject_id=subject.id).using_db(conn).first()
        )
        if row is None:
            row = await ThirdPartyScore.create(
                partner_id=partner_id, subject_id=subject.id, created_at=now, using_db=conn, **values
            )
        else:
            await ThirdPartyScore.filter(id=row.id).using_db(conn).update(**values)
            row = await ThirdPartyScore.get(id=row.id, using_db=conn)
        await recompute_subjects(
            [subject.id], reason=THIRD_PARTY_POSTED, conn=conn, as_of=local_today(now), now=now
        )
        rules = await active_ruleset(conn)
    return score_out(row, rules, now=now)


async def withdraw(conn: DbConn, *, partner_id: uuid.UUID, resident_id: uuid.UUID, now: datetime) -> int:
    """The provider's scores of this resident stop counting (its grant was revoked); the subject is rescored.

    In ``conn``'s transaction (the revocation's). Returns how many scores were withdrawn.
    """
    subject = await Subject.filter(resident_id=resident_id).using_db(conn).first()
    if subject is None:
        return 0
    await lock_subjects(conn, [subject.id])
    changed = (
        await ThirdPartyScore.filter(partner_id=partner_id, subject_id=subject.id, status="active")
        .using_db(conn)
        .update(status="withdrawn", updated_at=now)
    )
    if changed:
        await recompute_subjects(
            [subject.id], reason=GRANT_REVOKED, conn=conn, as_of=local_today(now), now=now
        )
    return changed
