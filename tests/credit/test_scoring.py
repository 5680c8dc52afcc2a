"""Tests of the pure scoring engine: factors, caps, decay, windows, tiers, rulesets, invariants."""

import copy
import json
import math
import random
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit.scoring import (
    BONUS_CATEGORIES,
    DEFAULT_RULESET_PATH,
    NEGATIVE_CATEGORIES,
    SEVERITIES,
    TIERS,
    Factor,
    NextTier,
    RecordFact,
    Ruleset,
    RulesetError,
    ScoreResult,
    VolunteerFact,
    compute_score,
    counts_until,
    default_ruleset,
    parse_ruleset,
    ruleset_to_dict,
    tier_for,
    tier_rank,
)

AS_OF = date(2025, 6, 15)
CST = timezone(timedelta(hours=8))
RS = default_ruleset()
DEFAULT = ruleset_to_dict(RS)


def rec(
    id: str = "1",
    category: str = "admin_penalty",
    severity: str | None = "general",
    decided_at: date = AS_OF - timedelta(days=10),
    publicity_until: date | None = None,
    status: str = "active",
) -> RecordFact:
    return RecordFact(id, category, severity, decided_at, publicity_until, status)


def vol(id: str = "v1", days_ago: int = 0, hours: float = 10.0, *, as_of: date = AS_OF) -> VolunteerFact:
    """Volunteer hours that started at noon (China time) ``days_ago`` days before as_of."""
    return VolunteerFact(id, datetime.combine(as_of - timedelta(days=days_ago), time(12), CST), hours)


def score(records=(), volunteer=(), rs: Ruleset = RS, as_of: date = AS_OF) -> ScoreResult:
    return compute_score(records=list(records), volunteer=list(volunteer), ruleset=rs, as_of=as_of)


def factor(result: ScoreResult, code: str) -> Factor | None:
    return next((f for f in result.factors if f.code == code), None)


def codes(result: ScoreResult) -> list[str]:
    return [f.code for f in result.factors]


def volunteer_points(*facts: VolunteerFact, rs: Ruleset = RS) -> int:
    f = factor(score(volunteer=facts, rs=rs), "VOLUNTEER_HOURS")
    return 0 if f is None else f.points


def custom(**changes) -> Ruleset:
    """The default ruleset with dotted-path changes, e.g. custom(**{"red_list.cap": 5})."""
    return parse_ruleset(mutate(changes))


def mutate(changes: dict) -> dict:
    data = copy.deepcopy(DEFAULT)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return data


DELETE = object()


def assert_consistent(result: ScoreResult, rs: Ruleset = RS) -> None:
    """Invariants every result must satisfy."""
    assert rs.min_score <= result.score <= rs.max_score
    assert sum(f.points for f in result.factors) == result.score
    assert [f.code for f in result.factors] == sorted({f.code for f in result.factors})
    assert factor(result, "BASE") == Factor("BASE", "基础分", rs.base, ())
    restricted = factor(result, "BLACK_LIST_ACTIVE") is not None
    assert result.tier == tier_for(result.score, rs, restricted=restricted)
    for f in result.factors:
        assert f.points != 0 or f.record_ids or f.code == "BASE"
        assert list(f.record_ids) == sorted(
            f.record_ids, key=lambda i: (not i.isdecimal(), int(i) if i.isdecimal() else 0, i)
        )


# --- default ruleset --------------------------------------------------------------------


def test_default_ruleset_numbers():
    assert RS.version == "default-v1"
    assert (RS.base, RS.min_score, RS.max_score) == (600, 300, 950)
    assert [RS.band_floor(t) for t in ("C", "B", "A", "AA", "AAA")] == [300, 500, 600, 700, 800]
    assert default_ruleset() is RS  # cached


def test_default_ruleset_file_round_trips():
    data = json.loads(DEFAULT_RULESET_PATH.read_text(encoding="utf-8"))
    assert ruleset_to_dict(RS) == data
    assert parse_ruleset(data) == RS


def test_no_records_lands_in_tier_a():
    result = score()
    assert result == ScoreResult(
        score=600,
        tier="A",
        ruleset_version="default-v1",
        factors=(Factor("BASE", "基础分", 600, ()),),
        next_tier=NextTier("AA", 100),
    )


