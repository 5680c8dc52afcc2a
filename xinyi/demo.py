"""``xinyi seed-demo``: a merchant with a store and an owner, so a fresh laptop has something to scan.

Domain packages append their own steps to ``DEMO_STEPS``; every step is idempotent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
        merchant = await service.create_merchant(
            MerchantIn(name="玉龙雪山景区", category="scenic_spot", region="530700")
        )
    store = await Store.filter(merchant_id=merchant.id).first()
    if store is None:
        store = await service.create_store(
            merchant.id, StoreIn(name="甘海子游客中心", region="530700", address="丽江市玉龙县")
        )
    await service.create_staff(
        merchant.id,
        StaffIn(username=DEMO_OWNER[0], password=DEMO_OWNER[1], role="owner", store_ids=[str(store.id)]),
    )
    print(f"demo merchant owner: {DEMO_OWNER[0]} / {DEMO_OWNER[1]}")


DEMO_STEPS.append(_merchants)


async def _offers(settings: Settings) -> None:
    """Two approved offers at the demo merchant: a ticket discount for A and up, a priority lane for AA."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from coupons import service
    from coupons.models import Offer
    from coupons.schemas import OfferIn
    from merchants.models import Staff

    owner = await Staff.get_or_none(username=DEMO_OWNER[0])
    if owner is None or await Offer.exists(merchant_id=owner.merchant_id):
        return
    now = datetime.now(UTC)
    common: dict[str, Any] = {
        "scenario": "travel",
        "valid_from": now,
        "valid_until": now + timedelta(days=365),
    }
    terms: dict[str, Any]
    for terms in (
        {
            "type": "percent_off",
            "value": 20,
            "label": "门票八折",
            "min_tier": "A",
            "per_resident_limit": 1,
            "per_resident_period": "day",
        },
        {"type": "priority_lane", "label": "索道优先通道", "min_tier": "AA"},
    ):
        offer = await service.create_offer(owner, OfferIn(**common, **terms), now=now)
        await service.approve_offer(uuid.UUID(offer["id"]), admin_id=None, now=now)  # seeded, no regulator
    print("demo offers: 门票八折 (A+), 索道优先通道 (AA+), approved")


DEMO_STEPS.append(_offers)


async def _partners(settings: Settings) -> None:
    """A demo volunteer platform; its key and secret are printed so signed requests can be tried."""
    from partners import service
    from partners.models import Partner, PartnerKind, PartnerScope
    from partners.schemas import PartnerIn
    from server.crypto import FieldCipher

    name = "云南志愿服务平台（演示）"
    cipher = FieldCipher(settings.data_encryption_key)
    partner = await Partner.get_or_none(name=name)
    if partner is None:
        data = PartnerIn(name=name, kind=PartnerKind.VOLUNTEER, scopes=[PartnerScope.VOLUNTEER_WRITE])
        partner, secret = await service.create_partner(data, cipher=cipher, prod=False)
    else:
        secret = service.current_secret(partner, cipher=cipher)  # dev only: seed-demo refuses prod
    print(f"demo volunteer partner: X-Partner-Key {partner.key}  secret {secret}")
    print("  sign requests with partners.signing.signed_headers(key, secret, method, path_qs, body)")


DEMO_STEPS.append(_partners)


async def _credit(settings: Settings) -> None:
    from credit.demo import seed_demo_records

    await seed_demo_records(settings)


DEMO_STEPS.append(_credit)


async def _coupon_offer(settings: Settings) -> None:
    """A coupon to claim in the mini-program (POST /offers/{id}/claim): 30 yuan off the ropeway, 100 of them."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from coupons import service
    from coupons.models import Offer
    from coupons.schemas import OfferIn
    from merchants.models import Staff

    owner = await Staff.get_or_none(username=DEMO_OWNER[0])
    if owner is None or await Offer.exists(merchant_id=owner.merchant_id, requires_claim=True):
        return
    now = datetime.now(UTC)
    terms = OfferIn(
        scenario="travel",
        type="amount_off",
        value=3000,
        label="索道票立减30元券",
        min_tier="A",
        requires_claim=True,
        total_stock=100,
        per_resident_limit=1,
        per_resident_period="month",
        valid_from=now,
        valid_until=now + timedelta(days=90),
    )
    offer = await service.create_offer(owner, terms, now=now)
    await service.approve_offer(uuid.UUID(offer["id"]), admin_id=None, now=now)  # seeded, no regulator
    print("demo coupon: 索道票立减30元券 (A+, claim first, 100 in stock, one a month)")


DEMO_STEPS.append(_coupon_offer)


async def seed(settings: Settings) -> int:
    if settings.is_prod:
        print("seed-demo refuses to run in prod")
        return 2
    for step in DEMO_STEPS:
        await step(settings)
    print("demo data is in place")
    return 0
