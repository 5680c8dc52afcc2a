"""Pure, deterministic credit scoring.

A score is a function of (records, volunteer hours, ruleset, as-of date) only: no clock, no
database, no randomness. Recomputing it later with the same ruleset version gives the same
number, so every score can be audited. All numbers live in the ruleset (versioned JSON data).

Conventions worth knowing:

- Every point carries a reason code; the factor points always add up to the score. When the
  total deduction cap or the [min, max] clamp changes the sum, that shows up as an explicit
  adjustment factor (``NEGATIVE_CAP``, ``SCORE_BOUNDS``) instead of silently rescaling others.
- Windows are counted in calendar months after ``decided_at``; ``counts_until`` is the last
  day (inclusive) a record counts, i.e. ``decided_at + n months - 1 day``.
- Volunteer hours: each record weighs ``0.5 ** (age_days / half_life_days)`` (age in whole
  days, measured on the China Standard Time calendar), the weighted hours are summed exactly
  with ``math.fsum`` (order-independent), and points are ``floor(cap * (1 - exp(-h / scale)))``.
  Flooring is the only rounding step, so equal inputs always give equal outputs and the
  points never reach past the cap.
"""

from __future__ import annotations

import calendar
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta, timezone
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

TIERS = ("restricted", "C", "B", "A", "AA", "AAA")
CATEGORIES = (
    "admin_penalty",
    "commendation",
    "red_list",
    "black_list",
    "court_judgment",
    "arrears",
    "contract_breach",
    "commitment_breach",
)
SEVERITIES = ("minor", "general", "serious")
NEGATIVE_CATEGORIES = ("admin_penalty", "court_judgment", "arrears", "contract_breach", "commitment_breach")
BONUS_CATEGORIES = ("red_list", "commendation")
BANDED_TIERS = ("B", "A", "AA", "AAA")  # tiers with a lower bound; C is everything below B
DEFAULT_SEVERITY = "general"
ACTIVE = "active"
CORRECTED = "corrected"  # re-graded after an upheld objection: counts with its new severity
DISPUTED = "disputed"  # under an open objection: counts only where the ruleset says so, and not once overdue
COUNTING_STATUSES = (ACTIVE, CORRECTED, DISPUTED)  # the statuses that may count; every other one never does
MAX_VERSION_LENGTH = 32
MAX_HOURS_PER_RECORD = 24.0
LOCAL_TZ = timezone(timedelta(hours=8), "CST")  # calendar used to date volunteer service

DEFAULT_RULESET_PATH = Path(__file__).with_name("rulesets") / "default-v1.json"

_CATEGORY_LABELS = {
    "admin_penalty": "行政处罚",
    "court_judgment": "法院判决",
    "arrears": "欠缴费用",
    "contract_breach": "合同违约",
    "commitment_breach": "违背信用承诺",
}
_SEVERITY_LABELS = {"minor": "轻微", "general": "一般", "serious": "严重"}
_LABELS = {
    "BASE": "基础分",
    "VOLUNTEER_HOURS": "志愿服务时长",
    "RED_LIST": "守信红名单",
    "COMMENDATION": "表彰奖励",
    "BLACK_LIST_ACTIVE": "失信联合惩戒名单",
    "NEGATIVE_CAP": "扣分封顶调整",
    "SCORE_BOUNDS": "分数上下限调整",
    "THIRD_PARTY": "第三方信用评分",
}


# ---------------------------------------------------------------------------------------
# Facts and results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordFact:
    """One public credit record of the subject."""

    id: str
    category: str
    severity: str | None
    decided_at: date
    publicity_until: date | None
    status: str = ACTIVE
    disputed_until: date | None = None  # the open objection's due date (status DISPUTED)


@dataclass(frozen=True, slots=True)
class VolunteerFact:
    """One volunteer service record (hours posted by a volunteer platform)."""

    id: str
    started_at: datetime
    hours: float