# --- negative records -------------------------------------------------------------------


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("category", NEGATIVE_CATEGORIES)
def test_each_negative_factor_deducts_by_severity(category, severity):
    result = score([rec(category=category, severity=severity)])
    deduction = RS.deduction(category, severity)
    assert deduction > 0
    f = factor(result, f"{category}_{severity}".upper())
    assert f is not None and f.points == -deduction and f.record_ids == ("1",)
    assert f.label.endswith({"minor": "（轻微）", "general": "（一般）", "serious": "（严重）"}[severity])
    assert result.score == 600 - deduction
    assert_consistent(result)


def test_severity_order_within_each_category():
    for category in NEGATIVE_CATEGORIES:
        points = [RS.deduction(category, s) for s in SEVERITIES]
        assert points == sorted(points) and len(set(points)) == 3


def test_missing_severity_counts_as_general():
    result = score([rec(severity=None)])
    assert codes(result) == ["ADMIN_PENALTY_GENERAL", "BASE"]
    assert result.score == 600 - 40
    assert counts_until(rec(severity=None), RS) == counts_until(rec(severity="general"), RS)


def test_records_of_one_code_aggregate_in_one_factor_with_sorted_ids():
    result = score([rec("10"), rec("9"), rec("abc"), rec("2", severity="serious")])
    general = factor(result, "ADMIN_PENALTY_GENERAL")
    assert general == Factor("ADMIN_PENALTY_GENERAL", "行政处罚（一般）", -120, ("9", "10", "abc"))
    assert factor(result, "ADMIN_PENALTY_SERIOUS").points == -120
    assert result.score == 600 - 240


def test_total_deduction_is_capped_by_an_explicit_factor():
    records = [rec(str(i), "court_judgment", "serious") for i in range(3)]  # 450 > cap 400
    result = score(records)
    assert factor(result, "COURT_JUDGMENT_SERIOUS").points == -450
    assert factor(result, "NEGATIVE_CAP") == Factor("NEGATIVE_CAP", "扣分封顶调整", 50, ())
    assert result.score == 300  # 600 - 400 = 200, then clamped to min
    assert factor(result, "SCORE_BOUNDS").points == 100
    assert_consistent(result)


def test_cap_not_applied_at_exactly_the_cap():
    rs = custom(max_total_deduction=240)
    result = score([rec("1", severity="serious"), rec("2", severity="serious")], rs=rs)
    assert factor(result, "NEGATIVE_CAP") is None
    assert result.score == 360
    result = score(
        [rec("1", severity="serious"), rec("2", severity="serious"), rec("3", severity="minor")], rs=rs
    )
    assert factor(result, "NEGATIVE_CAP").points == 10 and result.score == 360


def test_score_is_clamped_to_min_with_explicit_factor():
    rs = custom(max_total_deduction=1000)
    records = [rec(str(i), "court_judgment", "serious") for i in range(3)]  # 600 - 450 = 150 < 300
    result = score(records, rs=rs)
    assert result.score == 300
    assert factor(result, "SCORE_BOUNDS") == Factor("SCORE_BOUNDS", "分数上下限调整", 150, ())
    assert result.tier == "C" and result.next_tier == NextTier("B", 200)
    assert_consistent(result, rs)


# --- positive records -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "code", "per_record", "cap"),
    [("red_list", "RED_LIST", 80, 160), ("commendation", "COMMENDATION", 20, 60)],
)
def test_positive_factor_and_its_cap(category, code, per_record, cap):
    rule = RS.bonus(category)
    assert (rule.points, rule.cap) == (per_record, cap)
    n_to_cap = cap // per_record
    for n in range(1, n_to_cap + 3):
        records = [rec(str(i), category, None) for i in range(n)]
        f = factor(score(records), code)
        assert f.points == min(cap, per_record * n)
        assert f.record_ids == tuple(str(i) for i in range(n))  # records past the cap still listed
    assert factor(score([rec(str(i), category, None) for i in range(n_to_cap + 1)]), code).points == cap


