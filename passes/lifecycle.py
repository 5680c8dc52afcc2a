"""The pass runtime of a worker: started with the app, stopped with it (see ``xinyi.app``)."""

from __future__ import annotations

from coupons.service import StoreOfferCache
from passes.keys import PassKeyRing, signing_key_exists
from passes.service import PASS_TTL_S, PassRuntime, StoreAccessCache, purge_spent_passes
from passes.subjects import Pseudonyms
from passes.tokens import MAX_OFFLINE_TTL_S
from server.context import FrameContext
from server.settings import SettingsError
from server.sql import HotDatabase
from server.tasks import purge_every

PURGE_SPENT_EVERY_S = 60.0


async def start(ctx: FrameContext) -> PassRuntime:
    """The signing keys, the pseudonyms, the caches, the hot paths' connections, the purge."""
    settings = ctx.settings
    if settings.pass_signing_keys_required and not await signing_key_exists():
        raise SettingsError(
            "XINYI_ENV=prod refuses to start; missing: a pass signing key (run `xinyi rotate-pass-key` once)"
        )
    ctx.start_task(purge_every(PURGE_SPENT_EVERY_S, purge_spent_passes, what="spent passes"))
    return PassRuntime(
        keys=PassKeyRing(ctx.cipher, create_if_missing=not settings.pass_signing_keys_required),
        pseudonyms=Pseudonyms(settings.data_hash_key),
        store_offers=StoreOfferCache(),
        store_access=StoreAccessCache(),
        db=await HotDatabase.open(settings.effective_database_url),
        offline_ttl_s=min(max(settings.offline_bundle_ttl_s, PASS_TTL_S), MAX_OFFLINE_TTL_S),
    )


async def stop(runtime: PassRuntime) -> None:
    await runtime.db.close()
