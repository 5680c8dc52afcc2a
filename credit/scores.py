"""Scores as stored data: the active ruleset, batch loading of facts, recomputation and history.

``recompute_subjects`` is the one code path that turns records into stored scores: the request
that changed a record, the identity binding, ``xinyi recompute-scores`` and a ruleset activation
all call it, so they cannot disagree. It works on a batch of subjects with a constant number of
queries (subjects, records, volunteer hours, current scores, one upsert, one history insert),
whatever the batch size.

Only subjects linked to a resident are scored; records of people who never signed up are kept
and scored the moment they bind their identity.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from tortoise import connections

from credit import scoring
from credit.exceptions import NoActiveRuleset
from credit.models import Ruleset as RulesetRow
from credit.models import Subject
from server.dbtypes import DbConn
from server.sql import Sql, as_date, as_datetime, chunks, execute, fetch, is_postgres

NATURAL_PERSON = "natural_person"

# Why a score was recomputed (ScoreHistory.reason).
RECORDS_CHANGED = "records_changed"
VOLUNTEER_CHANGED = "volunteer_changed"
RULESET_ACTIVATED = "ruleset_activated"
IDENTITY_BOUND = "identity_bound"
RECOMPUTE = "recompute"
TIME_PASSED = "time_passed"

# Other packages (partner webhooks) learn of tier changes here. Called inside the transaction
# that changed the tier, with (conn, subject, previous_tier, new_tier), for subjects linked to a
# resident whose tier was known before (not for the very first score at binding).
TierChangeHook = Callable[[DbConn, Subject, str, str], Awaitable[None]]
tier_change_hooks: list[TierChangeHook] = []


def listen_to_tier_changes(hook: TierChangeHook) -> None:
    """Have ``hook`` called at every tier change (the composition root wires partners' webhooks here)."""
    if hook not in tier_change_hooks:
        tier_change_hooks.append(hook)


def local_today(now: datetime) -> date:
    """The as-of date of a score: today on the China Standard Time calendar."""
    return now.astimezone(scoring.LOCAL_TZ).date()


def db(conn: DbConn | None) -> DbConn:
    return conn if conn is not None else connections.get("default")


# --- rulesets -----------------------------------------------------------------------------


async def active_ruleset(conn: DbConn) -> scoring.Ruleset:
    """The stored active ruleset; on a fresh database the bundled default is stored and activated first.

    The engine never scores with a ruleset that is not in ``credit_rulesets``: every stored
    score names a version a regulator can read back.
    """
    row = await RulesetRow.filter(status="active").using_db(conn).first()
    if row is None:
        await seed_default_ruleset(conn)
        row = await RulesetRow.filter(status="active").using_db(conn).first()
        if row is None:
            raise NoActiveRuleset()
    return scoring.parse_ruleset(row.data)


async def seed_default_ruleset(conn: DbConn) -> None:
    """Store the bundled default ruleset, active, unless a ruleset is active already (race-safe)."""
    if await RulesetRow.filter(status="active").using_db(conn).exists():
        return
    rules = scoring.default_ruleset()
    q = Sql(conn)
    now = datetime.now(UTC)
    values = q.row([rules.version, orjson.dumps(scoring.ruleset_to_dict(rules)).decode(), "active", now, now])
    # No conflict target: neither an existing version nor the one-active index may fail this.
    await execute(
        conn,
        f"INSERT INTO credit_rulesets (version, data, status, created_at, activated_at) VALUES {values} "
        "ON CONFLICT DO NOTHING",
        q.params,
    )


async def stored_ruleset(conn: DbConn, version: str) -> scoring.Ruleset | None:
    row = await RulesetRow.get_or_none(version=version, using_db=conn)
    return scoring.parse_ruleset(row.data) if row else None


# --- facts ----------------------------------------------------------------------------------


_COUNTING = "(" + ", ".join(f"'{status}'" for status in scoring.COUNTING_STATUSES) + ")"


async def load_facts(
    conn: DbConn, subject_ids: Sequence[int]
) -> tuple[dict[int, list[scoring.RecordFact]], dict[int, list[scoring.VolunteerFact]]]:
    """Active records and counted volunteer hours of these subjects: two queries for the batch."""
    records: dict[int, list[scoring.RecordFact]] = {}
    volunteer: dict[int, list[scoring.VolunteerFact]] = {}
    if not subject_ids:
        return records, volunteer
    q = Sql(conn)
    rows = await fetch(
        conn,
        "SELECT id, subject_id, category, severity, decided_at, publicity_until, status, disputed_until "
        f"FROM credit_records WHERE {q.in_('subject_id', subject_ids, 'bigint')} "
        f"AND status IN {_COUNTING}",
        q.params,
    )
    RecordFact = scoring.RecordFact
    pg = is_postgres(conn)  # asyncpg gives dates already: skip the conversion on the hot path
    for r in rows:
        facts = records.get(r[1])
        if facts is None:
            facts = records[r[1]] = []
        if pg:
            facts.append(RecordFact(str(r[0]), r[2], r[3], r[4], r[5], r[6], r[7]))
        else:
            facts.append(RecordFact(str(r[0]), r[2], r[3], as_date(r[4]), as_date(r[5]), r[6], as_date(r[7])))
    q = Sql(conn)
    rows = await fetch(
        conn,
        "SELECT id, subject_id, started_at, hours FROM volunteer_records "
        f"WHERE {q.in_('subject_id', subject_ids, 'bigint')} AND status = 'active' AND duplicate_of_id IS NULL",
        q.params,
    )
    VolunteerFact = scoring.VolunteerFact
    for r in rows:
        volunteer.setdefault(r[1], []).append(VolunteerFact(str(r[0]), as_datetime(r[2]), float(r[3])))
    return records, volunteer


async def load_third_party(
    conn: DbConn, subject_ids: Sequence[int]
) -> dict[int, list[scoring.ThirdPartyFact]]:
    """Active third-party scores of these subjects (one query), their dates on the China Standard Time calendar."""
    found: dict[int, list[scoring.ThirdPartyFact]] = {}
    if not subject_ids:
        return found
    q = Sql(conn)
    rows = await fetch(
        conn,
        "SELECT id, subject_id, provider, score, scale_min, scale_max, as_of, valid_until "
        f"FROM credit_third_party_scores WHERE {q.in_('subject_id', subject_ids, 'bigint')} AND status = 'active'",
        q.params,
    )
    for r in rows:
        found.setdefault(r[1], []).append(
            scoring.ThirdPartyFact(
                str(r[0]),
                r[2],
                float(r[3]),
                float(r[4]),
                float(r[5]),
                local_today(as_datetime(r[6])),
                local_today(as_datetime(r[7])),
            )
        )
    return found


def compute(
    subject_id: int,
    records: dict[int, list[scoring.RecordFact]],
    volunteer: dict[int, list[scoring.VolunteerFact]],
    rules: scoring.Ruleset,
    as_of: date,
    third_party: dict[int, list[scoring.ThirdPartyFact]] | None = None,
) -> scoring.ScoreResult:
    return scoring.compute_score(
        records=records.get(subject_id, ()),
        volunteer=volunteer.get(subject_id, ()),
        ruleset=rules,
        as_of=as_of,
        third_party=(third_party or {}).get(subject_id, ()),
    )


def factors_json(result: scoring.ScoreResult) -> list[dict[str, Any]]:
    return [
        {"code": f.code, "label": f.label, "points": f.points, "record_ids": list(f.record_ids)}
        for f in result.factors
    ]


# --- recomputation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TierMove:
    subject_id: int
    resident_id: uuid.UUID | None
    previous_tier: str
    tier: str


@dataclass
class RecomputeResult:
    scored: int = 0  # subjects linked to a resident, computed
    written: int = 0  # score rows inserted or changed
    history: int = 0  # history rows appended (score, tier or ruleset version changed)
    tier_changes: int = 0
    moves: list[TierMove] = field(default_factory=list)  # of this batch only (``add`` keeps the counts)

    def add(self, other: RecomputeResult) -> None:
        self.scored += other.scored
        self.written += other.written
        self.history += other.history
        self.tier_changes += other.tier_changes


@dataclass(frozen=True, slots=True)
class _Current:
    score: int
    tier: str
    ruleset_version: str
    as_of: date
    factors: list[dict[str, Any]]
    next_tier: str | None
    points_needed: int | None


_SCORE_TYPES = ("bigint", "int", "text", "text", "date", "jsonb", "text", "int", "timestamptz")
_HISTORY_TYPES = ("bigint", "int", "text", "text", "text", "text", "timestamptz")


async def lock_subjects(conn: DbConn, subject_ids: Iterable[int]) -> None:
    """Row-lock subjects (in id order, so two writers never deadlock) before reading their records.

    Every write that changes what a subject's score is made of takes this lock first, so two
    concurrent changes for one resident cannot each recompute from a snapshot missing the other
    (a lost update of the score). SQLite serialises writers anyway.
    """
    ids = sorted(set(subject_ids))
    if ids and is_postgres(conn):
        q = Sql(conn)
        await fetch(
            conn,
            f"SELECT id FROM credit_subjects WHERE {q.in_('id', ids, 'bigint')} ORDER BY id FOR UPDATE",
            q.params,
        )


async def _current_scores(conn: DbConn, subject_ids: Sequence[int]) -> dict[int, _Current]:
    q = Sql(conn)
    rows = await fetch(
        conn,
        "SELECT subject_id, score, tier, ruleset_version, as_of, factors, next_tier, points_needed FROM credit_scores "
        f"WHERE {q.in_('subject_id', subject_ids, 'bigint')}",
        q.params,
    )
    return {
        r[0]: _Current(
            r[1],
            r[2],
            r[3],
            as_date(r[4]),
            orjson.loads(r[5]) if isinstance(r[5], str | bytes) else r[5],
            r[6],
            r[7],
        )
        for r in rows
    }


async def recompute_subjects(
    subject_ids: Iterable[int],
    *,
    reason: str,
    conn: DbConn,
    as_of: date,
    now: datetime,
    rules: scoring.Ruleset | None = None,
) -> RecomputeResult:
    """Recompute and store the scores of these subjects (those linked to a resident), in ``conn``'s transaction.

    A score row is written when anything about it changed (including the as-of date); a
    history row is appended when the score, the tier or the ruleset version changed. Tier
    changes are announced to ``tier_change_hooks`` inside the same transaction.
    """
    ids = sorted(set(subject_ids))
    result = RecomputeResult()
    if not ids:
        return result
    rules = rules or await active_ruleset(conn)
    q = Sql(conn)
    subjects = await fetch(
        conn,
        f"SELECT id, resident_id FROM credit_subjects WHERE {q.in_('id', ids, 'bigint')} "
        f"AND resident_id IS NOT NULL ORDER BY id{q.for_update()}",
        q.params,
    )
    if not subjects:
        return result
    scored = [r[0] for r in subjects]
    residents = {r[0]: r[1] for r in subjects}
    records, volunteer = await load_facts(conn, scored)
    third_party = await load_third_party(conn, scored)
    current = await _current_scores(conn, scored)
    computed_at = now.astimezone(UTC)
    upserts: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    for subject_id in scored:
        computed = compute(subject_id, records, volunteer, rules, as_of, third_party)
        factors = factors_json(computed)
        nxt = computed.next_tier
        next_tier, points_needed = (nxt.tier, nxt.points_needed) if nxt else (None, None)
        prev = current.get(subject_id)
        if prev is not None and (
            prev.score == computed.score
            and prev.tier == computed.tier
            and prev.ruleset_version == computed.ruleset_version
            and prev.as_of == as_of
            and prev.next_tier == next_tier
            and prev.points_needed == points_needed
            and prev.factors == factors
        ):
            continue
        upserts.append(
            (
                subject_id,
                computed.score,
                computed.tier,
                computed.ruleset_version,
                as_of,
                orjson.dumps(factors).decode(),
                next_tier,
                points_needed,
                computed_at,
            )
        )
        if prev is None or (prev.score, prev.tier, prev.ruleset_version) != (
            computed.score,
            computed.tier,
            computed.ruleset_version,
        ):
            history.append(
                (
                    subject_id,
                    computed.score,
                    computed.tier,
                    prev.tier if prev else None,
                    computed.ruleset_version,
                    reason,
                    computed_at,
                )
            )
            if prev is not None and prev.tier != computed.tier:
                result.moves.append(TierMove(subject_id, residents[subject_id], prev.tier, computed.tier))
    for batch in chunks(upserts):
        q = Sql(conn)
        await execute(
            conn,
            "INSERT INTO credit_scores (subject_id, score, tier, ruleset_version, as_of, factors, next_tier, "
            f"points_needed, computed_at) {q.source(batch, _SCORE_TYPES)} ON CONFLICT (subject_id) DO UPDATE SET "
            "score = EXCLUDED.score, tier = EXCLUDED.tier, ruleset_version = EXCLUDED.ruleset_version, "
            "as_of = EXCLUDED.as_of, factors = EXCLUDED.factors, next_tier = EXCLUDED.next_tier, "
            "points_needed = EXCLUDED.points_needed, computed_at = EXCLUDED.computed_at",
            q.params,
        )
    for batch in chunks(history):
        q = Sql(conn)
        await execute(
            conn,
            "INSERT INTO credit_score_history (subject_id, score, tier, previous_tier, ruleset_version, reason, "
            f"computed_at) {q.source(batch, _HISTORY_TYPES)}",
            q.params,
        )
    result.scored, result.written, result.history = len(scored), len(upserts), len(history)
    result.tier_changes = len(result.moves)
    if result.moves and tier_change_hooks:
        by_id = {
            s.id: s for s in await Subject.filter(id__in=[m.subject_id for m in result.moves]).using_db(conn)
        }
        for move in result.moves:
            for hook in list(tier_change_hooks):
                await hook(conn, by_id[move.subject_id], move.previous_tier, move.tier)
    return result


# --- subjects -------------------------------------------------------------------------------


async def ensure_subjects(
    conn: DbConn,
    names: dict[str, str | None],
    *,
    encrypt_name: Callable[[str, str], str] | None = None,
    subject_type: str = NATURAL_PERSON,
) -> dict[str, int]:
    """Subject ids of these identifier hashes, creating the missing subjects (race-safe).

    ``names`` maps each hash to the plain name a source gave (or None); a new subject keeps it
    encrypted with ``encrypt_name(hash, name)``. An existing subject's name is left alone.
    """
    hashes = list(names)
    found = await _subject_ids(conn, hashes, subject_type)
    missing = sorted(h for h in hashes if h not in found)  # one insertion order for every writer: no deadlock
    if missing:
        now = datetime.now(UTC)
        for batch in chunks(missing):
            q = Sql(conn)
            rows = q.source(
                [
                    (
                        subject_type,
                        h,
                        encrypt_name(h, name) if encrypt_name and (name := names[h]) else None,
                        now,
                    )
                    for h in batch
                ],
                ("text", "text", "text", "timestamptz"),
            )
            await execute(
                conn,
                f"INSERT INTO credit_subjects (subject_type, id_hash, name_enc, created_at) {rows} "
                "ON CONFLICT (subject_type, id_hash) DO NOTHING",
                q.params,
            )
        found.update(await _subject_ids(conn, missing, subject_type))
    return found


async def _subject_ids(conn: DbConn, hashes: Sequence[str], subject_type: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for batch in chunks(hashes):
        q = Sql(conn)
        keys = q.keys("k", ["id_hash"], [(h,) for h in batch], ["text"])
        rows = await fetch(
            conn,
            f"SELECT s.id, s.id_hash FROM {keys} JOIN credit_subjects s "
            f"ON s.subject_type = {q.p(subject_type)} AND s.id_hash = k.id_hash",
            q.params,
        )
        found.update({r[1]: r[0] for r in rows})
    return found


async def attach_unlinked_residents(conn: DbConn) -> int:
    """Link every bound resident that has no subject yet (one statement). Returns how many."""
    q = Sql(conn)
    now = q.p(datetime.now(UTC), cast="timestamptz")
    before = await fetch(conn, "SELECT COUNT(*) FROM credit_subjects WHERE resident_id IS NOT NULL", [])
    await execute(
        conn,
        "INSERT INTO credit_subjects (subject_type, id_hash, resident_id, created_at) "
        f"SELECT '{NATURAL_PERSON}', r.id_number_hash, r.id, {now} FROM residents r "
        "WHERE r.id_number_hash IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM credit_subjects s WHERE s.resident_id = r.id) "
        "ON CONFLICT (subject_type, id_hash) DO UPDATE SET resident_id = EXCLUDED.resident_id "
        "WHERE credit_subjects.resident_id IS NULL",
        q.params,
    )
    after = await fetch(conn, "SELECT COUNT(*) FROM credit_subjects WHERE resident_id IS NOT NULL", [])
    return int(after[0][0]) - int(before[0][0])