@pytest.mark.parametrize(("category", "months"), [("red_list", 36), ("commendation", 24)])
def test_positive_validity_window_boundary(category, months):
    decided = date(2022, 3, 10)
    record = rec(category=category, severity=None, decided_at=decided)
    end = date(decided.year + months // 12, 3, 9)
    assert counts_until(record, RS) == end
    assert factor(score([record], as_of=end), category.upper()) is not None
    assert factor(score([record], as_of=end - timedelta(days=1)), category.upper()) is not None
    assert factor(score([record], as_of=end + timedelta(days=1)), category.upper()) is None


def test_positive_explicit_end_shortens_but_never_extends():
    decided = date(2024, 1, 1)
    shorter = rec(category="red_list", decided_at=decided, publicity_until=date(2024, 6, 30))
    longer = rec(category="red_list", decided_at=decided, publicity_until=date(2030, 1, 1))
    assert counts_until(shorter, RS) == date(2024, 6, 30)
    assert counts_until(longer, RS) == date(2026, 12, 31)
    assert score([shorter], as_of=date(2024, 7, 1)).score == 600
    assert score([shorter], as_of=date(2024, 6, 30)).score == 680


def test_positive_without_validity_never_expires():
    rs = custom(**{"commendation.valid_months": None})
    record = rec(category="commendation", decided_at=date(2000, 1, 1))
    assert counts_until(record, rs) is None
    assert score([record], rs=rs).score == 620


def test_positive_factors_clamped_to_max():
    records = [rec(f"r{i}", "red_list") for i in range(2)] + [rec(f"c{i}", "commendation") for i in range(3)]
    volunteer = [vol(f"v{i}", 0, 24) for i in range(500)]
    result = score(records, volunteer)
    assert factor(result, "VOLUNTEER_HOURS").points == 150
    assert result.score == 950
    assert factor(result, "SCORE_BOUNDS").points == 950 - (600 + 160 + 60 + 150)
    assert result.tier == "AAA" and result.next_tier is None
    assert_consistent(result)


# --- volunteer hours --------------------------------------------------------------------


def test_volunteer_points_formula_and_floor_rounding():
    # 20 fresh hours: 150 * (1 - e^-0.2) = 27.19 -> floor 27
    assert volunteer_points(vol("a", 0, 20)) == math.floor(150 * (1 - math.exp(-0.2))) == 27
    assert volunteer_points(vol("a", 0, 10), vol("b", 0, 10)) == 27
    # 30 hours: 38.88 is floored to 38, not rounded to 39
    assert volunteer_points(vol("a", 0, 24), vol("b", 0, 6)) == 38
    f = factor(score(volunteer=[vol("a", 0, 10)]), "VOLUNTEER_HOURS")
    assert f == Factor("VOLUNTEER_HOURS", "志愿服务时长", 14, ("a",))


def test_volunteer_decay_older_hours_are_worth_less():
    fresh, month, year, two_years = (volunteer_points(vol("a", d, 20)) for d in (0, 30, 365, 730))
    assert fresh > month > year > two_years > 0
    # exactly one half-life: 20 hours a year ago weigh like 10 hours today
    assert year == volunteer_points(vol("a", 0, 10))
    assert two_years == volunteer_points(vol("a", 0, 5))


def test_volunteer_diminishing_returns():
    points = [volunteer_points(*[vol(str(i), 0, 20) for i in range(n)]) for n in range(0, 11)]
    gains = [b - a for a, b in zip(points, points[1:], strict=False)]
    assert all(g > 0 for g in gains[:5])
    assert gains[0] > gains[4] > gains[9]
    assert points[10] < 150


def test_volunteer_cap():
    many = [vol(str(i), 0, 24) for i in range(1000)]
    assert volunteer_points(*many) == 150
    rs = custom(**{"volunteer.cap": 30})
    assert volunteer_points(*many, rs=rs) == 30
    assert volunteer_points(vol("a", 0, 20), rs=rs) == math.floor(30 * (1 - math.exp(-0.2)))


def test_volunteer_hours_per_record_clamped_and_invalid_ignored():
    assert volunteer_points(vol("a", 0, 100)) == volunteer_points(vol("a", 0, 24))
    assert (
        factor(score(volunteer=[vol("a", 0, 0), vol("b", 0, -5), vol("c", 0, math.nan)]), "VOLUNTEER_HOURS")
        is None
    )


def test_volunteer_future_and_too_old_hours_ignored():
    assert factor(score(volunteer=[vol("a", -1, 10)]), "VOLUNTEER_HOURS") is None
    assert volunteer_points(vol("a", 1095, 24)) == volunteer_points(vol("b", 0, 3)) > 0  # 3 half-lives
    assert factor(score(volunteer=[vol("a", 1096, 24)]), "VOLUNTEER_HOURS") is None


def test_volunteer_small_hours_listed_with_zero_points():
    f = factor(score(volunteer=[vol("a", 0, 0.1)]), "VOLUNTEER_HOURS")
    assert f == Factor("VOLUNTEER_HOURS", "志愿服务时长", 0, ("a",))


def test_volunteer_dated_on_china_calendar():
    # 20:00 UTC on as_of is already the next day in China: not yet counted
    late = VolunteerFact("late", datetime.combine(AS_OF, time(20), UTC), 10)
    assert factor(score(volunteer=[late]), "VOLUNTEER_HOURS") is None
    # 17:00 UTC the day before is 01:00 on as_of in China: age 0, full weight
    early = VolunteerFact("early", datetime.combine(AS_OF - timedelta(days=1), time(17), UTC), 10)
    assert volunteer_points(early) == volunteer_points(vol("x", 0, 10))


# --- publicity windows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "end"),
    [("minor", date(2024, 4, 14)), ("general", date(2025, 1, 14)), ("serious", date(2027, 1, 14))],
)
def test_default_publicity_window_boundary(severity, end):
    record = rec(severity=severity, decided_at=date(2024, 1, 15))
    assert counts_until(record, RS) == end
    deduction = RS.deduction("admin_penalty", severity)
    assert score([record], as_of=end - timedelta(days=1)).score == 600 - deduction
    assert score([record], as_of=end).score == 600 - deduction
    after = score([record], as_of=end + timedelta(days=1))
    assert after.score == 600 and codes(after) == ["BASE"]