@dataclass(frozen=True, slots=True)
class ThirdPartyFact:
    """A scoring provider's score of the subject on its own scale, counting from ``as_of`` through ``valid_until``.

    The dates are China Standard Time calendar days: a score counts on every day from the day of
    its ``as_of`` through the day of its ``valid_until`` (scores are computed per day).
    """

    id: str
    provider: str
    score: float
    scale_min: float
    scale_max: float
    as_of: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class Factor:
    """Signed points for one reason code, with the records behind them."""

    code: str
    label: str
    points: int
    record_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NextTier:
    """The next tier up and how many points are missing to reach it."""

    tier: str
    points_needed: int


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A computed score, its tier and its explanation."""

    score: int
    tier: str
    ruleset_version: str
    factors: tuple[Factor, ...]
    next_tier: NextTier | None


# ---------------------------------------------------------------------------------------
# Ruleset
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bands:
    """Lower bounds (inclusive) of the banded tiers; C is every score below B."""

    B: int
    A: int
    AA: int
    AAA: int


@dataclass(frozen=True, slots=True)
class VolunteerRule:
    """Volunteer hours: points = floor(cap * (1 - exp(-weighted_hours / scale_hours)))."""

    cap: int
    scale_hours: float
    half_life_days: float
    max_age_days: int


@dataclass(frozen=True, slots=True)
class BonusRule:
    """Points per positive record, capped; counts valid_months after decided_at (None: forever)."""

    points: int
    cap: int
    valid_months: int | None


@dataclass(frozen=True, slots=True)
class BlackListRule:
    """Deduction while black-listed; default_months applies when the source gave no end date."""

    deduction: int
    default_months: int | None


@dataclass(frozen=True, slots=True)
class SeverityPoints:
    """Deduction per record, by severity."""

    minor: int
    general: int
    serious: int


@dataclass(frozen=True, slots=True)
class Deductions:
    """Deductions of every negative category."""

    admin_penalty: SeverityPoints
    court_judgment: SeverityPoints
    arrears: SeverityPoints
    contract_breach: SeverityPoints
    commitment_breach: SeverityPoints


@dataclass(frozen=True, slots=True)
class Window:
    """Publicity window in months after decided_at: default, and the range an explicit end is clamped to."""

    min_months: int
    default_months: int
    max_months: int


@dataclass(frozen=True, slots=True)
class Windows:
    """Publicity windows by severity."""

    minor: Window
    general: Window
    serious: Window


@dataclass(frozen=True, slots=True)
class RepairMonths:
    """Months after decided_at before a record of this severity may be repaired (NDRC Order 36)."""

    minor: int = 0
    general: int = 3
    serious: int = 12


@dataclass(frozen=True, slots=True)
class DisputedCounting:
    """Whether a record keeps counting while an objection to it is open (by severity; black-list entries)."""

    minor: bool = False
    general: bool = False
    serious: bool = True
    black_list: bool = True


@dataclass(frozen=True, slots=True)
class RightsRule:
    """The subject's rights as data: notice window, answer deadline, counting while disputed, repair."""

    objection_window_days: int = 10
    objection_due_days: int = 20
    counts_while_disputed: DisputedCounting = DisputedCounting()
    repair_after_months: RepairMonths = RepairMonths()
    # The regulator's answer deadlines of the other cases (the case queue's clocks; optional in the data):
    # a repair request, a self-report, a merchant's breach report, a resident's dispute of a deposit charge.
    repair_due_days: int = 15
    self_report_due_days: int = 15
    breach_due_days: int = 15
    charge_dispute_due_days: int = 10


@dataclass(frozen=True, slots=True)
class CommitmentRule:
    """信易批: the lowest live tier that may use a green channel, and the severity of a broken commitment's record."""

    green_channel_min_tier: str = "A"
    breach_severity: str = "general"


@dataclass(frozen=True, slots=True)
class ThirdPartyRule:
    """A provider's score mapped linearly from its scale onto [min_points, max_points] (floored).

    Several providers' points are averaged into the one ``THIRD_PARTY`` factor, so the factor
    always stays within the bounds.
    """

    min_points: int = 0
    max_points: int = 30


