"""What the public routes and pages call: the domains' public views, through the short cache."""

from __future__ import annotations

from typing import Any, cast

from sanic import Request

from coupons import service as coupons
from public_api.cache import cache_key, cached_json
from public_api.schemas import PublicBenefitsQuery, PublicListQuery
from rights import publicity
from rights.publicity import ListKind

__all__ = ["ListKind", "benefits_json", "list_page", "list_page_json"]


async def list_page_json(request: Request, kind: ListKind, query: PublicListQuery) -> bytes:
    """One page of a list as JSON bytes, cached under the lists' version (an exit shows at once)."""
    version = await publicity.list_version()
    key = cache_key("list", kind, version, query.region, query.limit, query.cursor)

    async def produce() -> dict[str, Any]:
        return await publicity.public_page(
            kind, region=query.region, limit=query.limit, cursor=query.cursor, cipher=request.app.ctx.cipher
        )

    return await cached_json(request, key, produce)


async def list_page(request: Request, kind: ListKind, query: PublicListQuery) -> dict[str, Any]:
    """The same page as a dict (the HTML pages render it)."""
    import orjson

    return cast(dict[str, Any], orjson.loads(await list_page_json(request, kind, query)))


async def benefits_json(request: Request, query: PublicBenefitsQuery) -> bytes:
    """The benefit catalogue (coupons' own, without ``eligible``: no one is logged in), cached briefly."""
    key = cache_key("benefits", query.region, query.scenario, query.limit, query.cursor)

    async def produce() -> dict[str, Any]:
        items, next_cursor = await coupons.benefit_catalogue(
            scenario=query.scenario,
            region=query.region,
            merchant_id=None,
            now=request.app.ctx.clock(),
            limit=query.limit,
            cursor=query.cursor,
        )
        return {"items": items, "next_cursor": next_cursor}

    return await cached_json(request, key, produce)
