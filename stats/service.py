"""The regulators' statistics: cells grouped from the daily rollup, with small-cell suppression, as JSON or CSV.

Suppression: a cell counting fewer distinct residents than ``STATS_MIN_CELL`` shows no figures
(``"suppressed": true``). The totals are computed over the unsuppressed cells only (their
``residents`` is the distinct count over the union of those cells' residents), never over
everything, so no suppressed cell can be recovered by subtracting the shown cells from the
totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from pyroaring import BitMap

from coupons.models import Offer
from credit.scoring import LOCAL_TZ
from merchants.models import Merchant
from merchants.vocabulary import YUNNAN_PREFECTURES
from server.errors import ValidationFailed
from server.sql import as_date, as_uuid, raw_connection
from stats import rollup
from stats.rollup import Figures
from stats.schemas import DIMENSIONS

MAX_DAYS = 366
DEFAULT_DAYS = 30
REGION_LEVELS = {"province": 2, "prefecture": 4, "county": 6}
SCENARIO_LABELS = {
    "travel": "信易游",
    "transport": "信易行",
    "rental": "信易租",
    "approval": "信易批",
    "loan": "信易贷",
}
PROVINCE_NAMES = {"530000": "云南省"}
FIGURES = (
    "scans_accepted",
    "scans_refused",
    "redemptions",
    "residents",
    "discount_fen",
    "deposit_waived_fen",
)


@dataclass(frozen=True)
class StatsRequest:
    """What a regulator asked: the days (inclusive), the dimensions, a region prefix and the region level."""

    first: date
    last: date
    group_by: tuple[str, ...]
    region: str | None
    region_level: str


def parse_group_by(values: Iterable[str]) -> tuple[str, ...]:
    """``group_by`` values, each a comma list: the known dimensions in the order given, once each; 422 otherwise."""
    found: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name not in DIMENSIONS:
                raise ValidationFailed(
                    {
                        "group_by": f"unknown dimension {name!r}: use {', '.join(DIMENSIONS)} (comma list or repeated)"
                    }
                )
            if name not in found:
                found.append(name)
    return tuple(found)


def region_prefix(code: str | None) -> str | None:
    """A region filter as a prefix: ``532900`` → ``5329``, ``530000`` → ``53``, ``532901`` as it is."""
    if code is None:
        return None
    if not code.isdigit() or len(code) not in (2, 4, 6):
        raise ValidationFailed({"region": "a GB/T 2260 code or prefix: 2, 4 or 6 digits"})
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def stats_request(
    *,
    from_: date | None,
    to: date | None,
    group_by: Iterable[str],
    region: str | None,
    region_level: str,
    now: datetime,
) -> StatsRequest:
    """Check a request: known dimensions, ``from`` ≤ ``to``, at most ``MAX_DAYS`` days."""
    dims = parse_group_by(group_by)
    last = to or (from_ + timedelta(days=DEFAULT_DAYS - 1) if from_ else now.astimezone(LOCAL_TZ).date())
    first = from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed({"to": "must not be before from"})
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationFailed({"from": f"the window is at most {MAX_DAYS} days"})
    if region_level not in REGION_LEVELS:
        raise ValidationFailed({"region_level": "province, prefecture or county"})
    return StatsRequest(first, last, dims, region_prefix(region), region_level)


# --- reading the rollup ---------------------------------------------------------------------

Key = tuple[Any, ...]


def _key_columns(request: StatsRequest) -> list[str]:
    level = REGION_LEVELS[request.region_level]
    columns = {
        "scenario": "scenario",
        "region": f"substr(region, 1, {level})",
        "merchant": "merchant_id",
        "offer": "offer_id",
        "day": "day",
        "tier": "tier",
    }
    return [columns[d] for d in request.group_by]


def uses_region_rollup(group_by: Sequence[str]) -> bool:
    """Whether the per-region rollup answers: no dimension other than region and day."""
    return set(group_by) <= {"region", "day"}


def region_rollup_level(request: StatsRequest) -> int:
    """The level of per-region rows to read: the query's own (no sets to unite), or finer when the filter is."""
    wanted = REGION_LEVELS[request.region_level] if "region" in request.group_by else 2
    return max(wanted, len(request.region or ""))


