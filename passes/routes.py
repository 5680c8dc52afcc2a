"""The pass keys' public side: ``/.well-known/jwks.json``, and the per-worker pass runtime."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic_ext import openapi

from coupons.service import StoreOfferCache
from passes.keys import PassKeyRing, signing_key_exists
from passes.service import PassRuntime, ReplayGuard, StoreAccessCache, pass_runtime
from passes.sql import HotDatabase
from passes.subjects import Pseudonyms
from passes.tokens import jwks as jwk_set
from server.http import json
from server.settings import SettingsError

bp = Blueprint("passes")


@bp.before_server_start(priority=-10)  # after server.app's listener: the database and Redis are up
async def start_passes(app: Sanic, _loop: Any = None) -> None:
    ctx = app.ctx
    settings = ctx.settings
    if settings.pass_signing_keys_required and not await signing_key_exists():
        raise SettingsError(
            "XINYI_ENV=prod refuses to start; missing: a pass signing key (run `xinyi rotate-pass-key` once)"
        )
    ctx.passes = PassRuntime(
        keys=PassKeyRing(ctx.cipher, create_if_missing=not settings.pass_signing_keys_required),
        pseudonyms=Pseudonyms(settings.data_hash_key),
        guard=ReplayGuard(ctx.redis),
        store_offers=StoreOfferCache(),
        store_access=StoreAccessCache(),
        db=await HotDatabase.open(settings.effective_database_url),
    )


@bp.after_server_stop
async def stop_passes(app: Sanic, _loop: Any = None) -> None:
    runtime = getattr(app.ctx, "passes", None)
    if runtime is not None:
        await runtime.guard.close()
        await runtime.db.close()


@bp.get("/.well-known/jwks.json")
@openapi.summary(
    "Public keys of the pass tokens (JWK Set, Ed25519, with kid); retired keys stay until their passes expired"
)
async def jwks(request: Request):
    keys = await pass_runtime(request.app).keys.published()
    return json(jwk_set(keys), headers={"Cache-Control": "public, max-age=60"})
