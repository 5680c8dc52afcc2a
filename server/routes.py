"""Operational routes: liveness, readiness."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from server.database import database_ready
from server.http import json
from server.openapi import Answer, documented

bp = Blueprint("ops")


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "unavailable"]
    database: bool
    redis: bool


@bp.get("/healthz")
@documented("Liveness: the process answers", answers={200: HealthOut}, backing_services=False, tag="ops")
async def healthz(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@bp.get("/readyz")
@documented(
    "Readiness: the database and Redis answer (503 otherwise)",
    answers={
        200: Answer(ReadyOut, "both answer"),
        503: Answer(ReadyOut, "the database or Redis does not answer", headers={}),
    },
    backing_services=False,
    tag="ops",
)
async def readyz(request: Request) -> HTTPResponse:
    db_ok = await database_ready()
    try:
        redis_ok = bool(await asyncio.wait_for(request.app.ctx.redis.ping(), timeout=2.0))
    except Exception:  # noqa: BLE001
        redis_ok = False
    ok = db_ok and redis_ok
    body = {"status": "ok" if ok else "unavailable", "database": db_ok, "redis": redis_ok}
    return json(body, status=200 if ok else 503)