@dataclass(frozen=True)
class Ruleset:
    """A parsed, validated, immutable ruleset (build it with ``parse_ruleset``)."""

    version: str
    base: int
    min_score: int
    max_score: int
    bands: Bands
    volunteer: VolunteerRule
    red_list: BonusRule
    commendation: BonusRule
    black_list: BlackListRule
    deductions: Deductions
    max_total_deduction: int
    windows: Windows
    rights: RightsRule = RightsRule()  # optional in the data: rulesets written before it get the defaults
    commitments: CommitmentRule = CommitmentRule()  # optional too (older rulesets: the defaults)
    third_party: ThirdPartyRule = ThirdPartyRule()  # optional too

    def counts_while_disputed(self, category: str, severity: str | None) -> bool:
        rule = self.rights.counts_while_disputed
        if category == "black_list":
            return rule.black_list
        return bool(getattr(rule, severity or DEFAULT_SEVERITY))

    def band_floor(self, tier: str) -> int:
        """Lowest score of a banded tier (C: the ruleset minimum)."""
        return self.min_score if tier == "C" else getattr(self.bands, tier)

    def deduction(self, category: str, severity: str) -> int:
        """Points one record of this negative category and severity deducts."""
        return getattr(getattr(self.deductions, category), severity)

    def window(self, severity: str) -> Window:
        """Publicity window of a severity."""
        return getattr(self.windows, severity)

    def bonus(self, category: str) -> BonusRule:
        """Rule of a positive category (red_list, commendation)."""
        return getattr(self, category)


class RulesetError(ValueError):
    """A ruleset failed validation; ``fields`` maps each field path to why."""

    def __init__(self, fields: dict[str, str]):
        self.fields = dict(fields)
        detail = "; ".join(f"{path}: {why}" for path, why in sorted(self.fields.items()))
        super().__init__(f"invalid ruleset: {detail}")