async def _read_cells(request: StatsRequest) -> dict[Key, Figures]:
    """The figures of each cell, from the per-region rollup when it can answer, else the per-store one."""
    keys = _key_columns(request)
    async with raw_connection() as conn:
        args: list[Any] = [
            request.first.isoformat() if conn.sqlite else request.first,
            request.last.isoformat() if conn.sqlite else request.last,
        ]
        where = "day >= $1 AND day <= $2"
        if uses_region_rollup(request.group_by):
            table = "stats_daily_regions"
            args.append(region_rollup_level(request))
            where += f" AND level = ${len(args)}"
        else:
            table = "stats_daily"
        if request.region:
            args.append(request.region + "%")
            where += f" AND region LIKE ${len(args)}"
        selected = [f"{k} AS k{i}" for i, k in enumerate(keys)]
        # In the order of the answer: by each dimension, nulls (scans' offer and scenario) last.
        order = f" ORDER BY {', '.join(f'{i + 1} NULLS LAST' for i in range(len(keys)))}" if keys else ""
        if conn.sqlite:  # no arrays: the rows as they are, grouped below
            sums = ", ".join(f"{f} AS {f}" for f in FIGURES if f != "residents")
            sql = f"SELECT {', '.join([*selected, sums])}, residents FROM {table} WHERE {where}{order}"
        else:  # grouped here, the sets of residents of a cell come as one array
            sums = ", ".join(f"sum({f}) AS {f}" for f in FIGURES if f != "residents")
            group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
            sql = (
                f"SELECT {', '.join([*selected, sums])}, array_agg(residents) AS residents "
                f"FROM {table} WHERE {where}{group}{order}"
            )
        rows = await conn.fetch_tuples(sql, *args)
    cells: dict[Key, Figures] = {}
    n = len(keys)
    for row in rows:
        key = tuple(_key_value(d, v) for d, v in zip(request.group_by, row[:n], strict=True))
        if row[-1] is None:  # PostgreSQL's one row of an aggregate over no rows
            continue
        residents = _residents(row[-1])
        figures = Figures(
            scans_accepted=int(row[n] or 0),
            scans_refused=int(row[n + 1] or 0),
            redemptions=int(row[n + 2] or 0),
            discount_fen=int(row[n + 3] or 0),
            deposit_waived_fen=int(row[n + 4] or 0),
            residents=residents,
        )
        found = cells.get(key)
        if found is None:
            cells[key] = figures
        else:
            found.add(figures)
    return cells


