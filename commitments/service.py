"""信易批: a matter accepted on the resident's credit commitment (容缺受理), fulfilled or broken.

An approval office (a partner with ``commitment:write`` and the resident's grant) records that
it accepted a matter with items still missing and a deadline. It may do so only when the live
tier reaches the ruleset's green-channel floor (``commitments.green_channel_min_tier``), else 403
``TIER_TOO_LOW``. The office marks it fulfilled; a commitment still pending at ``due_at`` is
broken by ``advance`` (a background task of every ``serve`` worker, at least every minute, and
``xinyi advance-commitments``): one conditional update per commitment breaks it exactly once,
and in the same transaction a ``commitment_breach`` record (severity from the ruleset) is written
through ``credit.records.new_record`` (the subject locked and rescored), the resident gets a
notice, and the listeners of ``commitment_broken_hooks`` run (``xinyi.wiring``: the office's
``commitment.broken`` webhook).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from commitments.exceptions import CommitmentBroken, CommitmentNotFound, TierTooLow
from commitments.models import Commitment, CommitmentStatus
from credit.records import new_record, subject_of_resident
from credit.scores import active_ruleset, local_today
from credit.scoring import tier_rank
from credit.service import live_tier
from notices.service import notify
from server.dbtypes import DbConn, column_values
from server.errors import IdempotencyConflict, ValidationFailed
from server.http import page
from server.pagination import keyset_page

SOURCE = "xinyi-commitments"
NOTICE_KIND = "commitment_broken"
BATCH = 200

# Higher floors hear of a broken commitment here (partners' webhook to the office), in its transaction.
CommitmentHook = Callable[[DbConn, Commitment, datetime], Awaitable[None]]
commitment_broken_hooks: list[CommitmentHook] = []


def listen_to_broken_commitments(hook: CommitmentHook) -> None:
    if hook not in commitment_broken_hooks:
        commitment_broken_hooks.append(hook)


def commitment_out(c: Commitment) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "external_id": c.external_id,
        "matter": c.matter,
        "missing_items": list(c.missing_items or []),
        "due_at": c.due_at,
        "status": c.status,
        "created_at": c.created_at,
        "fulfilled_at": c.fulfilled_at,
        "broken_at": c.broken_at,
        "record_id": str(c.record_id) if c.record_id is not None else None,
    }


def _request_hash(resident_id: uuid.UUID, matter: str, missing_items: list[str], due_at: datetime) -> str:
    canonical = [str(resident_id), matter, list(missing_items), due_at.astimezone(UTC).isoformat()]
    return hashlib.sha256(orjson.dumps(canonical)).hexdigest()


@dataclass(frozen=True, slots=True)
class Accepted:
    commitment: dict[str, Any]
    created: bool  # False: the same request (external_id and body) again


async def _replay(partner_id: uuid.UUID, external_id: str, request_hash: str) -> Accepted | None:
    found = await Commitment.get_or_none(partner_id=partner_id, external_id=external_id)
    if found is None:
        return None
    if found.request_hash != request_hash:
        raise IdempotencyConflict("This external_id was already used with another request body.")
    return Accepted(commitment_out(found), created=False)


async def accept(
    *,
    partner_id: uuid.UUID,
    resident_id: uuid.UUID,
    matter: str,
    missing_items: list[str],
    due_at: datetime,
    external_id: str,
    now: datetime,
) -> Accepted:
    """Record a matter accepted on the resident's commitment; idempotent by (partner, external_id).

    The same external_id with the same body answers the first commitment (the partner retries);
    with another body 409 ``IDEMPOTENCY_CONFLICT``. The unique key holds it under races.
    """
    request_hash = _request_hash(resident_id, matter, missing_items, due_at)
    if (again := await _replay(partner_id, external_id, request_hash)) is not None:
        return again
    if due_at <= now:
        raise ValidationFailed({"due_at": "must be in the future"})
    async with in_transaction() as conn:
        rules = await active_ruleset(conn)
    tier = await live_tier(resident_id)
    if tier_rank(tier) < tier_rank(rules.commitments.green_channel_min_tier):
        raise TierTooLow(min_tier=rules.commitments.green_channel_min_tier)
    try:
        commitment = await Commitment.create(
            id=uuid.uuid4(),
            partner_id=partner_id,
            resident_id=resident_id,
            external_id=external_id,
            request_hash=request_hash,
            matter=matter,
            missing_items=list(missing_items),
            due_at=due_at.astimezone(UTC),
            status=CommitmentStatus.PENDING.value,
            tier_at_acceptance=tier,
            created_at=now,
        )
    except IntegrityError:  # the same external_id committed concurrently
        if (again := await _replay(partner_id, external_id, request_hash)) is not None:
            return again
        raise
    return Accepted(commitment_out(commitment), created=True)


async def fulfil(*, partner_id: uuid.UUID, commitment_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The office received the missing items: ``fulfilled`` (again: the same answer).

    Past ``due_at`` a pending commitment is broken first (as the background check would), then
    409 ``COMMITMENT_BROKEN``. Another partner's commitment is 404. No grant is needed to mark a
    commitment fulfilled: it only ever helps the resident.
    """
    done = await Commitment.filter(
        id=commitment_id, partner_id=partner_id, status=CommitmentStatus.PENDING.value, due_at__gt=now
    ).update(status=CommitmentStatus.FULFILLED.value, fulfilled_at=now)
    commitment = await Commitment.get_or_none(id=commitment_id, partner_id=partner_id)
    if commitment is None:
        raise CommitmentNotFound()
    if done or commitment.status == CommitmentStatus.FULFILLED:
        return commitment_out(commitment)
    if commitment.status == CommitmentStatus.PENDING:
        await break_commitment(commitment.id, now=now)
    raise CommitmentBroken()


