"""The pass keys' public side: ``/.well-known/jwks.json``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from passes.keys import report_keys
from passes.schemas import JwksOut
from passes.service import pass_runtime
from passes.tokens import jwks as jwk_set
from server.http import json
from server.openapi import documented

bp = Blueprint("passes")


@bp.get("/.well-known/jwks.json")
@documented(
    "Public keys of the pass tokens and of partners' credit reports (JWK Set, Ed25519, with kid); "
    "retired keys stay until their passes (reports) expired",
    answers={200: JwksOut},
    errors={
        429: "TOO_MANY_REQUESTS: public pages are rate-limited per client address; wait `Retry-After` seconds"
    },
)
async def jwks(request: Request) -> HTTPResponse:
    keys = await pass_runtime(request.app).keys.published()
    keys += await report_keys(request.app.ctx.cipher, now=request.app.ctx.clock())
    return json(jwk_set(keys), headers={"Cache-Control": "public, max-age=60"})
