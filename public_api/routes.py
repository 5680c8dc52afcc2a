"""The public's JSON routes (/api/v1/public): the red and black lists and the benefit catalogue.

No login; every request counts against its client address (``server.throttle``, PUBLIC_REQUESTS_PER_ADDRESS),
and answers are cached briefly (``public_api.cache``).
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, HTTPResponse, Request

from public_api import service
from public_api.cache import conditional
from public_api.schemas import PublicBenefitPage, PublicBenefitsQuery, PublicListPage, PublicListQuery
from server.http import parse_query
from server.openapi import Answer, documented

bp = Blueprint("public_lists", url_prefix="/api/v1/public")

_CACHING = (
    "Anyone may read it, without logging in; each client address is held to its own pace "
    "(429 with `Retry-After` beyond it). Answers carry an `ETag` (send it back in `If-None-Match`: 304 "
    "when nothing changed) and may be up to 30 seconds old, except that an entry leaving a list "
    "disappears at once."
)
_LIST_TEXT = (
    "Entries in state `active` only, newest first; names masked (the first character, then one `*` "
    "for each other character: 张三 → 张*), never an ID number. `?region=` rolls up by GB/T 2260 prefix. "
)


_CACHE_HEADERS = {"ETag": {"type": "string"}, "Cache-Control": {"type": "string"}}


def _list_answer(text: str) -> dict[int, Any]:
    return {
        200: Answer(PublicListPage, text, headers=_CACHE_HEADERS),
        304: Answer(None, "unchanged since the ETag sent"),
    }


@bp.get("/red-list")
@documented(
    "守信红名单: the red list as published",
    description=_LIST_TEXT + _CACHING,
    query=PublicListQuery,
    answers=_list_answer("one page of the red list"),
    errors={429: "TOO_MANY_REQUESTS"},
)
async def red_list(request: Request) -> HTTPResponse:
    return await _list(request, "red")


@bp.get("/black-list")
@documented(
    "失信黑名单: the black list as published",
    description=_LIST_TEXT + _CACHING,
    query=PublicListQuery,
    answers=_list_answer("one page of the black list"),
    errors={429: "TOO_MANY_REQUESTS"},
)
async def black_list(request: Request) -> HTTPResponse:
    return await _list(request, "black")


async def _list(request: Request, kind: service.ListKind) -> HTTPResponse:
    query = parse_query(request, PublicListQuery)
    body = await service.list_page_json(request, kind, query)
    return conditional(request, body, content_type="application/json")


@bp.get("/benefits")
@documented(
    "The benefit catalogue: active offers by merchant, filtered by region and scenario",
    description="What residents with a good enough tier may get, and where. " + _CACHING,
    query=PublicBenefitsQuery,
    answers={
        200: Answer(PublicBenefitPage, "one page of the catalogue", headers=_CACHE_HEADERS),
        304: Answer(None, "unchanged since the ETag sent"),
    },
    errors={429: "TOO_MANY_REQUESTS"},
)
async def benefits(request: Request) -> HTTPResponse:
    query = parse_query(request, PublicBenefitsQuery)
    body = await service.benefits_json(request, query)
    return conditional(request, body, content_type="application/json")