async def break_commitment(commitment_id: uuid.UUID, *, now: datetime) -> bool:
    """Break one pending commitment past its deadline, once: the record, the notice, the hooks. False if not due."""
    async with in_transaction() as conn:
        broken = (
            await Commitment.filter(id=commitment_id, status=CommitmentStatus.PENDING.value, due_at__lte=now)
            .using_db(conn)
            .update(status=CommitmentStatus.BROKEN.value, broken_at=now)
        )
        if not broken:
            return False
        commitment = await Commitment.get(id=commitment_id, using_db=conn)
        subject_id = await subject_of_resident(commitment.resident_id, conn)
        if subject_id is not None:
            rules = await active_ruleset(conn)
            record = await new_record(
                conn,
                subject_id=subject_id,
                source=SOURCE,
                source_record_id=str(commitment.id),
                category="commitment_breach",
                severity=rules.commitments.breach_severity,
                title=f"未按期履行信用承诺：{commitment.matter}",
                decided_at=local_today(now),
                publicity_until=None,
                status="active",
                reason=f"commitment_broken:{commitment.id}",
                now=now,
            )
            commitment.record_id = record.id
            await Commitment.filter(id=commitment.id).using_db(conn).update(record_id=record.id)
        await notify(
            conn,
            resident_id=commitment.resident_id,
            kind=NOTICE_KIND,
            title="信用承诺未按期履行",
            body=(
                f"您在办理“{commitment.matter}”时作出的信用承诺已于期限届满时仍未履行，"
                "已形成一条违背信用承诺记录。如有异议，可在“我的信用记录”中提出异议。"
            ),
            now=now,
            case_kind="commitment",
            case_id=str(commitment.id),
        )
        for hook in list(commitment_broken_hooks):
            await hook(conn, commitment, now)
    return True


async def advance(now: datetime) -> int:
    """Break every pending commitment whose deadline passed; how many broke (idempotent, safe side by side)."""
    count = 0
    while True:
        due: list[uuid.UUID] = await column_values(
            Commitment.filter(status=CommitmentStatus.PENDING.value, due_at__lte=now)
            .order_by("due_at", "id")
            .limit(BATCH),
            "id",
        )
        if not due:
            return count
        broke = 0
        for commitment_id in due:
            if await break_commitment(commitment_id, now=now):
                broke += 1
        count += broke
        if len(due) < BATCH or not broke:
            return count


async def resident_commitments(resident_id: uuid.UUID, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """``GET /mp/commitments``: the resident's commitments, newest first, with deadlines and outcomes."""
    rows, next_cursor = await keyset_page(
        Commitment.filter(resident_id=resident_id), limit=limit, cursor=cursor
    )
    return page([commitment_out(c) for c in rows], next_cursor)