def test_window_end_clamps_day_of_month():
    record = rec(severity="minor", decided_at=date(2023, 11, 30))
    assert counts_until(record, RS) == date(2024, 2, 28)  # 2024-02-29 (clamped from 30th) minus one day


@pytest.mark.parametrize(
    ("severity", "publicity_until", "expected"),
    [
        ("general", date(2024, 2, 15), date(2024, 4, 14)),  # below 3 months: raised to the minimum
        ("general", date(2024, 8, 1), date(2024, 8, 1)),  # inside the range: kept
        ("general", date(2026, 1, 1), date(2025, 1, 14)),  # beyond 1 year: lowered to the maximum
        ("serious", date(2024, 7, 15), date(2025, 1, 14)),  # serious lasts at least 1 year
        ("serious", date(2028, 1, 1), date(2027, 1, 14)),  # and at most 3 years
        ("minor", date(2024, 2, 1), date(2024, 2, 1)),
        ("minor", date(2023, 12, 1), date(2024, 1, 15)),  # never before the decision day
        ("minor", date(2024, 12, 1), date(2024, 4, 14)),
    ],
)
def test_explicit_publicity_until_is_clamped(severity, publicity_until, expected):
    record = rec(severity=severity, decided_at=date(2024, 1, 15), publicity_until=publicity_until)
    assert counts_until(record, RS) == expected
    assert score([record], as_of=expected).score < 600
    assert score([record], as_of=expected + timedelta(days=1)).score == 600


@pytest.mark.parametrize("status", ["notified", "repaired", "revoked", "withdrawn", "exited"])
@pytest.mark.parametrize("category", NEGATIVE_CATEGORIES + BONUS_CATEGORIES + ("black_list",))
def test_inactive_records_never_count(category, status):
    result = score([rec(category=category, status=status)])
    assert result.score == 600 and result.tier == "A" and codes(result) == ["BASE"]


def test_a_corrected_record_counts_with_its_new_severity():
    assert score([rec(severity="minor", status="corrected")]).score == 600 - 10


def disputed(
    category: str = "admin_penalty", severity: str | None = "general", due_in_days: int = 5
) -> RecordFact:
    return RecordFact(
        "1",
        category,
        severity,
        AS_OF - timedelta(days=10),
        None,
        "disputed",
        AS_OF + timedelta(days=due_in_days),
    )


@pytest.mark.parametrize(
    ("category", "severity", "counts"),
    [
        ("admin_penalty", "minor", False),
        ("admin_penalty", "general", False),
        ("admin_penalty", "serious", True),
        ("court_judgment", None, False),  # no severity: general
        ("black_list", None, True),
    ],
)
def test_a_disputed_record_counts_as_the_ruleset_says(category, severity, counts):
    result = score([disputed(category, severity)])
    assert (codes(result) != ["BASE"]) is counts