class _Problems:
    """Collects every validation problem so they are reported at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, path: str, why: str) -> None:
        self.fields[path] = f"{self.fields[path]}; {why}" if path in self.fields else why

    def keys(
        self, path: str, value: dict[str, Any], keys: tuple[str, ...], unknown: str = "unknown key"
    ) -> None:
        """Report missing and unknown keys of an object."""
        for key in keys:
            if key not in value:
                self.add(_join(path, key), "missing")
        for key in value:
            if key not in keys:
                self.add(_join(path, str(key)), unknown)

    def obj(
        self,
        path: str,
        parent: dict[str, Any] | None,
        key: str,
        keys: tuple[str, ...],
        unknown: str = "unknown key",
    ) -> dict[str, Any] | None:
        """The object at parent[key] with exactly these keys; None if absent (already reported) or not an object."""
        if parent is None or key not in parent:
            return None
        value = parent[key]
        if not isinstance(value, dict):
            self.add(_join(path, key), "must be an object")
            return None
        self.keys(_join(path, key), value, keys, unknown)
        return value

    def int_(
        self,
        path: str,
        obj: dict[str, Any] | None,
        key: str,
        *,
        minimum: int | None = 0,
        nullable: bool = False,
    ) -> int | None:
        """An integer >= minimum (or null when nullable); None when missing, null or invalid."""
        if obj is None or key not in obj:
            return None
        value = obj[key]
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(_join(path, key), "must be an integer" + (" or null" if nullable else ""))
            return None
        if minimum is not None and value < minimum:
            self.add(_join(path, key), f"must be at least {minimum}")
            return None
        return value

    def positive(self, path: str, obj: dict[str, Any] | None, key: str) -> float | None:
        """A finite number > 0; None when missing or invalid."""
        if obj is None or key not in obj:
            return None
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.add(_join(path, key), "must be a number")
            return None
        if value <= 0:
            self.add(_join(path, key), "must be greater than 0")
            return None
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_TOP_KEYS = (
    "version",
    "base",
    "min",
    "max",
    "bands",
    "volunteer",
    "red_list",
    "commendation",
    "black_list",
    "deductions",
    "max_total_deduction",
    "windows",
)
_WINDOW_KEYS = ("min_months", "default_months", "max_months")


def parse_ruleset(data: dict) -> Ruleset:
    """Validate ruleset data and build a Ruleset; raises RulesetError listing every problem."""
    if not isinstance(data, dict):
        raise RulesetError({"$": "must be an object"})
    p = _Problems()
    p.keys("", {k: v for k, v in data.items() if k not in _OPTIONAL_KEYS}, _TOP_KEYS)
    rights = _parse_rights(p, data)
    commitments = _parse_commitments(p, data)
    third_party = _parse_third_party(p, data)

    version = data.get("version")
    if "version" in data and (
        not isinstance(version, str) or not version.strip() or len(version) > MAX_VERSION_LENGTH
    ):
        p.add("version", f"must be a non-empty string of at most {MAX_VERSION_LENGTH} characters")

    base = p.int_("", data, "base", minimum=None)
    lo = p.int_("", data, "min", minimum=None)
    hi = p.int_("", data, "max", minimum=None)
    if lo is not None and hi is not None and lo >= hi:
        p.add("max", "must be greater than min")
    if base is not None and lo is not None and hi is not None and not lo <= base <= hi:
        p.add("base", "must be within [min, max]")

    bands_raw = p.obj("", data, "bands", BANDED_TIERS)
    bands = {t: p.int_("bands", bands_raw, t, minimum=None) for t in BANDED_TIERS}
    for lower, upper in pairwise(BANDED_TIERS):
        lower_band, upper_band = bands[lower], bands[upper]
        if lower_band is not None and upper_band is not None and upper_band <= lower_band:
            p.add(f"bands.{upper}", f"must be greater than bands.{lower} (bands strictly increasing)")
    if lo is not None and bands["B"] is not None and bands["B"] <= lo:
        p.add("bands.B", "must be greater than min (tier C would be empty)")
    if hi is not None and bands["AAA"] is not None and bands["AAA"] > hi:
        p.add("bands.AAA", "must be at most max (tier AAA would be unreachable)")
    if base is not None and bands["A"] is not None and bands["AA"] is not None:
        if not bands["A"] <= base < bands["AA"]:
            p.add("base", "must be in tier A (bands.A <= base < bands.AA)")

    volunteer = p.obj("", data, "volunteer", ("cap", "scale_hours", "half_life_days", "max_age_days"))
    p.int_("volunteer", volunteer, "cap")
    p.positive("volunteer", volunteer, "scale_hours")
    p.positive("volunteer", volunteer, "half_life_days")
    p.int_("volunteer", volunteer, "max_age_days")

    for category in BONUS_CATEGORIES:
        bonus = p.obj("", data, category, ("points", "cap", "valid_months"))
        p.int_(category, bonus, "points")
        p.int_(category, bonus, "cap")
        p.int_(category, bonus, "valid_months", minimum=1, nullable=True)

    black = p.obj("", data, "black_list", ("deduction", "default_months"))
    p.int_("black_list", black, "deduction")
    p.int_("black_list", black, "default_months", minimum=1, nullable=True)

    deductions = p.obj("", data, "deductions", NEGATIVE_CATEGORIES, unknown="unknown category")
    if deductions is not None:
        for key in deductions:
            if key in CATEGORIES and key not in NEGATIVE_CATEGORIES:
                p.fields[f"deductions.{key}"] = "not a negative category"
        for category in NEGATIVE_CATEGORIES:
            per_severity = p.obj("deductions", deductions, category, SEVERITIES, unknown="unknown severity")
            for severity in SEVERITIES:
                p.int_(f"deductions.{category}", per_severity, severity)

    p.int_("", data, "max_total_deduction")

    windows = p.obj("", data, "windows", SEVERITIES, unknown="unknown severity")
    for severity in SEVERITIES:
        path = f"windows.{severity}"
        window = p.obj("windows", windows, severity, _WINDOW_KEYS)
        w_min = p.int_(path, window, "min_months")
        w_def = p.int_(path, window, "default_months", minimum=1)
        w_max = p.int_(path, window, "max_months", minimum=1)
        if w_min is not None and w_max is not None and w_min > w_max:
            p.add(path, "min_months must not exceed max_months")
        elif w_min is not None and w_def is not None and w_max is not None and not w_min <= w_def <= w_max:
            p.add(f"{path}.default_months", "must be between min_months and max_months")

    if p.fields:
        raise RulesetError(p.fields)
    # Everything below has been validated: build the immutable tree straight from the data.
    return Ruleset(
        version=data["version"],
        base=data["base"],
        min_score=data["min"],
        max_score=data["max"],
        bands=Bands(**data["bands"]),
        volunteer=VolunteerRule(**data["volunteer"]),
        red_list=BonusRule(**data["red_list"]),
        commendation=BonusRule(**data["commendation"]),
        black_list=BlackListRule(**data["black_list"]),
        deductions=Deductions(**{c: SeverityPoints(**v) for c, v in data["deductions"].items()}),
        max_total_deduction=data["max_total_deduction"],
        windows=Windows(**{s: Window(**v) for s, v in data["windows"].items()}),
        rights=rights,
        commitments=commitments,
        third_party=third_party,
    )


_OPTIONAL_KEYS = ("rights", "commitments", "third_party")


def _parse_commitments(p: _Problems, data: dict[str, Any]) -> CommitmentRule:
    """The optional ``commitments`` section (信易批); absent: green channels from tier A, breaches ``general``."""
    raw = p.obj("", data, "commitments", ("green_channel_min_tier", "breach_severity"))
    if raw is None:
        return CommitmentRule()
    ok = True
    if "green_channel_min_tier" in raw and raw["green_channel_min_tier"] not in TIERS[1:]:
        p.add("commitments.green_channel_min_tier", f"must be one of {', '.join(TIERS[1:])}")
        ok = False
    if "breach_severity" in raw and raw["breach_severity"] not in SEVERITIES:
        p.add("commitments.breach_severity", f"must be one of {', '.join(SEVERITIES)}")
        ok = False
    if not ok or set(raw) != {"green_channel_min_tier", "breach_severity"}:
        return CommitmentRule()
    return CommitmentRule(**raw)


def _parse_third_party(p: _Problems, data: dict[str, Any]) -> ThirdPartyRule:
    """The optional ``third_party`` section; absent: a provider's score is worth 0 to 30 points."""
    raw = p.obj("", data, "third_party", ("min_points", "max_points"))
    if raw is None:
        return ThirdPartyRule()
    lo = p.int_("third_party", raw, "min_points", minimum=None)
    hi = p.int_("third_party", raw, "max_points", minimum=None)
    if lo is None or hi is None:
        return ThirdPartyRule()
    if lo > hi:
        p.add("third_party.max_points", "must be at least min_points")
        return ThirdPartyRule()
    return ThirdPartyRule(min_points=lo, max_points=hi)


