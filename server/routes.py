"""Operational routes: liveness, readiness."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from server.database import database_ready
from server.http import json

bp = Blueprint("ops")


@bp.get("/healthz")
@openapi.summary("Liveness: the process answers")
async def healthz(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@bp.get("/readyz")
@openapi.summary("Readiness: the database and Redis answer (503 otherwise)")
async def readyz(request: Request) -> HTTPResponse:
    db_ok = await database_ready()
    try:
        redis_ok = bool(await asyncio.wait_for(request.app.ctx.redis.ping(), timeout=2.0))
    except Exception:  # noqa: BLE001
        redis_ok = False
    ok = db_ok and redis_ok
    body = {"status": "ok" if ok else "unavailable", "database": db_ok, "redis": redis_ok}
    return json(body, status=200 if ok else 503)