def test_a_disputed_record_stops_counting_once_its_objection_is_overdue():
    assert (
        score([disputed("black_list", None, due_in_days=0)]).tier == "restricted"
    )  # due today: still counts
    assert score([disputed("black_list", None, due_in_days=-1)]).tier == "A"


def test_counting_while_disputed_is_ruleset_data():
    data = copy.deepcopy(DEFAULT)
    data["rights"]["counts_while_disputed"]["general"] = True
    assert codes(score([disputed()], rs=parse_ruleset(data))) != ["BASE"]


def test_a_ruleset_without_a_rights_section_gets_the_defaults():
    data = copy.deepcopy(DEFAULT)
    del data["rights"]
    assert parse_ruleset(data).rights == RS.rights
    assert RS.rights.objection_window_days == 10 and RS.rights.objection_due_days == 20


def test_a_bad_rights_section_is_refused_with_its_fields():
    data = copy.deepcopy(DEFAULT)
    data["rights"]["counts_while_disputed"]["minor"] = "no"
    data["rights"]["repair_after_months"]["serious"] = -1
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(data)
    assert set(caught.value.fields) == {
        "rights.counts_while_disputed.minor",
        "rights.repair_after_months.serious",
    }


@pytest.mark.parametrize("category", NEGATIVE_CATEGORIES + BONUS_CATEGORIES + ("black_list",))
def test_future_dated_records_do_not_count_until_decided(category):
    record = rec(category=category, decided_at=AS_OF + timedelta(days=1))
    assert codes(score([record])) == ["BASE"]
    assert codes(score([record], as_of=AS_OF + timedelta(days=1))) != ["BASE"]


def test_unknown_category_or_severity_is_an_error():
    with pytest.raises(ValueError, match="unknown category"):
        score([rec(category="gossip")])
    with pytest.raises(ValueError, match="unknown severity"):
        score([rec(severity="extreme", status="revoked")])


def test_as_of_must_be_a_date():
    with pytest.raises(TypeError):
        compute_score(records=[], volunteer=[], ruleset=RS, as_of=datetime(2025, 1, 1, tzinfo=UTC))


# --- black list / restricted ------------------------------------------------------------


def test_active_black_list_restricts_whatever_the_score():
    records = [rec("7", "black_list", None), rec("3", "black_list", None)]
    records += [rec(f"r{i}", "red_list") for i in range(2)] + [rec(f"c{i}", "commendation") for i in range(3)]
    result = score(records)
    assert result.tier == "restricted" and result.next_tier is None
    assert factor(result, "BLACK_LIST_ACTIVE") == Factor(
        "BLACK_LIST_ACTIVE", "失信联合惩戒名单", -100, ("3", "7")
    )
    assert result.score == 600 + 160 + 60 - 100  # one deduction, however many black-list records
    assert tier_for(result.score, RS) == "AA"  # the score alone would have been AA
    assert_consistent(result)


def test_black_list_default_window_and_explicit_end():
    decided = date(2022, 6, 15)
    record = rec(category="black_list", decided_at=decided)
    assert counts_until(record, RS) == date(2025, 6, 14)
    assert score([record], as_of=date(2025, 6, 14)).tier == "restricted"
    assert score([record], as_of=date(2025, 6, 15)).tier == "A"
    explicit = rec(category="black_list", decided_at=decided, publicity_until=date(2030, 1, 1))
    assert counts_until(explicit, RS) == date(2030, 1, 1)  # the authority's end date is kept
    assert score([explicit], as_of=date(2029, 12, 31)).tier == "restricted"
    assert score([explicit], as_of=date(2030, 1, 2)).tier == "A"


def test_black_list_without_default_stays_until_status_changes():
    rs = custom(**{"black_list.default_months": None, "black_list.deduction": 0})
    record = rec(category="black_list", decided_at=date(2000, 1, 1))
    assert counts_until(record, rs) is None
    result = score([record], rs=rs)
    assert result.tier == "restricted" and result.score == 600
    assert factor(result, "BLACK_LIST_ACTIVE").points == 0
    assert (
        score([rec(category="black_list", decided_at=date(2000, 1, 1), status="repaired")], rs=rs).tier == "A"
    )


