"""The credit engine's services: record intake, identity attachment, volunteer hours, scores,
the resident's views and the regulator's rulesets.

Records arrive keyed by a citizen ID number, which is hashed at once with the same keyed hash
the resident binding uses (``KeyedHasher.id_number``); the plain number is never stored. Records
hang off a ``Subject`` (whoever they are about), and a resident is linked to its subject when it
binds its identity, so records imported before or after sign-up both count.

Every change to what a score is made of recomputes the score in the same transaction
(``credit.scores.recompute_subjects``), after row-locking the subject.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from pydantic import ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit import scoring
from credit.exceptions import (
    RulesetActivationConflict,
    RulesetInvalid,
    RulesetNotFound,
    RulesetVersionExists,
    VolunteerRecordConflict,
)
from credit.models import CreditRecord, CreditScore, ScoreHistory, Subject, VolunteerRecord
from credit.models import Ruleset as RulesetRow
from credit.professions import note_licences
from credit.schemas import CreditRecordIn
from credit.scores import (
    IDENTITY_BOUND,
    RECOMPUTE,
    RECORDS_CHANGED,
    RULESET_ACTIVATED,
    TIME_PASSED,
    VOLUNTEER_CHANGED,
    RecomputeResult,
    active_ruleset,
    attach_unlinked_residents,
    compute,
    ensure_subjects,
    listen_to_tier_changes,
    load_facts,
    load_third_party,
    local_today,
    lock_subjects,
    recompute_subjects,
    stored_ruleset,
    tier_change_hooks,
)
from residents.exceptions import IdentityRequired, IdentityTaken, IdNumberInvalid
from residents.identity import id_number_problem, name_problem, normalize_id_number
from residents.models import Resident
from server.crypto import FieldCipher, KeyedHasher
from server.dbtypes import DbConn, column_values
from server.errors import ValidationFailed
from server.http import page, unstorable_text
from server.pagination import keyset_page
from server.sql import Sql, as_uuid, chunks, db_uuid, execute, fetch

__all__ = [
    "IDENTITY_BOUND",
    "RECOMPUTE",
    "RECORDS_CHANGED",
    "RULESET_ACTIVATED",
    "TIME_PASSED",
    "VOLUNTEER_CHANGED",
    "ImportResult",
    "activate_ruleset",
    "attach_resident",
    "create_ruleset",
    "dry_run_ruleset",
    "import_records",
    "list_rulesets",
    "live_tier",
    "recompute_all",
    "recompute_subject",
    "record_breach",
    "revoke_volunteer_record",
    "listen_to_tier_changes",
    "tier_change_hooks",
    "tier_for_residents",
    "upsert_volunteer_record",
]

FUTURE_LEEWAY = timedelta(minutes=1)
MAX_VOLUNTEER_HOURS = Decimal(24)
BATCH_SIZE = 1000
BATCHES_IN_FLIGHT = 2


def _subject_name_cipher(cipher: FieldCipher) -> Callable[[str, str], str]:
    return lambda id_hash, name: cipher.encrypt(name, aad=f"credit_subject:{id_hash}:name")


# ===========================================================================================
# Record intake
# ===========================================================================================


@dataclass(frozen=True, slots=True)
class _Record:
    index: int
    key: tuple[str, str]
    id_hash: str
    name: str
    category: str
    severity: str | None
    title: str
    decided_at: date
    publicity_until: date | None
    status: str
    content_hash: str
    profession: str | None = None
    licence_no: str | None = None
    licence_status: str | None = None


@dataclass
class ImportResult:
    """What a batch did: created, updated (content changed), unchanged (same content again), rejected."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


def _rejection(index: int, code: str, fields: dict[str, str]) -> dict[str, Any]:
    message = "; ".join(f"{name}: {why}" for name, why in fields.items())
    return {"index": index, "code": code, "message": message, "fields": fields}


