"""The public's question about a tour guide (/api/v1/public/tour-guides/{licence_no}): is this guide trustworthy?

No login; throttled per client address like every public route (``server.throttle``). The answer
is the licence's masked holder, its status and a standing (``good``, ``warned``, ``restricted``)
derived from the records carrying the licence within publicity (``credit.professions``), never a
record's details.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sanic import Blueprint, HTTPResponse, Request

from credit.professions import public_standing
from server.errors import ValidationFailed
from server.http import json
from server.openapi import documented

bp = Blueprint("public_tour_guides", url_prefix="/api/v1/public")

LICENCE_PATTERN = r"^[A-Za-z0-9-]{1,64}$"


class TourGuideOut(BaseModel):
    licence_no: str
    name_masked: str | None = Field(description="the holder's name masked: 张三 → 张*")
    licence_status: Literal["valid", "suspended", "revoked"]
    standing: Literal["good", "warned", "restricted"] = Field(
        description=(
            "from the records carrying this licence within their publicity: restricted (a serious or a "
            "black-list record), warned (a minor or general one), good (none)"
        )
    )
    as_of: datetime


@bp.get("/tour-guides/<licence_no:str>")
@documented(
    "导游信用: a tour guide's standing by licence number (no login, no record details)",
    path={
        "licence_no": {
            "type": "string",
            "pattern": LICENCE_PATTERN,
            "description": "the guide's licence number",
        }
    },
    answers={200: TourGuideOut},
    errors={
        404: "NOT_FOUND: no such licence",
        422: "VALIDATION_ERROR: not a licence number",
        429: "TOO_MANY_REQUESTS",
    },
)
async def tour_guide(request: Request, licence_no: str) -> HTTPResponse:
    if not re.fullmatch(LICENCE_PATTERN, licence_no):
        raise ValidationFailed({"licence_no": "must be 1–64 of A-Z a-z 0-9 -"})
    ctx = request.app.ctx
    return json(
        await public_standing(licence_no, cipher=ctx.cipher, now=ctx.clock()),
        headers={"Cache-Control": "public, max-age=60"},
    )