# --- tiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "tier"),
    [
        (300, "C"),
        (499, "C"),
        (500, "B"),
        (599, "B"),
        (600, "A"),
        (699, "A"),
        (700, "AA"),
        (799, "AA"),
        (800, "AAA"),
        (950, "AAA"),
    ],
)
def test_tier_bands(points, tier):
    assert tier_for(points, RS) == tier
    assert tier_for(points, RS, restricted=True) == "restricted"


def test_tier_rank():
    assert [tier_rank(t) for t in TIERS] == [0, 1, 2, 3, 4, 5]
    assert tier_rank("restricted") < tier_rank("C") < tier_rank("AAA")
    with pytest.raises(ValueError):
        tier_rank("S")


@pytest.mark.parametrize(
    ("records", "tier", "next_tier"),
    [
        ([rec(severity="serious")], "C", NextTier("B", 20)),
        ([rec(severity="general")], "B", NextTier("A", 40)),
        ([], "A", NextTier("AA", 100)),
        ([rec("1", "red_list"), rec("2", "commendation")], "AA", NextTier("AAA", 100)),
        ([rec("1", "red_list"), rec("2", "red_list"), rec("3", "commendation")], "AA", NextTier("AAA", 20)),
        (
            [rec("1", "red_list"), rec("2", "red_list"), rec("3", "commendation"), rec("4", "commendation")],
            "AAA",
            None,
        ),
        ([rec(str(i), "court_judgment", "serious") for i in range(2)], "C", NextTier("B", 200)),
        ([rec("1", "black_list")], "restricted", None),
    ],
)
def test_next_tier(records, tier, next_tier):
    result = score(records)
    assert result.tier == tier
    assert result.next_tier == next_tier
    if next_tier is not None:
        assert tier_for(result.score + next_tier.points_needed, RS) == next_tier.tier
        assert tier_for(result.score + next_tier.points_needed - 1, RS) == tier


# --- determinism ------------------------------------------------------------------------


def test_shuffled_inputs_give_identical_results():
    kinds = [(c, s) for c in (*NEGATIVE_CATEGORIES, *BONUS_CATEGORIES) for s in SEVERITIES]
    records = [rec(str(i), c, s, AS_OF - timedelta(days=i * 7)) for i, (c, s) in enumerate(kinds)]
    volunteer = [vol(f"v{i}", i * 13 % 900, (i % 24) + 0.37) for i in range(60)]
    expected = score(records, volunteer)
    assert_consistent(expected)
    rng = random.Random(1234)
    for _ in range(20):
        rng.shuffle(records)
        rng.shuffle(volunteer)
        assert score(records, volunteer) == expected
    assert score(iter(records), iter(volunteer)) == expected  # any iterable


# --- ruleset validation -----------------------------------------------------------------