def _validate_record(index: int, item: Any, *, hasher: KeyedHasher, today: date) -> _Record | dict[str, Any]:
    """A valid record ready to store, or the rejection of this item (its index, code and why)."""
    if not isinstance(item, dict):
        return _rejection(index, "VALIDATION_ERROR", {"item": "must be a JSON object"})
    try:
        data = CreditRecordIn.model_validate(item)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            fields.setdefault(".".join(str(p) for p in err["loc"]) or "item", err["msg"])
        if "id_number" not in fields and (why := id_number_problem(str(item.get("id_number", "")))):
            fields["id_number"] = why
        code = "ID_NUMBER_INVALID" if "id_number" in fields else "VALIDATION_ERROR"
        return _rejection(index, code, fields)
    if unstorable := unstorable_text(data):
        return _rejection(index, "VALIDATION_ERROR", unstorable)
    problems: dict[str, str] = {}
    if why := name_problem(data.name):
        problems["name"] = why
    if data.decided_at > today + timedelta(days=1):
        problems["decided_at"] = "is in the future"
    if data.publicity_until is not None and data.publicity_until < data.decided_at:
        problems["publicity_until"] = "is before decided_at"
    if why := id_number_problem(data.id_number):
        return _rejection(index, "ID_NUMBER_INVALID", {"id_number": why, **problems})
    if problems:
        return _rejection(index, "VALIDATION_ERROR", problems)
    id_hash = hasher.id_number(normalize_id_number(data.id_number))
    content = [
        data.subject_type,
        id_hash,
        data.category,
        data.severity,
        data.title,
        data.decided_at.isoformat(),
        data.publicity_until.isoformat() if data.publicity_until else None,
        data.status,
    ]
    if data.profession is not None:  # only then: the hashes of records without a licence stay as they were
        content += [data.profession, data.licence_no]
    return _Record(
        index=index,
        key=(data.source, data.source_record_id),
        id_hash=id_hash,
        name=data.name,
        category=data.category,
        severity=data.severity,
        title=data.title,
        decided_at=data.decided_at,
        publicity_until=data.publicity_until,
        status=data.status,
        content_hash=hashlib.sha256(orjson.dumps(content)).hexdigest(),
        profession=data.profession,
        licence_no=data.licence_no,
        licence_status=data.licence_status,
    )


async def import_records(
    items: Sequence[Any],
    *,
    hasher: KeyedHasher,
    cipher: FieldCipher,
    now: datetime,
    indexes: Sequence[int] | None = None,
) -> ImportResult:
    """Store a batch of public credit records, idempotently by (source, source_record_id).

    Each item is validated on its own: a bad one is rejected with its index (``indexes[i]`` when
    given, e.g. line numbers) and the rest are kept. Same content again changes nothing; other
    content updates the record. Within one batch a key seen twice behaves as if the items came
    one after the other. Set-based: a handful of statements per batch, in one transaction,
    which also recomputes the scores of the residents concerned.
    """
    result = ImportResult()
    today = local_today(now)
    latest: dict[tuple[str, str], _Record] = {}
    first_hash: dict[tuple[str, str], str] = {}
    # later items of a key whose content differs from the item before
    repeats: dict[tuple[str, str], int] = {}
    for position, item in enumerate(items):
        index = indexes[position] if indexes is not None else position
        checked = _validate_record(index, item, hasher=hasher, today=today)
        if isinstance(checked, dict):
            result.rejected.append(checked)
            continue
        before = latest.get(checked.key)
        if before is None:
            first_hash[checked.key] = checked.content_hash
        elif before.content_hash != checked.content_hash:
            repeats[checked.key] = repeats.get(checked.key, 0) + 1
        else:
            result.unchanged += 1
        latest[checked.key] = checked
    if not latest:
        return result
    records = list(latest.values())
    stamp = now.astimezone(UTC)
    async with in_transaction() as conn:
        subject_ids = await ensure_subjects(
            conn, {r.id_hash: r.name for r in records}, encrypt_name=_subject_name_cipher(cipher)
        )
        existing = await _existing_records(conn, list(latest))
        await lock_subjects(conn, [*subject_ids.values(), *(e[0] for e in existing.values())])
        writes: list[tuple[Any, ...]] = []
        touched: set[int] = set()
        for record in records:
            subject_id = subject_ids[record.id_hash]
            result.updated += repeats.get(record.key, 0)
            old = existing.get(record.key)
            if old is None:
                result.created += 1
            else:
                if old[1] == first_hash[record.key]:
                    result.unchanged += 1
                else:
                    result.updated += 1
                if old[1] == record.content_hash:
                    continue  # what is stored is what the batch ends with
                touched.add(old[0])
            touched.add(subject_id)
            writes.append(
                (
                    subject_id,
                    record.key[0],
                    record.key[1],
                    record.category,
                    record.severity,
                    record.title,
                    record.decided_at,
                    record.publicity_until,
                    record.status,
                    record.content_hash,
                    stamp,
                    stamp,
                    record.profession,
                    record.licence_no,
                )
            )
        for batch in chunks(writes):
            q = Sql(conn)
            await execute(
                conn,
                "INSERT INTO credit_records (subject_id, source, source_record_id, category, severity, title, "
                "decided_at, publicity_until, status, content_hash, created_at, updated_at, profession, licence_no) "
                f"{q.source(batch, _RECORD_TYPES)} ON CONFLICT (source, source_record_id) DO UPDATE SET "
                "subject_id = EXCLUDED.subject_id, category = EXCLUDED.category, severity = EXCLUDED.severity, "
                "title = EXCLUDED.title, decided_at = EXCLUDED.decided_at, "
                "publicity_until = EXCLUDED.publicity_until, status = EXCLUDED.status, "
                "content_hash = EXCLUDED.content_hash, updated_at = EXCLUDED.updated_at, "
                "profession = EXCLUDED.profession, licence_no = EXCLUDED.licence_no",
                q.params,
            )
        licensed = [r for r in records if r.profession is not None]
        if licensed:
            await note_licences(
                conn,
                [
                    (
                        r.profession,
                        r.licence_no,
                        subject_ids[r.id_hash],
                        r.licence_status,
                        _subject_name_cipher(cipher)(r.id_hash, r.name),
                    )
                    for r in licensed
                ],
                now=stamp,
            )
        if touched:
            await recompute_subjects(touched, reason=RECORDS_CHANGED, conn=conn, as_of=today, now=now)
    return result


