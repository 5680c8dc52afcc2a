"""Request and answer shapes of the regulators' statistics (``GET /api/v1/admin/stats``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DIMENSIONS = ("scenario", "region", "merchant", "offer", "day", "tier")
_DIM = "(scenario|region|merchant|offer|day|tier)"


class StatsQuery(BaseModel):
    """The window, the dimensions of a cell, a region filter and the answer's format."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date | None = Field(
        default=None,
        alias="from",
        description="first business day (YYYY-MM-DD, China Standard Time); default: 29 days before `to`",
    )
    to: date | None = Field(default=None, description="last business day, inclusive; default: today")
    group_by: str | None = Field(
        default=None,
        pattern=rf"^{_DIM}(,{_DIM})*$",
        description="the dimensions of a cell, a comma list and/or repeated: scenario, region, merchant, offer, "
        "day, tier; none: one cell for everything",
    )
    region: str | None = Field(
        default=None,
        pattern=r"^\d{2}(\d{2}(\d{2})?)?$",
        description="only stores in this region: a GB/T 2260 prefix (53 province, 5329 prefecture, 532901 county); "
        "a 6-digit code with trailing zeros is its prefix (532900 = 5329)",
    )
    region_level: Literal["province", "prefecture", "county"] = Field(
        default="prefecture", description="what `group_by=region` rolls up to (default: prefecture)"
    )
    format: Literal["json", "csv"] = Field(default="json", description="csv: a spreadsheet (UTF-8 with BOM)")


class StatsCell(BaseModel):
    """One cell: its key (the dimensions' values and readable labels) and its figures, null when suppressed."""

    key: dict[str, str | None]
    scans_accepted: int | None
    scans_refused: int | None
    redemptions: int | None
    residents: int | None
    discount_fen: int | None
    deposit_waived_fen: int | None
    suppressed: bool


class StatsTotals(BaseModel):
    """The sums over the unsuppressed cells only (``residents``: distinct over their union)."""

    scans_accepted: int
    scans_refused: int
    redemptions: int
    residents: int
    discount_fen: int
    deposit_waived_fen: int
    cells: int
    suppressed_cells: int


class StatsOut(BaseModel):
    from_: date = Field(alias="from")
    to: date
    group_by: list[str]
    region: str | None
    region_level: Literal["province", "prefecture", "county"]
    items: list[StatsCell]
    totals: StatsTotals
    min_cell: int