def test_ruleset_round_trip():
    for rs in (RS, custom(**{"red_list.valid_months": None, "volunteer.scale_hours": 12.5})):
        data = ruleset_to_dict(rs)
        assert parse_ruleset(data) == rs
        assert ruleset_to_dict(parse_ruleset(data)) == data
        assert json.loads(json.dumps(data)) == data
    data = ruleset_to_dict(RS)
    data["bands"]["AA"] = 1
    assert RS.bands.AA == 700  # the dict is a copy, the ruleset stays immutable
    with pytest.raises(AttributeError):
        RS.base = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"base": DELETE}, {"base": "missing"}),
        ({"bands.AAA": DELETE}, {"bands.AAA": "missing"}),
        ({"windows.minor": DELETE}, {"windows.minor": "missing"}),
        ({"deductions.arrears.serious": DELETE}, {"deductions.arrears.serious": "missing"}),
        ({"extra": 1}, {"extra": "unknown key"}),
        (
            {"bands.AA": 600},
            {
                "bands.AA": "must be greater than bands.A (bands strictly increasing)",
                "base": "must be in tier A (bands.A <= base < bands.AA)",
            },
        ),
        ({"bands.AAA": 700}, {"bands.AAA": "must be greater than bands.AA (bands strictly increasing)"}),
        ({"bands.B": 650}, {"bands.A": "must be greater than bands.B (bands strictly increasing)"}),
        ({"bands.B": 300}, {"bands.B": "must be greater than min (tier C would be empty)"}),
        ({"bands.AAA": 951}, {"bands.AAA": "must be at most max (tier AAA would be unreachable)"}),
        (
            {"base": 1000},
            {"base": "must be within [min, max]; must be in tier A (bands.A <= base < bands.AA)"},
        ),
        ({"base": 700}, {"base": "must be in tier A (bands.A <= base < bands.AA)"}),
        ({"base": 599}, {"base": "must be in tier A (bands.A <= base < bands.AA)"}),
        (
            {"min": 950},
            {
                "max": "must be greater than min",
                "base": "must be within [min, max]",
                "bands.B": "must be greater than min (tier C would be empty)",
            },
        ),
        ({"volunteer.cap": -1}, {"volunteer.cap": "must be at least 0"}),
        ({"red_list.cap": -5}, {"red_list.cap": "must be at least 0"}),
        ({"commendation.points": -1}, {"commendation.points": "must be at least 0"}),
        ({"max_total_deduction": -1}, {"max_total_deduction": "must be at least 0"}),
        ({"deductions.arrears.minor": -10}, {"deductions.arrears.minor": "must be at least 0"}),
        ({"black_list.deduction": -1}, {"black_list.deduction": "must be at least 0"}),
        (
            {"deductions.gossip": {"minor": 1, "general": 2, "serious": 3}},
            {"deductions.gossip": "unknown category"},
        ),
        (
            {"deductions.red_list": {"minor": 1, "general": 2, "serious": 3}},
            {"deductions.red_list": "not a negative category"},
        ),
        ({"deductions.arrears.extreme": 5}, {"deductions.arrears.extreme": "unknown severity"}),
        (
            {"windows.extreme": {"min_months": 1, "default_months": 1, "max_months": 1}},
            {"windows.extreme": "unknown severity"},
        ),
        ({"windows.general.min_months": 13}, {"windows.general": "min_months must not exceed max_months"}),
        (
            {"windows.serious.default_months": 48},
            {"windows.serious.default_months": "must be between min_months and max_months"},
        ),
        ({"windows.minor.default_months": 0}, {"windows.minor.default_months": "must be at least 1"}),
        ({"version": ""}, {"version": "must be a non-empty string of at most 32 characters"}),
        ({"version": "   "}, {"version": "must be a non-empty string of at most 32 characters"}),
        ({"version": "v" * 33}, {"version": "must be a non-empty string of at most 32 characters"}),
        ({"version": 2}, {"version": "must be a non-empty string of at most 32 characters"}),
        ({"version": None}, {"version": "must be a non-empty string of at most 32 characters"}),
        ({"bands": [500, 600]}, {"bands": "must be an object"}),
        ({"base": "600"}, {"base": "must be an integer"}),
        ({"base": 600.0}, {"base": "must be an integer"}),
        ({"red_list.points": True}, {"red_list.points": "must be an integer"}),
        ({"red_list.valid_months": 0}, {"red_list.valid_months": "must be at least 1"}),
        (
            {"black_list.default_months": "forever"},
            {"black_list.default_months": "must be an integer or null"},
        ),
        ({"volunteer.scale_hours": 0}, {"volunteer.scale_hours": "must be greater than 0"}),
        ({"volunteer.half_life_days": math.inf}, {"volunteer.half_life_days": "must be a number"}),
        ({"volunteer.max_age_days": -1}, {"volunteer.max_age_days": "must be at least 0"}),
    ],
)
def test_ruleset_validation_errors(changes, fields):
    with pytest.raises(RulesetError) as exc:
        parse_ruleset(mutate(changes))
    assert exc.value.fields == fields
    assert isinstance(exc.value, ValueError)
    for path in fields:
        assert path in str(exc.value)


def test_ruleset_validation_reports_every_problem_at_once():
    changes = {
        "version": "",
        "bands.AA": 650,
        "bands.AAA": 640,
        "volunteer.cap": -1,
        "windows.general.min_months": 20,
        "deductions.gossip": {},
        "red_list": DELETE,
    }
    with pytest.raises(RulesetError) as exc:
        parse_ruleset(mutate(changes))
    assert set(exc.value.fields) == {
        "version",
        "bands.AAA",
        "volunteer.cap",
        "windows.general",
        "deductions.gossip",
        "red_list",
    }


def test_ruleset_must_be_an_object():
    with pytest.raises(RulesetError) as exc:
        parse_ruleset([])  # type: ignore[arg-type]
    assert exc.value.fields == {"$": "must be an object"}


def test_version_of_32_characters_is_accepted():
    assert custom(version="v" * 32).version == "v" * 32


# --- invariants (hypothesis) ------------------------------------------------------------

