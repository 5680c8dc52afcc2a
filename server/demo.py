"""``xinyi seed-demo``: a merchant with a store and an owner, so a fresh laptop has something to scan.

Domain packages append their own steps to ``DEMO_STEPS``; every step is idempotent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.settings import Settings

DEMO_OWNER = ("demo-owner", "demo-owner-password")
DemoStep = Callable[[Settings], Awaitable[None]]
DEMO_STEPS: list[DemoStep] = []


async def _merchants(settings: Settings) -> None:
    from merchants import service
    from merchants.models import Merchant, Staff, Store
    from merchants.schemas import MerchantIn, StaffIn, StoreIn

    if await Staff.exists(username=DEMO_OWNER[0]):
        return
    merchant = await Merchant.get_or_none(name="玉龙雪山景区")
    if merchant is None:
        merchant = await service.create_merchant(MerchantIn(name="玉龙雪山景区", category="scenic_spot", region="530700"))
    store = await Store.filter(merchant_id=merchant.id).first()
    if store is None:
        store = await service.create_store(merchant.id, StoreIn(name="甘海子游客中心", region="530700", address="丽江市玉龙县"))
    await service.create_staff(
        merchant.id, StaffIn(username=DEMO_OWNER[0], password=DEMO_OWNER[1], role="owner", store_ids=[str(store.id)])
    )
    print(f"demo merchant owner: {DEMO_OWNER[0]} / {DEMO_OWNER[1]}")


DEMO_STEPS.append(_merchants)


async def seed(settings: Settings) -> int:
    if settings.is_prod:
        print("seed-demo refuses to run in prod")
        return 2
    for step in DEMO_STEPS:
        await step(settings)
    print("demo data is in place")
    return 0