_RIGHTS_KEYS = ("objection_window_days", "objection_due_days", "counts_while_disputed", "repair_after_months")
# Optional keys of the rights section: absent, the RightsRule default holds (rulesets written before them load).
_CASE_DUE_KEYS = ("repair_due_days", "self_report_due_days", "breach_due_days", "charge_dispute_due_days")


def _parse_rights(p: _Problems, data: dict[str, Any]) -> RightsRule:
    """The optional ``rights`` section; absent: the defaults (10-day notice, 20-day answer, Order 36)."""
    if "rights" not in data:
        return RightsRule()
    section = data["rights"]
    optional = {k: section[k] for k in _CASE_DUE_KEYS if k in section} if isinstance(section, dict) else {}
    required = {k: v for k, v in section.items() if k not in _CASE_DUE_KEYS} if optional else section
    raw = p.obj("", {"rights": required}, "rights", _RIGHTS_KEYS)
    if raw is None:
        return RightsRule()
    for key in optional:
        p.int_("rights", optional, key, minimum=1)
    p.int_("rights", raw, "objection_window_days", minimum=1)
    p.int_("rights", raw, "objection_due_days", minimum=1)
    counting = p.obj("rights", raw, "counts_while_disputed", (*SEVERITIES, "black_list"))
    for key in (*SEVERITIES, "black_list"):
        if counting is not None and key in counting and not isinstance(counting[key], bool):
            p.add(f"rights.counts_while_disputed.{key}", "must be true or false")
    months = p.obj("rights", raw, "repair_after_months", SEVERITIES, unknown="unknown severity")
    for severity in SEVERITIES:
        p.int_("rights.repair_after_months", months, severity)
    if p.fields:
        return RightsRule()  # reported: parse_ruleset raises with every problem
    return RightsRule(
        objection_window_days=raw["objection_window_days"],
        objection_due_days=raw["objection_due_days"],
        counts_while_disputed=DisputedCounting(**raw["counts_while_disputed"]),
        repair_after_months=RepairMonths(**raw["repair_after_months"]),
        **optional,
    )