TIGHT = parse_ruleset(
    {
        "version": "tight-test",
        "base": 620,
        "min": 540,
        "max": 720,
        "bands": {"B": 580, "A": 600, "AA": 660, "AAA": 700},
        "volunteer": {"cap": 40, "scale_hours": 15, "half_life_days": 30, "max_age_days": 200},
        "red_list": {"points": 30, "cap": 50, "valid_months": None},
        "commendation": {"points": 15, "cap": 20, "valid_months": 6},
        "black_list": {"deduction": 30, "default_months": None},
        "deductions": {c: {"minor": 5, "general": 25, "serious": 60} for c in NEGATIVE_CATEGORIES},
        "max_total_deduction": 90,
        "windows": DEFAULT["windows"],
    }
)

rulesets = st.sampled_from([RS, TIGHT])
days = st.dates(min_value=AS_OF - timedelta(days=1500), max_value=AS_OF + timedelta(days=30))
statuses = st.sampled_from(["active", "active", "active", "repaired", "revoked", "corrected"])
ids = st.integers(min_value=1, max_value=10**6).map(str)


def records_of(*categories: str) -> st.SearchStrategy[RecordFact]:
    return st.builds(
        RecordFact,
        id=ids,
        category=st.sampled_from(categories),
        severity=st.sampled_from((*SEVERITIES, None)),
        decided_at=days,
        publicity_until=st.none() | days,
        status=statuses,
    )


any_records = records_of(*NEGATIVE_CATEGORIES, *BONUS_CATEGORIES, "black_list")
volunteer_facts = st.builds(
    VolunteerFact,
    id=ids,
    started_at=st.datetimes(
        min_value=datetime(2021, 1, 1),
        max_value=datetime(2025, 7, 15),
        timezones=st.sampled_from([UTC, CST, timezone(timedelta(hours=-5))]),
    ),
    hours=st.floats(min_value=0.01, max_value=24),
)
histories = st.tuples(st.lists(any_records, max_size=8), st.lists(volunteer_facts, max_size=8))
HYPO = settings(max_examples=200, deadline=None, database=None)


@HYPO
@given(history=histories, rs=rulesets, data=st.data())
def test_invariants_and_order_independence(history, rs, data):
    records, volunteer = history
    result = compute_score(records=records, volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    assert_consistent(result, rs)
    shuffled = compute_score(
        records=data.draw(st.permutations(records)),
        volunteer=data.draw(st.permutations(volunteer)),
        ruleset=rs,
        as_of=AS_OF,
    )
    assert shuffled == result


@HYPO
@given(history=histories, extra=records_of(*BONUS_CATEGORIES), rs=rulesets)
def test_positive_record_never_lowers_score(history, extra, rs):
    records, volunteer = history
    before = compute_score(records=records, volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    after = compute_score(records=[*records, extra], volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    assert after.score >= before.score
    assert tier_rank(after.tier) >= tier_rank(before.tier)


@HYPO
@given(history=histories, extra=volunteer_facts, rs=rulesets)
def test_volunteer_hours_never_lower_score(history, extra, rs):
    records, volunteer = history
    before = compute_score(records=records, volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    after = compute_score(records=records, volunteer=[*volunteer, extra], ruleset=rs, as_of=AS_OF)
    assert after.score >= before.score
    assert tier_rank(after.tier) >= tier_rank(before.tier)


@HYPO
@given(history=histories, extra=records_of(*NEGATIVE_CATEGORIES), rs=rulesets)
def test_negative_record_never_raises_score(history, extra, rs):
    records, volunteer = history
    before = compute_score(records=records, volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    after = compute_score(records=[*records, extra], volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    assert after.score <= before.score
    assert tier_rank(after.tier) <= tier_rank(before.tier)


@HYPO
@given(history=histories, extra=records_of("black_list"), rs=rulesets)
def test_black_list_never_improves_tier(history, extra, rs):
    records, volunteer = history
    before = compute_score(records=records, volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    after = compute_score(records=[*records, extra], volunteer=volunteer, ruleset=rs, as_of=AS_OF)
    assert after.score <= before.score
    assert tier_rank(after.tier) <= tier_rank(before.tier)
    if extra.status == "active" and extra.decided_at <= AS_OF and (counts_until(extra, rs) or AS_OF) >= AS_OF:
        assert after.tier == "restricted"
