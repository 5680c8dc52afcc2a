"""The pass keys' public side: ``/.well-known/jwks.json``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi

from passes.service import pass_runtime
from passes.tokens import jwks as jwk_set
from server.http import json

bp = Blueprint("passes")


@bp.get("/.well-known/jwks.json")
@openapi.summary(
    "Public keys of the pass tokens (JWK Set, Ed25519, with kid); retired keys stay until their passes expired"
)
async def jwks(request: Request) -> HTTPResponse:
    keys = await pass_runtime(request.app).keys.published()
    return json(jwk_set(keys), headers={"Cache-Control": "public, max-age=60"})