def _residents(value: bytes | list[bytes]) -> BitMap:
    """A row's set (SQLite) or the union of a group's sets (PostgreSQL's array)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return BitMap.deserialize(bytes(value))
    if len(value) == 1:
        return BitMap.deserialize(value[0])
    return BitMap.union(*(BitMap.deserialize(s) for s in value))


def _key_value(dimension: str, value: Any) -> Any:
    if dimension in ("merchant", "offer"):
        return as_uuid(value)
    if dimension == "day":
        return as_date(value)
    return value


# --- rendering ------------------------------------------------------------------------------


def region_code(prefix: str) -> str:
    return prefix.ljust(6, "0")


def region_name(code: str) -> str | None:
    return PROVINCE_NAMES.get(code) or YUNNAN_PREFECTURES.get(code)


async def _labels(request: StatsRequest, cells: Iterable[Key]) -> tuple[dict[UUID, str], dict[UUID, str]]:
    merchant_ids: set[UUID] = set()
    offer_ids: set[UUID] = set()
    dims = request.group_by
    for key in cells:
        for dim, value in zip(dims, key, strict=True):
            if value is not None and dim == "merchant":
                merchant_ids.add(value)
            elif value is not None and dim == "offer":
                offer_ids.add(value)
    merchants = (
        dict(await Merchant.filter(id__in=list(merchant_ids)).values_list("id", "name"))
        if merchant_ids
        else {}
    )
    offers = dict(await Offer.filter(id__in=list(offer_ids)).values_list("id", "label")) if offer_ids else {}
    return merchants, offers


def _render_key(
    request: StatsRequest, key: Key, merchants: dict[UUID, str], offers: dict[UUID, str]
) -> dict[str, str | None]:
    rendered: dict[str, str | None] = {}
    for dim, value in zip(request.group_by, key, strict=True):
        if dim == "region":
            code = region_code(value) if value else None
            rendered["region"] = code
            rendered["region_name"] = region_name(code) if code else None
        elif dim == "merchant":
            rendered["merchant"] = str(value) if value else None
            rendered["merchant_name"] = merchants.get(value) if value else None
        elif dim == "offer":  # scans have no offer: their cell's offer is null
            rendered["offer"] = str(value) if value else None
            rendered["offer_label"] = offers.get(value) if value else None
        elif dim == "scenario":
            rendered["scenario"] = value
            rendered["scenario_label"] = SCENARIO_LABELS.get(value) if value else None
        elif dim == "day":
            rendered["day"] = value.isoformat() if value else None
        else:
            rendered["tier"] = value
    return rendered


async def statistics(request: StatsRequest, *, min_cell: int) -> dict[str, Any]:
    """The cells of the request from the rollup, brought up to date with the ledger first."""
    await rollup.refresh()
    cells = await _read_cells(request)
    merchants, offers = await _labels(request, cells)
    items: list[dict[str, Any]] = []
    shown = Figures()
    shown_sets: list[BitMap] = []  # united once at the end (many-way union: one pass)
    suppressed_cells = 0
    for key in cells:  # in the order read (the dimensions', nulls last)
        figures = cells[key]
        residents = len(figures.residents)
        suppressed = residents < min_cell
        item: dict[str, Any] = {"key": _render_key(request, key, merchants, offers)}
        if suppressed:
            suppressed_cells += 1
            item.update(dict.fromkeys(FIGURES))
        else:
            shown.add(Figures(**{f: getattr(figures, f) for f in FIGURES if f != "residents"}))
            shown_sets.append(figures.residents)
            item.update(
                scans_accepted=figures.scans_accepted,
                scans_refused=figures.scans_refused,
                redemptions=figures.redemptions,
                residents=residents,
                discount_fen=figures.discount_fen,
                deposit_waived_fen=figures.deposit_waived_fen,
            )
        item["suppressed"] = suppressed
        items.append(item)
    return {
        "from": request.first,
        "to": request.last,
        "group_by": list(request.group_by),
        "region": request.region,
        "region_level": request.region_level,
        "items": items,
        "totals": {
            "scans_accepted": shown.scans_accepted,
            "scans_refused": shown.scans_refused,
            "redemptions": shown.redemptions,
            "residents": len(BitMap.union(*shown_sets)) if shown_sets else 0,
            "discount_fen": shown.discount_fen,
            "deposit_waived_fen": shown.deposit_waived_fen,
            "cells": len(items),
            "suppressed_cells": suppressed_cells,
        },
        "min_cell": min_cell,
    }


# --- CSV ------------------------------------------------------------------------------------

KEY_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "day": (("day", "日期"),),
    "region": (("region", "地区代码"), ("region_name", "地区")),
    "merchant": (("merchant", "商户编号"), ("merchant_name", "商户")),
    "offer": (("offer", "优惠编号"), ("offer_label", "优惠")),
    "scenario": (("scenario", "场景代码"), ("scenario_label", "场景")),
    "tier": (("tier", "信用等级"),),
}
FIGURE_COLUMNS = (
    ("scans_accepted", "受理扫码数"),
    ("scans_refused", "拒绝扫码数"),
    ("redemptions", "核销笔数"),
    ("residents", "居民人数"),
    ("discount_fen", "优惠金额(分)"),
    ("deposit_waived_fen", "免押金额(分)"),
)
SUPPRESSED_COLUMN = "是否抑制"


def csv_table(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The header and one row per cell; a suppressed cell has empty figures and 是 under 是否抑制."""
    key_columns = [column for dim in result["group_by"] for column in KEY_COLUMNS[dim]]
    header = (
        [label for _, label in key_columns] + [label for _, label in FIGURE_COLUMNS] + [SUPPRESSED_COLUMN]
    )
    rows = [
        [item["key"].get(name) for name, _ in key_columns]
        + [item[name] for name, _ in FIGURE_COLUMNS]
        + [item["suppressed"]]
        for item in result["items"]
    ]
    return header, rows


def csv_filename(result: dict[str, Any]) -> str:
    return f"stats-{result['from'].isoformat()}-{result['to'].isoformat()}.csv"
