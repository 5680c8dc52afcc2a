"""Merchants, stores and staff: creation by regulators (and owners), staff login and scope."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from merchants.exceptions import MerchantNotFound, OwnerOnly, StoreNotYours, UsernameTaken
from merchants.models import Merchant, Staff, Store
from merchants.schemas import MerchantIn, StaffIn, StoreIn
from server.auth import (
    Audience,
    Principal,
    TokenPair,
    TokenService,
    hash_password,
    password_login,
)
from server.errors import Unauthenticated, ValidationFailed
from server.throttle import Throttle
from server.wechat import WeChat


def merchant_out(m: Merchant) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "name": m.name,
        "category": m.category,
        "region": m.region,
        "created_at": m.created_at,
    }


def store_out(s: Store) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "merchant_id": str(s.merchant_id),
        "name": s.name,
        "region": s.region,
        "address": s.address,
    }


def staff_out(s: Staff, store_ids: list[str]) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "merchant_id": str(s.merchant_id),
        "username": s.username,
        "role": s.role,
        "store_ids": store_ids,
    }


async def get_merchant(merchant_id: uuid.UUID) -> Merchant:
    merchant = await Merchant.get_or_none(id=merchant_id)
    if merchant is None:
        raise MerchantNotFound()
    return merchant


async def create_merchant(data: MerchantIn) -> Merchant:
    return await Merchant.create(name=data.name.strip(), category=data.category, region=data.region)


async def create_store(merchant_id: uuid.UUID, data: StoreIn) -> Store:
    merchant = await get_merchant(merchant_id)
    return await Store.create(
        merchant=merchant, name=data.name.strip(), region=data.region, address=data.address
    )


async def create_staff(merchant_id: uuid.UUID, data: StaffIn) -> dict[str, Any]:
    """A staff account limited to stores of its own merchant (422 for a store of another one)."""
    merchant = await get_merchant(merchant_id)
    wanted: list[uuid.UUID] = []
    for index, raw in enumerate(data.store_ids):
        try:
            wanted.append(uuid.UUID(raw))
        except ValueError:
            raise ValidationFailed({f"store_ids.{index}": "not a store id"}) from None
    stores = await Store.filter(id__in=wanted, merchant_id=merchant.id) if wanted else []
    found = {s.id for s in stores}
    missing = [str(s) for s in wanted if s not in found]
    if missing:
        raise ValidationFailed({"store_ids": f"not stores of this merchant: {', '.join(missing)}"})
    if data.role != "owner" and not stores:
        raise ValidationFailed({"store_ids": "managers and cashiers need at least one store"})
    password_hash = await hash_password(data.password)
    try:
        async with in_transaction() as conn:
            staff = await Staff.create(
                merchant=merchant,
                username=data.username,
                password_hash=password_hash,
                role=data.role,
                using_db=conn,
            )
            if stores:
                await staff.stores.add(*stores, using_db=conn)
    except IntegrityError:
        raise UsernameTaken() from None
    return staff_out(staff, sorted(str(s.id) for s in stores))


async def staff_store_ids(staff: Staff) -> list[str]:
    """An owner works in every store of the merchant; others in the stores assigned to them."""
    if staff.role == "owner":
        ids = await Store.filter(merchant_id=staff.merchant_id).values_list("id", flat=True)
    else:
        ids = await staff.stores.all().values_list("id", flat=True)
    return sorted(str(i) for i in ids)


def _staff_claims(staff: Staff) -> dict[str, Any]:
    return {"mid": str(staff.merchant_id), "role": staff.role}


async def staff_login(
    *, tokens: TokenService, throttle: Throttle, username: str, password: str, address: str
) -> tuple[TokenPair, dict[str, Any]]:
    staff = await password_login(
        throttle=throttle,
        audience=Audience.MERCHANT,
        username=username,
        password=password,
        address=address,
        lookup=lambda name: Staff.get_or_none(username=name),
    )
    pair = await tokens.issue_pair(Audience.MERCHANT, str(staff.id), extra=_staff_claims(staff))
    return pair, staff_out(staff, await staff_store_ids(staff))


async def staff_refresh(*, tokens: TokenService, refresh_token: str) -> tuple[TokenPair, dict[str, Any]]:
    row = await tokens.rotate(refresh_token, Audience.MERCHANT)
    staff = await Staff.get_or_none(id=row.subject_id, is_active=True)
    if staff is None:
        raise Unauthenticated("This staff account is disabled.")
    pair = await tokens.issue_pair(
        Audience.MERCHANT, str(staff.id), extra=_staff_claims(staff), family_id=row.family_id
    )
    return pair, staff_out(staff, await staff_store_ids(staff))


async def current_staff(principal: Principal) -> Staff:
    """The caller as an active ``Staff`` row (a disabled account loses access at once)."""
    try:
        staff_id = uuid.UUID(principal.subject_id)
    except ValueError:
        raise Unauthenticated() from None
    staff = await Staff.get_or_none(id=staff_id, is_active=True)
    if staff is None:
        raise Unauthenticated("This staff account is disabled.")
    return staff


def require_owner(staff: Staff) -> None:
    if staff.role != "owner":
        raise OwnerOnly()


async def require_store(staff: Staff, store_id: uuid.UUID) -> Store:
    """The store, if this staff member may act in it; 403 ``STORE_NOT_YOURS`` otherwise."""
    store = await Store.get_or_none(id=store_id, merchant_id=staff.merchant_id)
    if store is None:
        raise StoreNotYours()
    if staff.role != "owner" and not await staff.stores.filter(id=store_id).exists():
        raise StoreNotYours()
    return store


# --- scanning support (pass scans, store entry codes) ----------------------------------------

ENTRY_PAGE = "pages/store/index"
"""The mini-program page a store's entry code opens; its ``scene`` is the store id in hex (32 characters)."""
ENTRY_CODE_WIDTH_PX = 430
_ENTRY_CODE_CACHE_S = 30 * 24 * 3600
_log = logging.getLogger(__name__)


async def visible_store_ids(staff: Staff, store_id: uuid.UUID | None) -> list[uuid.UUID] | None:
    """The stores whose records this staff member may list: one (checked), theirs, or None for all (owners)."""
    if store_id is not None:
        await require_store(staff, store_id)
        return [store_id]
    if staff.role == "owner":
        return None
    return [uuid.UUID(i) for i in await staff_store_ids(staff)]


async def store_entry_code(store: Store, *, wechat: WeChat, redis: aioredis.Redis) -> bytes:
    """The store's mini-program code (wxacode getUnlimited) as PNG, from WeChat once, then from Redis.

    The code never changes for a store (the scene is the store id), so it is cached for a month;
    if Redis is down the code is fetched from WeChat anyway rather than failing.
    """
    key = f"store-entry-code:{store.id}:{ENTRY_CODE_WIDTH_PX}"
    try:
        cached = await redis.get(key)
    except (RedisError, OSError):
        _log.warning("Redis unavailable: fetching the store entry code from WeChat without the cache")
        cached = None
    if cached:
        # redis types GET as bytes | str whatever decode_responses says; connect_redis never decodes.
        return bytes(cached)  # type: ignore[arg-type]
    image = await wechat.wxacode_unlimited(scene=store.id.hex, page=ENTRY_PAGE, width=ENTRY_CODE_WIDTH_PX)
    try:
        await redis.set(key, image, ex=_ENTRY_CODE_CACHE_S)
    except (RedisError, OSError):
        _log.warning("Redis unavailable: the store entry code was not cached")
    return image
