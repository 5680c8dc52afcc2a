"""Pilots (政策试点): a scenario tried in chosen regions first, offered only at stores inside them.

``PUT /admin/pilots/{scenario}`` names the regions (GB/T 2260 codes; a code with trailing zeros
rolls up: ``530000`` the province, ``532900`` 大理州, ``532901`` one county). While a scenario is
in pilot, its offers are listed (benefits, the scan), claimed and redeemed only at stores whose
region lies inside one of them, and an offer with stores outside is refused at approval.
A scenario with no pilot is offered everywhere.

The checks are one SQL fragment (``pilot_allows_sql``) inside the queries that already list or
redeem offers, on a table of a few rows with an index on the scenario: the scan reads it only
when its per-worker cache of the store's offers misses (cleared when a pilot changes), so the
scan's hot path pays nothing for it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from coupons.exceptions import OfferOutsidePilot, PilotNotFound
from coupons.models import Offer, PilotRegion
from merchants.models import Store
from merchants.vocabulary import region_problem
from server.errors import ValidationFailed

PILOTS = PilotRegion._meta.db_table


def region_prefix(code: str) -> str:
    """What a region code covers, as a prefix of store regions: ``530000`` → ``53``, ``532900`` → ``5329``."""
    prefix = code
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def prefix_problem(code: object) -> str | None:
    """Why ``code`` is not a region to filter or pilot by (a 6-digit code, or its 2- or 4-digit prefix), or None."""
    if isinstance(code, str) and len(code) in (2, 4) and code.isdigit():
        code = code + "0" * (6 - len(code))
    return region_problem(code)


def pilot_allows_sql(scenario: str, region: str) -> str:
    """SQL: true when an offer of ``scenario`` may apply at a store of ``region`` (both SQL expressions)."""
    return (
        f"(NOT EXISTS (SELECT 1 FROM {PILOTS} p WHERE p.scenario = {scenario}) "
        f"OR EXISTS (SELECT 1 FROM {PILOTS} p WHERE p.scenario = {scenario} "
        f"AND substr({region}, 1, length(p.prefix)) = p.prefix))"
    )


def _pilot_out(scenario: str, rows: list[PilotRegion]) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "regions": sorted(r.code for r in rows),
        "started_at": min(r.started_at for r in rows),
        "updated_at": max(r.updated_at for r in rows),
    }


async def set_pilot(scenario: str, regions: list[str], *, admin_id: uuid.UUID | None, now: datetime) -> dict:
    """Put ``scenario`` in pilot in exactly these regions (replacing the regions of a running pilot)."""
    codes = sorted(set(regions))
    problems = {f"regions[{i}]": why for i, code in enumerate(regions) if (why := region_problem(code))}
    if problems:
        raise ValidationFailed(problems)
    if not codes:
        raise ValidationFailed({"regions": "name at least one region (DELETE ends the pilot)"})
    async with in_transaction() as conn:
        earlier = await PilotRegion.filter(scenario=scenario).using_db(conn).select_for_update()
        started_at = min((r.started_at for r in earlier), default=now)
        await PilotRegion.filter(scenario=scenario).using_db(conn).delete()
        await PilotRegion.bulk_create(
            [
                PilotRegion(
                    scenario=scenario,
                    code=code,
                    prefix=region_prefix(code),
                    started_at=started_at,
                    updated_at=now,
                    started_by_id=admin_id,
                )
                for code in codes
            ],
            using_db=conn,
        )
        rows = await PilotRegion.filter(scenario=scenario).using_db(conn)
    return _pilot_out(scenario, rows)


async def end_pilot(scenario: str) -> None:
    """The scenario is offered everywhere again."""
    if not await PilotRegion.filter(scenario=scenario).delete():
        raise PilotNotFound()


async def list_pilots() -> dict[str, Any]:
    rows = await PilotRegion.all().order_by("scenario", "code")
    by_scenario: dict[str, list[PilotRegion]] = {}
    for r in rows:
        by_scenario.setdefault(r.scenario, []).append(r)
    return {"items": [_pilot_out(s, rs) for s, rs in by_scenario.items()]}


async def pilot_prefixes(scenario: str, *, using_db: Any = None) -> list[str] | None:
    """The prefixes of ``scenario``'s pilot, or None when it is not in pilot (offered everywhere)."""
    rows = await PilotRegion.filter(scenario=scenario).using_db(using_db).only("prefix")
    return [r.prefix for r in rows] or None


async def offer_stores(offer: Offer, *, using_db: Any = None) -> list[Store]:
    """The stores an offer applies at: its own, or every store of the merchant for an ``all_stores`` offer."""
    if offer.all_stores:
        return await Store.filter(merchant_id=offer.merchant_id).using_db(using_db).order_by("created_at")
    return await offer.stores.all().using_db(using_db).order_by("created_at")


def _inside(region: str, prefixes: list[str]) -> bool:
    return any(region.startswith(p) for p in prefixes)


async def refuse_outside_pilot(offer: Offer, *, using_db: Any = None) -> None:
    """At approval: 409 ``OFFER_OUTSIDE_PILOT`` naming the offer's stores outside its scenario's pilot."""
    prefixes = await pilot_prefixes(offer.scenario, using_db=using_db)
    if prefixes is None:
        return
    outside = [s for s in await offer_stores(offer, using_db=using_db) if not _inside(s.region, prefixes)]
    if outside:
        names = "、".join(f"{s.name} ({s.region})" for s in outside)
        raise OfferOutsidePilot(
            f"The scenario {offer.scenario!r} is in pilot in {', '.join(sorted(prefixes))}…; "
            f"these stores of the offer lie outside: {names}. Limit the offer to stores inside the pilot.",
            stores=[{"id": str(s.id), "name": s.name, "region": s.region} for s in outside],
            pilot_regions=sorted(
                await PilotRegion.filter(scenario=offer.scenario)
                .using_db(using_db)
                .values_list("code", flat=True)
            ),
        )


async def offered_in_pilot(offer: Offer) -> bool:
    """Whether the offer applies at one store at least inside its scenario's pilot (always, with no pilot)."""
    prefixes = await pilot_prefixes(offer.scenario)
    if prefixes is None:
        return True
    return any(_inside(s.region, prefixes) for s in await offer_stores(offer))