def _plain(obj: Any) -> dict[str, Any]:
    """A flat rule dataclass as a dict."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def ruleset_to_dict(rs: Ruleset) -> dict:
    """The JSON-able form of a ruleset; ``parse_ruleset(ruleset_to_dict(rs)) == rs``."""
    return {
        "version": rs.version,
        "base": rs.base,
        "min": rs.min_score,
        "max": rs.max_score,
        "bands": _plain(rs.bands),
        "volunteer": _plain(rs.volunteer),
        "red_list": _plain(rs.red_list),
        "commendation": _plain(rs.commendation),
        "black_list": _plain(rs.black_list),
        "deductions": {cat: _plain(getattr(rs.deductions, cat)) for cat in NEGATIVE_CATEGORIES},
        "max_total_deduction": rs.max_total_deduction,
        "windows": {sev: _plain(rs.window(sev)) for sev in SEVERITIES},
        "rights": {
            "objection_window_days": rs.rights.objection_window_days,
            "objection_due_days": rs.rights.objection_due_days,
            "counts_while_disputed": _plain(rs.rights.counts_while_disputed),
            "repair_after_months": _plain(rs.rights.repair_after_months),
            **{key: getattr(rs.rights, key) for key in _CASE_DUE_KEYS},
        },
        "commitments": _plain(rs.commitments),
        "third_party": _plain(rs.third_party),
    }


@cache
def default_ruleset() -> Ruleset:
    """The bundled default ruleset (credit/rulesets/default-v1.json), parsed once."""
    return parse_ruleset(json.loads(DEFAULT_RULESET_PATH.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """Same day-of-month ``months`` later, clamped to the month's last day."""
    total = day.year * 12 + (day.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _window_end(decided_at: date, months: int) -> date:
    """Last day of a window of ``months`` starting on decided_at."""
    return add_months(decided_at, months) - timedelta(days=1)


def _severity(record: RecordFact) -> str:
    severity = DEFAULT_SEVERITY if record.severity is None else record.severity
    if severity not in SEVERITIES:
        raise ValueError(f"record {record.id}: unknown severity {record.severity!r}")
    return severity


def counts_until(record: RecordFact, ruleset: Ruleset) -> date | None:
    """Last day (inclusive) the record counts, ignoring its status; None if it never expires.

    Negative records: the explicit ``publicity_until`` clamped into the severity window's
    [min, max] (never before ``decided_at``), else the default window. Black list: the explicit
    end as given, else the ruleset default (None: until its status changes). Positive records:
    the ruleset validity, shortened (never extended) by an explicit end.
    """
    category = record.category
    if category in NEGATIVE_CATEGORIES:
        window = ruleset.window(_severity(record))
        if record.publicity_until is None:
            return _window_end(record.decided_at, window.default_months)
        earliest = max(record.decided_at, _window_end(record.decided_at, window.min_months))
        latest = _window_end(record.decided_at, window.max_months)
        return min(max(record.publicity_until, earliest), latest)
    if category == "black_list":
        if record.publicity_until is not None:
            return record.publicity_until
        months = ruleset.black_list.default_months
        return None if months is None else _window_end(record.decided_at, months)
    if category in BONUS_CATEGORIES:
        months = ruleset.bonus(category).valid_months
        end = None if months is None else _window_end(record.decided_at, months)
        if record.publicity_until is None:
            return end
        return record.publicity_until if end is None else min(record.publicity_until, end)
    raise ValueError(f"record {record.id}: unknown category {category!r}")


def _counts(record: RecordFact, ruleset: Ruleset, as_of: date) -> bool:
    """Whether the record counts on as_of: a counting status, already decided, still within its window.

    A disputed record counts only where the ruleset keeps its kind counting while disputed, and never
    once its objection is past due without a decision."""
    until = counts_until(record, ruleset)  # validates category/severity even when inactive
    if record.status not in COUNTING_STATUSES or record.decided_at > as_of:
        return False
    if record.status == DISPUTED and (
        not ruleset.counts_while_disputed(record.category, record.severity)
        or record.disputed_until is None
        or as_of > record.disputed_until  # an objection left unanswered past its due date
    ):
        return False
    return until is None or as_of <= until


# ---------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------


def tier_rank(tier: str) -> int:
    """Position of a tier in TIERS (restricted = 0 … AAA = 5)."""
    try:
        return TIERS.index(tier)
    except ValueError:
        raise ValueError(f"unknown tier {tier!r}") from None


def tier_for(score: int, ruleset: Ruleset, *, restricted: bool = False) -> str:
    """Tier of a score under the ruleset's bands; ``restricted`` wins over any score."""
    if restricted:
        return "restricted"
    tier = "C"
    for banded in BANDED_TIERS:
        if score >= ruleset.band_floor(banded):
            tier = banded
    return tier


def _next_tier(score: int, tier: str, ruleset: Ruleset) -> NextTier | None:
    if tier in ("restricted", "AAA"):
        return None
    upper = TIERS[tier_rank(tier) + 1]
    return NextTier(tier=upper, points_needed=ruleset.band_floor(upper) - score)


def _id_key(record_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then any other ids in string order."""
    return (0, int(record_id), record_id) if record_id.isdecimal() else (1, 0, record_id)


def _factor(code: str, points: int, record_ids: Iterable[str] = ()) -> Factor:
    return Factor(
        code=code, label=_label(code), points=points, record_ids=tuple(sorted(record_ids, key=_id_key))
    )


def _label(code: str) -> str:
    if code in _LABELS:
        return _LABELS[code]
    category, _, severity = code.lower().rpartition("_")
    return f"{_CATEGORY_LABELS[category]}（{_SEVERITY_LABELS[severity]}）"


def _negative_code(category: str, severity: str) -> str:
    return f"{category}_{severity}".upper()


def _volunteer_points(
    volunteer: Iterable[VolunteerFact], rule: VolunteerRule, as_of: date
) -> tuple[int, list[str]]:
    """Points for volunteer hours (decayed, diminishing, capped) and the ids that counted."""
    weighted: list[float] = []
    ids: list[str] = []
    for fact in volunteer:
        hours = float(fact.hours)
        if not math.isfinite(hours) or hours <= 0:
            continue
        started = fact.started_at
        if started.tzinfo is None:  # naive: read as China Standard Time rather than the host's zone
            started = started.replace(tzinfo=LOCAL_TZ)
        age_days = (as_of - started.astimezone(LOCAL_TZ).date()).days
        if age_days < 0 or age_days > rule.max_age_days:
            continue
        weighted.append(min(hours, MAX_HOURS_PER_RECORD) * 0.5 ** (age_days / rule.half_life_days))
        ids.append(fact.id)
    effective_hours = math.fsum(weighted)  # exactly rounded, so independent of input order
    points = math.floor(rule.cap * -math.expm1(-effective_hours / rule.scale_hours))
    return min(points, rule.cap), ids


def third_party_points(fact: ThirdPartyFact, rule: ThirdPartyRule) -> int:
    """A provider's score mapped linearly from its scale onto the ruleset's bounds (floored, clamped)."""
    span = fact.scale_max - fact.scale_min
    share = (fact.score - fact.scale_min) / span if span > 0 else 0.0
    share = min(max(share, 0.0), 1.0) if math.isfinite(share) else 0.0
    points = rule.min_points + math.floor(share * (rule.max_points - rule.min_points) + 1e-9)
    return min(max(points, rule.min_points), rule.max_points)


def _third_party_factor(facts: Iterable[ThirdPartyFact], rule: ThirdPartyRule, as_of: date) -> Factor | None:
    """One ``THIRD_PARTY`` factor naming the providers whose scores count on ``as_of`` (their points averaged)."""
    counting = sorted(
        (f for f in facts if f.as_of <= as_of <= f.valid_until), key=lambda f: (f.provider, f.id)
    )
    if not counting:
        return None
    points = math.floor(math.fsum(third_party_points(f, rule) for f in counting) / len(counting))
    providers = "、".join(dict.fromkeys(f.provider for f in counting))
    return Factor(
        code="THIRD_PARTY", label=f"{_LABELS['THIRD_PARTY']}（{providers}）", points=points, record_ids=()
    )


def compute_score(
    *,
    records: Iterable[RecordFact],
    volunteer: Iterable[VolunteerFact],
    ruleset: Ruleset,
    as_of: date,
    third_party: Iterable[ThirdPartyFact] = (),
) -> ScoreResult:
    """Score, tier, factors and next tier of a subject on ``as_of`` under ``ruleset``."""
    if isinstance(as_of, datetime) or not isinstance(as_of, date):
        raise TypeError("as_of must be a date (not a datetime)")

    bonus_ids: dict[str, list[str]] = {cat: [] for cat in BONUS_CATEGORIES}
    negative_ids: dict[tuple[str, str], list[str]] = {}
    black_ids: list[str] = []
    for record in records:
        if not _counts(record, ruleset, as_of):
            continue
        if record.category == "black_list":
            black_ids.append(record.id)
        elif record.category in BONUS_CATEGORIES:
            bonus_ids[record.category].append(record.id)
        else:
            negative_ids.setdefault((record.category, _severity(record)), []).append(record.id)

    factors = [_factor("BASE", ruleset.base)]

    for category, ids in bonus_ids.items():
        if ids:
            rule = ruleset.bonus(category)
            factors.append(_factor(category.upper(), min(rule.cap, rule.points * len(ids)), ids))

    volunteer_points, volunteer_ids = _volunteer_points(volunteer, ruleset.volunteer, as_of)
    if volunteer_ids:
        factors.append(_factor("VOLUNTEER_HOURS", volunteer_points, volunteer_ids))

    third = _third_party_factor(third_party, ruleset.third_party, as_of)
    if third is not None:
        factors.append(third)

    total_deduction = 0
    for (category, severity), ids in negative_ids.items():
        deduction = ruleset.deduction(category, severity) * len(ids)
        total_deduction += deduction
        factors.append(_factor(_negative_code(category, severity), -deduction, ids))
    if black_ids:
        total_deduction += ruleset.black_list.deduction
        factors.append(_factor("BLACK_LIST_ACTIVE", -ruleset.black_list.deduction, black_ids))
    if total_deduction > ruleset.max_total_deduction:
        factors.append(_factor("NEGATIVE_CAP", total_deduction - ruleset.max_total_deduction))

    raw = sum(f.points for f in factors)
    score = min(max(raw, ruleset.min_score), ruleset.max_score)
    if score != raw:
        factors.append(_factor("SCORE_BOUNDS", score - raw))

    tier = tier_for(score, ruleset, restricted=bool(black_ids))
    return ScoreResult(
        score=score,
        tier=tier,
        ruleset_version=ruleset.version,
        factors=tuple(sorted(factors, key=lambda f: f.code)),
        next_tier=_next_tier(score, tier, ruleset),
    )
