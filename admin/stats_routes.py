"""Regulator statistics routes (/api/v1/admin): scans, redemptions, residents and money by cell, JSON or CSV."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from admin.service import current_admin
from server.auth import Audience
from server.http import authenticated, json, parse_query
from server.openapi import documented
from server.spreadsheet import also_csv, csv_response
from stats import service as stats
from stats.schemas import StatsOut, StatsQuery

bp = Blueprint("admin_stats", url_prefix="/api/v1/admin")
admin_only = authenticated(Audience.ADMIN)


@bp.get("/stats")
@also_csv
@documented(
    "Statistics by cell: scans, redemptions, distinct residents, discount and deposit waived (JSON or CSV)",
    description=(
        "Cells are grouped by `group_by` (scenario, region, merchant, offer, day, tier; a comma list and/or "
        "repeated) over business days `from`..`to` (China Standard Time, inclusive, at most 366 days). "
        "`region` keeps the stores whose GB/T 2260 code starts with the prefix (53, 5329, 532901; 532900 = "
        "5329); `group_by=region` rolls the stores' codes up to `region_level` (default **prefecture**: "
        "532901 → 532900). Scans have no offer and no scenario: grouped by offer or scenario, they fall in "
        "the cell whose offer/scenario is null. `redemptions`, `discount_fen` and `deposit_waived_fen` count "
        "completed redemptions (a reversal takes them back out); `residents` counts distinct residents "
        "(scanned or redeemed). The figures are those of the ledger at the moment of the answer.\n\n"
        "Small cells: a cell with fewer distinct residents than `min_cell` (`STATS_MIN_CELL`, default 10) "
        "shows null figures and `suppressed: true`. **`totals` are computed over the unsuppressed cells "
        "only** (their `residents` is distinct over those cells' union), so a suppressed cell cannot be "
        "recovered by subtracting the shown cells from the totals.\n\n"
        "`format=csv`: `text/csv; charset=utf-8` with a BOM, a header row of Chinese labels and one row per "
        "cell; a suppressed cell has empty figures and 是 under 是否抑制."
    ),
    query=StatsQuery,
    answers={200: StatsOut},
    errors={422: "VALIDATION_ERROR: an unknown dimension, `from` after `to`, more than 366 days"},
)
@admin_only
async def statistics(request: Request) -> HTTPResponse:
    await current_admin(request.ctx.principal)
    query = parse_query(request, StatsQuery)
    asked = stats.stats_request(
        from_=query.from_,
        to=query.to,
        group_by=request.args.getlist("group_by", []),
        region=query.region,
        region_level=query.region_level,
        now=request.app.ctx.clock(),
    )
    result = await stats.statistics(asked, min_cell=request.app.ctx.settings.stats_min_cell)
    if query.format == "csv":
        header, rows = stats.csv_table(result)
        return csv_response(header, rows, filename=stats.csv_filename(result))
    return json(result)
