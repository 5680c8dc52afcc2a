"""The pass keys' public side: ``/.well-known/jwks.json``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from passes.schemas import JwksOut
from passes.service import pass_runtime
from passes.tokens import jwks as jwk_set
from server.http import json
from server.openapi import documented

bp = Blueprint("passes")


@bp.get("/.well-known/jwks.json")
@documented(
    "Public keys of the pass tokens (JWK Set, Ed25519, with kid); retired keys stay until their passes expired",
    answers={200: JwksOut},
    errors={
        429: "TOO_MANY_REQUESTS: public pages are rate-limited per client address; wait `Retry-After` seconds"
    },
)
async def jwks(request: Request) -> HTTPResponse:
    keys = await pass_runtime(request.app).keys.published()
    return json(jwk_set(keys), headers={"Cache-Control": "public, max-age=60"})
