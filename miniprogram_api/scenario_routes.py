"""Resident routes of the partner scenarios (/api/v1/mp): my 信易批 commitments, the credit reports issued
about me (信易贷), and my key-profession licences with their records (tour guides)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sanic import Blueprint, HTTPResponse, Request

from commitments import service as commitments
from credit.professions import my_professions
from partners import scenarios
from partners.scenario_schemas import CommitmentListOut, MyReportListOut
from partners.schemas import PageQuery
from residents import service as residents
from server.auth import Audience
from server.http import authenticated, json, parse_query
from server.openapi import documented

bp = Blueprint("mp_scenarios", url_prefix="/api/v1/mp")
resident_only = authenticated(Audience.RESIDENT)


class ProfessionRecordOut(BaseModel):
    id: str
    category: str
    severity: str | None
    title: str
    source: str
    decided_at: Any
    publicity_until: Any
    status: str
    counts_now: bool = Field(description="whether it counts towards the public standing today")


class ProfessionOut(BaseModel):
    profession: str
    licence_no: str
    licence_status: str
    standing: str = Field(description="what the public sees: good | warned | restricted")
    as_of: datetime
    records: list[ProfessionRecordOut]
    objection: dict[str, str] = Field(description="how to object to a record, or ask for its repair")


class ProfessionListOut(BaseModel):
    items: list[ProfessionOut]


@bp.get("/commitments")
@documented(
    "My 信易批 commitments: matters accepted on my credit commitment, what is missing and by when",
    query=PageQuery,
    answers={200: CommitmentListOut},
    errors={403: "CONSENT_REQUIRED"},
)
@resident_only
async def my_commitments(request: Request) -> HTTPResponse:
    query = parse_query(request, PageQuery)
    resident = await residents.current_resident(request.ctx.principal, need_consent=True)
    return json(await commitments.resident_commitments(resident.id, limit=query.limit, cursor=query.cursor))


@bp.get("/reports")
@documented(
    "Credit reports issued about me (信易贷): to whom, why, when, until when, and what they said",
    query=PageQuery,
    answers={200: MyReportListOut},
)
@resident_only
async def my_reports(request: Request) -> HTTPResponse:
    query = parse_query(request, PageQuery)
    resident = await residents.current_resident(request.ctx.principal)
    return json(
        await scenarios.resident_reports(
            resident.id, limit=query.limit, cursor=query.cursor, now=request.app.ctx.clock()
        )
    )


@bp.get("/professions")
@documented(
    "My key-profession licences (tour guide): the public standing, every record behind it and how to object",
    answers={200: ProfessionListOut},
    errors={403: "CONSENT_REQUIRED"},
)
@resident_only
async def professions(request: Request) -> HTTPResponse:
    resident = await residents.current_resident(request.ctx.principal, need_consent=True)
    return json(await my_professions(resident.id, now=request.app.ctx.clock()))