_RECORD_TYPES = (
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "text",
    "date",
    "date",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
)


async def _existing_records(
    conn: DbConn, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(subject_id, content_hash) of the stored records among these keys."""
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for batch in chunks(keys):
        q = Sql(conn)
        wanted = q.keys("k", ["source", "source_record_id"], batch, ["text", "text"])
        rows = await fetch(
            conn,
            f"SELECT r.source, r.source_record_id, r.subject_id, r.content_hash FROM {wanted} "
            "JOIN credit_records r ON r.source = k.source AND r.source_record_id = k.source_record_id",
            q.params,
        )
        found.update({(r[0], r[1]): (r[2], r[3]) for r in rows})
    return found


async def record_breach(
    conn: DbConn,
    *,
    resident_id: uuid.UUID,
    source: str,
    source_record_id: str,
    severity: str,
    title: str,
    now: datetime,
) -> int | None:
    """A ``contract_breach`` record for a resident, decided today, and their new score, in ``conn``'s transaction.

    For other domains (a regulator upholding a merchant's breach report): the record is written
    the way every credit write is, the resident's subject row-locked first, then rescored.
    Returns the record's id, or None when the resident has no credit subject (no identity bound).
    """
    subject = await Subject.filter(resident_id=resident_id).using_db(conn).first()
    if subject is None:
        return None
    await lock_subjects(conn, [subject.id])
    decided_on = local_today(now)
    content = [source, source_record_id, "contract_breach", severity, title, decided_on.isoformat()]
    record = await CreditRecord.create(
        subject_id=subject.id,
        source=source,
        source_record_id=source_record_id,
        category="contract_breach",
        severity=severity,
        title=title[:255],
        decided_at=decided_on,
        publicity_until=None,
        status="active",
        content_hash=hashlib.sha256(orjson.dumps(content)).hexdigest(),
        using_db=conn,
    )
    await recompute_subject(subject.id, reason=RECORDS_CHANGED, conn=conn, now=now)
    return record.id


# ===========================================================================================
# Residents: attachment at identity binding, live tier
# ===========================================================================================


async def _link_subject(conn: DbConn, resident: Resident) -> int:
    """The subject of the resident's ID number hash, created if needed and linked to the resident."""
    assert resident.id_number_hash is not None
    subject_id = (await ensure_subjects(conn, {resident.id_number_hash: None}))[resident.id_number_hash]
    await lock_subjects(conn, [subject_id])
    q = Sql(conn)
    rid = q.p(db_uuid(conn, resident.id))
    await execute(
        conn,
        f"UPDATE credit_subjects SET resident_id = {rid} WHERE id = {q.p(subject_id)} AND resident_id IS NULL",
        q.params,
    )
    q = Sql(conn)
    rows = await fetch(
        conn, f"SELECT resident_id FROM credit_subjects WHERE id = {q.p(subject_id)}", q.params
    )
    if as_uuid(rows[0][0]) != resident.id:
        raise IdentityTaken()
    return subject_id


async def attach_resident(conn: DbConn, resident: Resident) -> None:
    """After an identity is bound (``residents.service.bind_identity(then=…)``): link the resident to its subject (records imported earlier attach) and score it.

    Runs inside the binding transaction, so a resident is never bound without a score row.
    """
    if resident.id_number_hash is None:
        return
    now = datetime.now(UTC)
    subject_id = await _link_subject(conn, resident)
    await recompute_subjects([subject_id], reason=IDENTITY_BOUND, conn=conn, as_of=local_today(now), now=now)


async def recompute_subject(
    subject_id: int, *, reason: str, conn: DbConn, as_of: date | None = None, now: datetime | None = None
) -> RecomputeResult:
    """Recompute one subject's score in ``conn``'s transaction (see ``credit.scores.recompute_subjects``)."""
    now = now or datetime.now(UTC)
    return await recompute_subjects(
        [subject_id], reason=reason, conn=conn, as_of=as_of or local_today(now), now=now
    )


async def live_tier(resident_id: uuid.UUID) -> str:
    """The resident's tier as stored now: one indexed read. 403 ``IDENTITY_REQUIRED`` if not bound.

    A bound resident always has a score row (made at binding); a resident bound before the
    credit engine existed gets one here on first use.
    """
    conn = _default_conn()
    q = Sql(conn)
    rows = await fetch(
        conn,
        "SELECT s.tier FROM credit_scores s JOIN credit_subjects j ON j.id = s.subject_id "
        f"WHERE j.resident_id = {q.p(db_uuid(conn, resident_id))}",
        q.params,
    )
    if rows:
        return rows[0][0]
    resident = await Resident.get_or_none(id=resident_id)
    if resident is None or not resident.identity_bound:
        raise IdentityRequired()
    return (await _fresh_score(resident, datetime.now(UTC))).tier


async def tier_for_residents(resident_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Live tiers of many residents in one query; residents without a score are left out."""
    ids = list(dict.fromkeys(resident_ids))
    conn = _default_conn()
    tiers: dict[uuid.UUID, str] = {}
    for batch in chunks(ids):
        q = Sql(conn)
        rows = await fetch(
            conn,
            "SELECT j.resident_id, s.tier FROM credit_scores s JOIN credit_subjects j ON j.id = s.subject_id "
            f"WHERE {q.in_('j.resident_id', [db_uuid(conn, r) for r in batch], 'uuid')}",
            q.params,
        )
        tiers.update({as_uuid(r[0]): r[1] for r in rows})
    return tiers


def _default_conn() -> DbConn:
    from tortoise import connections

    return connections.get("default")


async def _fresh_score(resident: Resident, now: datetime) -> CreditScore:
    """The resident's stored score, recomputed first when it is of an earlier day (windows, decay)."""
    today = local_today(now)
    row = await CreditScore.filter(subject__resident_id=resident.id).first()
    if row is None or row.as_of < today:
        async with in_transaction() as conn:
            subject_id = await _link_subject(conn, resident)
            await recompute_subjects(
                [subject_id],
                reason=IDENTITY_BOUND if row is None else TIME_PASSED,
                conn=conn,
                as_of=today,
                now=now,
            )
        row = await CreditScore.filter(subject__resident_id=resident.id).first()
        assert row is not None
    return row


# ===========================================================================================
# The resident's views
# ===========================================================================================


async def score_view(resident: Resident, *, now: datetime) -> dict[str, Any]:
    """``GET /score``: score, tier, factors with reason codes and record ids, the next tier."""
    return score_out(await _fresh_score(resident, now))


def score_out(row: CreditScore) -> dict[str, Any]:
    return {
        "score": row.score,
        "tier": row.tier,
        "ruleset_version": row.ruleset_version,
        "computed_at": row.computed_at,
        "as_of": row.as_of,
        "factors": row.factors,
        "next_tier": {"tier": row.next_tier, "points_needed": row.points_needed} if row.next_tier else None,
    }


async def _subject_id_of(resident: Resident) -> int | None:
    ids = await column_values(Subject.filter(resident_id=resident.id).limit(1), "id")
    return ids[0] if ids else None


async def history_page(resident: Resident, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """``GET /score/history``: newest first."""
    subject_id = await _subject_id_of(resident)
    if subject_id is None:
        return page([], None)
    rows, next_cursor = await keyset_page(
        ScoreHistory.filter(subject_id=subject_id), limit=limit, cursor=cursor, key=("id", int), tiebreak=None
    )
    return page([history_out(h) for h in rows], next_cursor)


def history_out(h: ScoreHistory) -> dict[str, Any]:
    return {
        "score": h.score,
        "tier": h.tier,
        "previous_tier": h.previous_tier,
        "ruleset_version": h.ruleset_version,
        "computed_at": h.computed_at,
        "reason": h.reason,
    }


def _record_points(factors: list[dict[str, Any]], rules: scoring.Ruleset | None) -> dict[str, int]:
    """Each counted record's share of its factor's points (capped factors: in record-id order)."""
    nominal_of = {}
    if rules is not None:
        nominal_of = {
            "RED_LIST": rules.red_list.points,
            "COMMENDATION": rules.commendation.points,
            "BLACK_LIST_ACTIVE": -rules.black_list.deduction,
        }
    shares: dict[str, int] = {}
    for factor in factors:
        ids, total = factor["record_ids"], factor["points"]
        if not ids or factor["code"] == "VOLUNTEER_HOURS":
            continue
        nominal = nominal_of.get(factor["code"], int(total / len(ids)))
        remaining = total
        for record_id in ids:
            share = nominal if abs(nominal) <= abs(remaining) else remaining
            shares[record_id] = share
            remaining -= share
    return shares


def record_out(r: CreditRecord, *, rules: scoring.Ruleset | None, shares: dict[str, int]) -> dict[str, Any]:
    """A record as its subject sees it: the status it shows, the last day it counts and its points now."""
    until = None
    if r.status in scoring.COUNTING_STATUSES and rules is not None:
        fact = scoring.RecordFact(str(r.id), r.category, r.severity, r.decided_at, r.publicity_until)
        until = scoring.counts_until(fact, rules)
    return {
        "id": str(r.id),
        "category": r.category,
        "severity": r.severity,
        "title": r.title,
        "source": r.source,
        "occurred_at": r.decided_at,
        "status": "disputed" if r.disputed_until is not None else r.status,
        "objection_until": r.objection_until,
        "disputed_until": r.disputed_until,
        "counts_until": until,
        "points": shares.get(str(r.id), 0),
    }


async def records_page(
    resident: Resident, *, limit: int, cursor: str | None, now: datetime
) -> dict[str, Any]:
    """``GET /records``: newest decision first, with the last day each record counts and its points now."""
    score = await _fresh_score(resident, now)
    rules = await stored_ruleset(_default_conn(), score.ruleset_version)
    shares = _record_points(score.factors, rules)
    rows, next_cursor = await keyset_page(
        CreditRecord.filter(subject_id=score.subject_id),
        limit=limit,
        cursor=cursor,
        key=("decided_at", date),
        tiebreak=("id", int),
    )
    return page([record_out(r, rules=rules, shares=shares) for r in rows], next_cursor)


def volunteer_out(v: VolunteerRecord) -> dict[str, Any]:
    return {
        "id": str(v.id),
        "external_id": v.external_id,
        "activity": v.activity,
        "organization": v.organization,
        "started_at": v.started_at,
        "ended_at": v.ended_at,
        "hours": float(v.hours),
        "status": v.status,
        "counted": v.status == "active" and v.duplicate_of_id is None,
        "duplicate_of": str(v.duplicate_of_id) if v.duplicate_of_id else None,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
    }


async def volunteer_page(resident: Resident, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """``GET /volunteer-hours``: newest activity first; ``total_hours`` counts each activity once."""
    subject_id = await _subject_id_of(resident)
    if subject_id is None:
        return {**page([], None), "total_hours": 0.0}
    counted: list[Decimal] = await column_values(
        VolunteerRecord.filter(subject_id=subject_id, status="active", duplicate_of_id__isnull=True), "hours"
    )
    rows, next_cursor = await keyset_page(
        VolunteerRecord.filter(subject_id=subject_id),
        limit=limit,
        cursor=cursor,
        key=("started_at", datetime),
        tiebreak=("id", int),
    )
    items = [
        {k: v for k, v in volunteer_out(r).items() if k not in ("external_id", "created_at", "updated_at")}
        for r in rows
    ]
    return {**page(items, next_cursor), "total_hours": float(sum(counted, Decimal(0)))}


# ===========================================================================================
# Volunteer hours (called by the partners package's signed routes)
# ===========================================================================================


def _volunteer_problems(
    *,
    external_id: str,
    name: str,
    activity: str,
    organization: str,
    started_at: datetime,
    hours: Decimal,
    now: datetime,
) -> dict[str, str]:
    problems: dict[str, str] = {}
    for key, value, longest in (
        ("external_id", external_id, 128),
        ("activity", activity, 255),
        ("organization", organization, 255),
    ):
        if not isinstance(value, str) or not value.strip():
            problems[key] = "must not be empty"
        elif len(value.strip()) > longest:
            problems[key] = f"must be at most {longest} characters"
    if why := name_problem(name):
        problems["name"] = why
    try:
        hours_ok = hours.is_finite()
    except AttributeError:
        hours_ok = False
    if not hours_ok:
        problems["hours"] = "must be a number"
    elif hours <= 0:
        problems["hours"] = "must be greater than 0"
    elif hours > MAX_VOLUNTEER_HOURS:
        problems["hours"] = "must be at most 24 in one record"
    elif hours != hours.quantize(Decimal("0.01")):
        problems["hours"] = "must have at most 2 decimal places"
    if not isinstance(started_at, datetime) or started_at.tzinfo is None:
        problems["started_at"] = "must be a date-time with a UTC offset"
    elif started_at > now + FUTURE_LEEWAY:
        problems["started_at"] = "is in the future"
    elif "hours" not in problems and started_at + timedelta(hours=float(hours)) > now + FUTURE_LEEWAY:
        problems["ended_at"] = (
            "started_at + hours is in the future: post the hours once the activity has ended"
        )
    return problems


async def upsert_volunteer_record(
    *,
    partner_id: uuid.UUID,
    external_id: str,
    id_number: str,
    name: str,
    activity: str,
    organization: str,
    started_at: datetime,
    hours: Decimal,
    hasher: KeyedHasher,
    cipher: FieldCipher,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Create or replace the partner's record ``external_id``; returns (the record, created?).

    Idempotent: the same content again changes nothing. A correction replaces the record (and
    reinstates a revoked one). The resident's score is recomputed in the same transaction.
    Raises ``ValidationFailed`` (422) for impossible values, ``IdNumberInvalid`` for a bad ID
    number. Hours for an ID number nobody has bound yet are kept and count once it is bound.
    """
    if isinstance(hours, int | float | str):
        try:
            hours = Decimal(str(hours))
        except InvalidOperation:
            hours = Decimal("NaN")
    problems = _volunteer_problems(
        external_id=external_id,
        name=name,
        activity=activity,
        organization=organization,
        started_at=started_at,
        hours=hours,
        now=now,
    )
    if why := id_number_problem(id_number):
        raise IdNumberInvalid({"id_number": why, **problems})
    if problems:
        raise ValidationFailed(problems)
    id_hash = hasher.id_number(normalize_id_number(id_number))
    started = started_at.astimezone(UTC)
    ended = started + timedelta(hours=float(hours))
    values = {
        "activity": activity.strip(),
        "organization": organization.strip(),
        "started_at": started,
        "ended_at": ended,
        "hours": hours,
    }
    external_id = external_id.strip()
    try:
        async with in_transaction() as conn:
            subject_id = (
                await ensure_subjects(
                    conn, {id_hash: name.strip()}, encrypt_name=_subject_name_cipher(cipher)
                )
            )[id_hash]
            peek = (
                await VolunteerRecord.filter(partner_id=partner_id, external_id=external_id)
                .using_db(conn)
                .first()
            )
            await lock_subjects(conn, [subject_id, *([peek.subject_id] if peek else [])])
            record = (
                await VolunteerRecord.filter(partner_id=partner_id, external_id=external_id)
                .using_db(conn)
                .first()
            )
            if record is None:
                record = await VolunteerRecord.create(
                    partner_id=partner_id,
                    external_id=external_id,
                    subject_id=subject_id,
                    status="active",
                    using_db=conn,
                    **values,
                )
                created, subjects = True, {subject_id}
            else:
                same = (
                    record.subject_id == subject_id
                    and record.status == "active"
                    and all(_same(getattr(record, k), v) for k, v in values.items())
                )
                if same:
                    return volunteer_out(record), False
                subjects = {record.subject_id, subject_id}
                await (
                    VolunteerRecord.filter(id=record.id)
                    .using_db(conn)
                    .update(
                        subject_id=subject_id,
                        status="active",
                        duplicate_of_id=None,
                        updated_at=now.astimezone(UTC),
                        **values,
                    )
                )
                created = False
            for sid in sorted(subjects):
                await _mark_duplicates(conn, sid)
            await recompute_subjects(
                subjects, reason=VOLUNTEER_CHANGED, conn=conn, as_of=local_today(now), now=now
            )
            record = await VolunteerRecord.get(id=record.id, using_db=conn)
    except IntegrityError:
        raise VolunteerRecordConflict() from None
    return volunteer_out(record), created


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, datetime):
        return stored is not None and stored.astimezone(UTC) == wanted
    if isinstance(wanted, Decimal):
        return Decimal(str(stored)) == wanted
    return stored == wanted


async def revoke_volunteer_record(*, partner_id: uuid.UUID, external_id: str, now: datetime) -> bool:
    """Revoke the partner's record: it stops counting (a duplicate of it counts again). False if unknown."""
    async with in_transaction() as conn:
        record = (
            await VolunteerRecord.filter(partner_id=partner_id, external_id=external_id)
            .using_db(conn)
            .first()
        )
        if record is None:
            return False
        await lock_subjects(conn, [record.subject_id])
        record = await VolunteerRecord.get(id=record.id, using_db=conn)
        if record.status == "revoked":
            return True
        await (
            VolunteerRecord.filter(id=record.id)
            .using_db(conn)
            .update(status="revoked", duplicate_of_id=None, updated_at=now.astimezone(UTC))
        )
        await _mark_duplicates(conn, record.subject_id)
        await recompute_subjects(
            [record.subject_id], reason=VOLUNTEER_CHANGED, conn=conn, as_of=local_today(now), now=now
        )
    return True


async def _mark_duplicates(conn: DbConn, subject_id: int) -> None:
    """Decide, for the whole subject, which active records are duplicates of an earlier-posted one.

    Records are taken in posting order (first post, then id). A record that overlaps in time
    ([started_at, ended_at)) a record already counted is a duplicate of the first such record;
    otherwise it counts. So counted records never overlap one another, the earlier post wins,
    and revoking or moving the earlier one lets its duplicate count again. Recomputed from
    scratch for the subject on every change, so the result never depends on the history of edits.
    """
    rows = (
        await VolunteerRecord.filter(subject_id=subject_id)
        .using_db(conn)
        .order_by("created_at", "id")
        .values("id", "started_at", "ended_at", "status", "duplicate_of_id")
    )
    counted: list[dict[str, Any]] = []
    for row in rows:
        wanted = None
        if row["status"] == "active":
            first = next(
                (
                    c
                    for c in counted
                    if c["started_at"] < row["ended_at"] and row["started_at"] < c["ended_at"]
                ),
                None,
            )
            if first is None:
                counted.append(row)
            else:
                wanted = first["id"]
        if wanted != row["duplicate_of_id"]:
            await VolunteerRecord.filter(id=row["id"]).using_db(conn).update(duplicate_of_id=wanted)


# ===========================================================================================
# Rulesets (regulators)
# ===========================================================================================


def ruleset_out(row: RulesetRow) -> dict[str, Any]:
    return {
        "version": row.version,
        "status": row.status,
        "created_at": row.created_at,
        "activated_at": row.activated_at,
        "data": row.data,
    }


async def list_rulesets(*, limit: int, cursor: str | None) -> dict[str, Any]:
    """Every stored version, newest first (the default one is stored on a fresh database)."""
    async with in_transaction() as conn:
        await active_ruleset(conn)
    qs = RulesetRow.all()
    rows, next_cursor = await keyset_page(
        qs, limit=limit, cursor=cursor, key=("created_at", datetime), tiebreak=("version", str)
    )
    return page([ruleset_out(r) for r in rows], next_cursor)


async def create_ruleset(data: dict[str, Any]) -> dict[str, Any]:
    """Store a new version as a draft; 422 with every problem, 409 if the version exists (rulesets are immutable)."""
    try:
        rules = scoring.parse_ruleset(data)
    except scoring.RulesetError as exc:
        raise RulesetInvalid(exc.fields) from None
    async with in_transaction() as conn:
        await active_ruleset(conn)  # the bundled default is stored before any other version
    if await RulesetRow.exists(version=rules.version):
        raise RulesetVersionExists()
    try:
        row = await RulesetRow.create(
            version=rules.version, data=scoring.ruleset_to_dict(rules), status="draft"
        )
    except IntegrityError:
        raise RulesetVersionExists() from None
    return ruleset_out(row)


async def _get_ruleset(version: str) -> RulesetRow:
    async with in_transaction() as conn:
        await active_ruleset(conn)  # a fresh database: the default version exists from the start
    row = await RulesetRow.get_or_none(version=version)
    if row is None:
        raise RulesetNotFound()
    return row


async def _scored_subject_batches(batch_size: int) -> AsyncIterator[list[int]]:
    """Ids of the subjects linked to a resident, in id order, ``batch_size`` at a time (keyset pagination)."""
    conn = _default_conn()
    last = 0
    while True:
        q = Sql(conn)
        rows = await fetch(
            conn,
            f"SELECT id FROM credit_subjects WHERE resident_id IS NOT NULL AND id > {q.p(last)} "
            f"ORDER BY id LIMIT {int(batch_size)}",
            q.params,
        )
        if not rows:
            return
        ids = [r[0] for r in rows]
        yield ids
        last = ids[-1]


async def count_scored_subjects() -> int:
    rows = await fetch(
        _default_conn(), "SELECT COUNT(*) FROM credit_subjects WHERE resident_id IS NOT NULL", []
    )
    return int(rows[0][0])


async def dry_run_ruleset(version: str, *, now: datetime, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """How many residents would change tier, and in which direction, if ``version`` were active today.

    Both the active ruleset and the candidate are applied to the same facts on the same as-of
    date, so the answer isolates the ruleset change. Read-only, batched: three queries per batch.
    """
    row = await _get_ruleset(version)
    candidate = scoring.parse_ruleset(row.data)
    conn = _default_conn()
    async with in_transaction() as tx:
        active = await active_ruleset(tx)
    as_of = local_today(now)
    moves: dict[tuple[str, str], int] = {}
    total = up = down = 0
    async for ids in _scored_subject_batches(batch_size):
        records, volunteer = await load_facts(conn, ids)
        third_party = await load_third_party(conn, ids)
        for subject_id in ids:
            before = compute(subject_id, records, volunteer, active, as_of, third_party).tier
            after = compute(subject_id, records, volunteer, candidate, as_of, third_party).tier
            total += 1
            if before != after:
                moves[(before, after)] = moves.get((before, after), 0) + 1
                if scoring.tier_rank(after) > scoring.tier_rank(before):
                    up += 1
                else:
                    down += 1
    changes = [
        {"from": f, "to": t, "count": n}
        for (f, t), n in sorted(
            moves.items(), key=lambda m: (scoring.tier_rank(m[0][0]), scoring.tier_rank(m[0][1]))
        )
    ]
    return {
        "version": version,
        "compared_with": active.version,
        "as_of": as_of,
        "residents": total,
        "up": up,
        "down": down,
        "same": total - up - down,
        "changes": changes,
    }


async def activate_ruleset(version: str, *, now: datetime, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Make ``version`` the active ruleset, then move every resident's score to it in batches.

    The switch is one transaction (the partial unique index guarantees one active version even
    when two regulators race); the scores then follow in batches of their own transactions, each
    recording history rows with reason ``ruleset_activated``. An interrupted run is finished by
    ``xinyi recompute-scores`` (every recompute uses the active ruleset).
    """
    await _get_ruleset(version)
    stamp = now.astimezone(UTC)
    try:
        async with in_transaction() as conn:
            await active_ruleset(conn)  # a fresh database: store the default before replacing it
            row = await RulesetRow.get(version=version, using_db=conn)
            if row.status != "active":
                await RulesetRow.filter(status="active").using_db(conn).update(status="retired")
                await (
                    RulesetRow.filter(version=version)
                    .using_db(conn)
                    .update(status="active", activated_at=stamp)
                )
    except IntegrityError:
        raise RulesetActivationConflict() from None
    totals = await recompute_all(reason=RULESET_ACTIVATED, now=now, batch_size=batch_size, attach=False)
    row = await RulesetRow.get(version=version)
    return {
        "ruleset": ruleset_out(row),
        "residents": totals.scored,
        "scores_changed": totals.history,
        "tier_changes": totals.tier_changes,
    }


# ===========================================================================================
# Everyone (xinyi recompute-scores, ruleset activation)
# ===========================================================================================


async def link_bound_residents() -> int:
    """Link every bound resident that has no subject yet (bound before the credit engine knew them)."""
    async with in_transaction() as conn:
        return await attach_unlinked_residents(conn)


async def recompute_all(
    *,
    reason: str = RECOMPUTE,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    attach: bool = True,
    progress: Callable[[int], object] | None = None,
) -> RecomputeResult:
    """Recompute every resident's score, streaming subjects by id, one transaction per batch.

    Memory depends on the batch size, not on the number of residents. ``attach`` first links
    residents bound before the credit engine knew them (one statement).
    """
    now = now or datetime.now(UTC)
    as_of = local_today(now)
    if attach:
        await link_bound_residents()
    totals = RecomputeResult()

    async def batch(ids: list[int]) -> tuple[int, RecomputeResult]:
        async with in_transaction() as conn:
            return len(ids), await recompute_subjects(ids, reason=reason, conn=conn, as_of=as_of, now=now)

    def collect(done: set[asyncio.Task]) -> None:
        for task in done:
            count, outcome = task.result()
            totals.add(outcome)
            if progress:
                progress(count)

    # Two batches in flight, each in its own transaction on its own connection: while one is
    # computed in Python, the database reads and writes the other. The batches hold disjoint
    # subjects, so they never wait for each other's locks.
    pending: set[asyncio.Task] = set()
    try:
        async for ids in _scored_subject_batches(batch_size):
            if len(pending) >= BATCHES_IN_FLIGHT:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                collect(done)
            pending.add(asyncio.create_task(batch(ids)))
        if pending:
            done, pending = await asyncio.wait(pending)
            collect(done)
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return totals
