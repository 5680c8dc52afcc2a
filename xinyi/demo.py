"""``xinyi seed-demo``: demo data for a laptop, idempotent, and the same table of logins printed every time.

What it makes (dev and test only; refused in prod): a regulator; two merchants in two
prefectures (Lijiang 5307, Dali 5329) with stores, an owner and a cashier; approved offers,
one for every tier from C up, so any resident can try a redemption; a volunteer platform
partner; credit records for three demo ID numbers, and three residents bound to them, so there
are residents in several tiers. Passwords are fixed and for the demo only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from merchants.schemas import MerchantCategory, StaffRole
from server.settings import Settings

DEMO_ADMIN = ("demo-admin", "demo-admin-password")
DEMO_OWNER = ("demo-owner", "demo-owner-password")
DEMO_CASHIER = ("demo-cashier", "demo-cashier-password")
DEMO_OWNER_DALI = ("demo-owner-dali", "demo-owner-password")
DEMO_PARTNER_NAME = "云南志愿服务平台（演示）"
HISTORY_DAYS = 3  # days of scans and redemptions at the demo store

# Residents of the demo: (openid, name, ID number without its check digit, what their records make them).
DEMO_RESIDENTS = (
    ("demo-resident", "和志强", "53070219900101123", "a volunteer: commendation + red list"),
    ("demo-resident-b", "杨丽华", "53290119850505432", "two administrative penalties"),
    ("demo-resident-c", "李建国", "53072119780808876", "on the black list: restricted"),
)


@dataclass
class Table:
    """What the seed prints: the same rows on every run."""

    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, value: str) -> None:
        self.rows.append((what, value))

    def print(self) -> None:
        width = max(len(w) for w, _ in self.rows)
        print("demo data (dev only; the passwords are fixed and public):")
        for what, value in self.rows:
            print(f"  {what:<{width}}  {value}")


async def _regulator(table: Table) -> None:
    from admin.models import AdminUser
    from admin.service import create_admin

    if not await AdminUser.exists(username=DEMO_ADMIN[0]):
        await create_admin(username=DEMO_ADMIN[0], password=DEMO_ADMIN[1])
    table.add("regulator", f"{DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}  (POST /api/v1/admin/auth/login)")


async def _merchant(
    name: str, category: MerchantCategory, region: str, stores: list[tuple[str, str, str]]
) -> tuple[Any, list[Any]]:
    """The merchant of this name with these stores (created where missing)."""
    from merchants import service
    from merchants.models import Merchant, Store
    from merchants.schemas import MerchantIn, StoreIn

    merchant = await Merchant.get_or_none(name=name)
    if merchant is None:
        merchant = await service.create_merchant(MerchantIn(name=name, category=category, region=region))
    made = []
    for store_name, store_region, address in stores:
        store = await Store.get_or_none(merchant_id=merchant.id, name=store_name)
        if store is None:
            store = await service.create_store(
                merchant.id, StoreIn(name=store_name, region=store_region, address=address)
            )
        made.append(store)
    return merchant, made


async def _staff(
    merchant_id: uuid.UUID, login: tuple[str, str], role: StaffRole, store_ids: list[str]
) -> None:
    from merchants import service
    from merchants.models import Staff
    from merchants.schemas import StaffIn

    if not await Staff.exists(username=login[0]):
        await service.create_staff(
            merchant_id, StaffIn(username=login[0], password=login[1], role=role, store_ids=store_ids)
        )


async def _merchants(table: Table) -> None:
    yulong, (ganhaizi, _lanyue) = await _merchant(
        "玉龙雪山景区",
        "scenic_spot",
        "530700",
        [
            ("甘海子游客中心", "530721", "丽江市玉龙县甘海子"),
            ("蓝月谷检票口", "530721", "丽江市玉龙县蓝月谷"),
        ],
    )
    await _staff(yulong.id, DEMO_OWNER, "owner", [str(ganhaizi.id)])
    await _staff(yulong.id, DEMO_CASHIER, "cashier", [str(ganhaizi.id)])
    dali, (inn,) = await _merchant(
        "大理古城信用客栈", "hotel", "532901", [("古城店", "532901", "大理市大理古城")]
    )
    await _staff(dali.id, DEMO_OWNER_DALI, "owner", [str(inn.id)])
    table.add(
        "merchant owner",
        f"{DEMO_OWNER[0]} / {DEMO_OWNER[1]}  (玉龙雪山景区, POST /api/v1/merchant/auth/login)",
    )
    table.add("cashier", f"{DEMO_CASHIER[0]} / {DEMO_CASHIER[1]}  (store 甘海子游客中心 {ganhaizi.id})")
    table.add(
        "second merchant", f"{DEMO_OWNER_DALI[0]} / {DEMO_OWNER_DALI[1]}  (大理古城信用客栈, region 532901)"
    )


# (merchant, label, terms): approved at seeding, valid a year (a coupon offer 90 days).
_OFFERS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("玉龙雪山景区", "游客中心免费寄存", {"type": "priority_lane", "min_tier": "C"}),
    (
        "玉龙雪山景区",
        "门票八折",
        {
            "type": "percent_off",
            "value": 20,
            "min_tier": "A",
            "per_resident_limit": 1,
            "per_resident_period": "day",
        },
    ),
    ("玉龙雪山景区", "索道优先通道", {"type": "priority_lane", "min_tier": "AA"}),
    (
        "玉龙雪山景区",
        "索道票立减30元券",
        {
            "type": "amount_off",
            "value": 3000,
            "min_tier": "A",
            "requires_claim": True,
            "total_stock": 100,
            "per_resident_limit": 1,
            "per_resident_period": "month",
        },
    ),
    ("大理古城信用客栈", "信用住免押金", {"type": "deposit_waiver", "value": 50000, "min_tier": "B"}),
)


async def _offers(table: Table) -> None:
    from coupons import service
    from coupons.models import Offer
    from coupons.schemas import OfferIn
    from merchants.models import Merchant, Staff

    now = datetime.now(UTC)
    shown = []
    for merchant_name, label, terms in _OFFERS:
        merchant = await Merchant.get(name=merchant_name)
        offer = await Offer.get_or_none(merchant_id=merchant.id, label=label)
        if offer is None:
            owner = await Staff.filter(merchant_id=merchant.id, role="owner").order_by("created_at").first()
            assert owner is not None, "the demo merchants are seeded before their offers"
            days = 90 if terms.get("requires_claim") else 365
            body: dict[str, Any] = {
                "scenario": "travel",
                "label": label,
                "valid_from": now - timedelta(days=HISTORY_DAYS + 1),  # the demo history falls inside
                "valid_until": now + timedelta(days=days),
                **terms,
            }
            created = await service.create_offer(owner, OfferIn(**body), now=now)
            await service.approve_offer(
                uuid.UUID(created["id"]), admin_id=None, now=now
            )  # seeded, no regulator
            offer = await Offer.get(id=created["id"])
        shown.append(f"{label} ({offer.min_tier}+) {offer.id}")
    table.add("offers", shown[0])
    for line in shown[1:]:
        table.add("", line)


async def _partner(table: Table, settings: Settings) -> None:
    from partners import service
    from partners.models import Partner, PartnerKind, PartnerScope
    from partners.schemas import PartnerIn
    from server.crypto import FieldCipher

    partner = await Partner.get_or_none(name=DEMO_PARTNER_NAME)
    if partner is None:
        data = PartnerIn(
            name=DEMO_PARTNER_NAME, kind=PartnerKind.VOLUNTEER, scopes=[PartnerScope.VOLUNTEER_WRITE]
        )
        partner, secret = await service.create_partner(
            data, cipher=FieldCipher(settings.data_encryption_key), prod=False
        )
        table.add("volunteer partner", f"X-Partner-Key {partner.key}  secret {secret}  (shown once: keep it)")
    else:
        table.add(
            "volunteer partner", f"X-Partner-Key {partner.key}  (its secret was shown when it was created)"
        )


async def _residents(table: Table, settings: Settings) -> None:
    """Credit records for the demo ID numbers, and a resident bound to each (login code ``mock:<openid>:<any>``)."""
    from credit.demo import seed_demo_records
    from credit.service import attach_resident, live_tier
    from residents import service
    from residents.consent import CURRENT_TERMS
    from residents.identity import with_check_digit
    from server.auth import TokenService
    from server.crypto import FieldCipher, KeyedHasher

    await seed_demo_records(settings, [(with_check_digit(n), name) for _o, name, n, _w in DEMO_RESIDENTS])
    tokens, cipher, hasher = (
        TokenService(settings),
        FieldCipher(settings.data_encryption_key),
        KeyedHasher(settings.data_hash_key),
    )
    for openid, name, number, what in DEMO_RESIDENTS:
        resident, _pair = await service.login(tokens=tokens, openid=openid, unionid=None)
        if not service.is_consented(resident):
            await service.accept_consent(resident, version=str(CURRENT_TERMS["version"]))
        if not resident.identity_bound:
            await service.bind_identity(
                resident,
                name=name,
                id_number=with_check_digit(number),
                phone=None,
                cipher=cipher,
                hasher=hasher,
                then=attach_resident,
            )
        tier = await live_tier(resident.id)
        table.add(
            f"resident {openid}", f"login code mock:{openid}:<anything, new each time>  tier {tier}: {what}"
        )


async def _history(table: Table, settings: Settings) -> None:
    """The last few days at the demo store: each demo resident's pass scanned once a day, and a benefit redeemed.

    Made through the same services the routes call (pass issuance, the scan, the ledger) with
    the clock set back, so the scan log, the ledger, its counters and its audit agree. Once: a
    store that already has scans gets no more.
    """
    from coupons.models import Offer
    from merchants.models import Staff
    from passes import lifecycle as passes_lifecycle
    from passes.models import Scan
    from passes.service import issue_pass, scan_pass
    from redemptions import service as ledger
    from redemptions.models import Redemption
    from residents.models import Resident
    from server.context import FrameContext
    from server.errors import AppError
    from server.redis import connect_redis

    cashier = await Staff.get(username=DEMO_CASHIER[0])
    store_id = (await cashier.stores.all())[0].id
    if not await Scan.exists(store_id=store_id):
        ctx = FrameContext.for_settings(settings)
        ctx.redis = connect_redis(settings)
        runtime = await passes_lifecycle.start(ctx)
        try:
            for days_ago in range(HISTORY_DAYS, 0, -1):
                for n, (openid, *_rest) in enumerate(DEMO_RESIDENTS):
                    resident = await Resident.get(openid=openid)
                    at = datetime.now(UTC) - timedelta(days=days_ago, hours=n)
                    issued = await issue_pass(runtime, resident_id=resident.id, now=at, image=False)
                    scan = await scan_pass(
                        runtime,
                        staff_id=cashier.id,
                        store_id=store_id,
                        token=issued["token"],
                        idempotency_key=None,
                        now=at + timedelta(seconds=20),
                    )
                    if not scan["benefits"]:
                        continue  # restricted: nothing to redeem
                    offer = await Offer.get(id=scan["benefits"][0]["offer_id"])
                    if offer.valid_from > at:
                        continue  # offers seeded before this history existed
                    try:
                        await ledger.redeem_at_store(
                            staff_id=cashier.id,
                            scan_id=uuid.UUID(scan["scan_id"]),
                            offer_id=offer.id,
                            coupon_id=None,
                            order_amount_fen=12800,
                            idempotency_key=None,
                            now=at + timedelta(seconds=40),
                        )
                    except AppError:
                        pass  # a limit already used up that day: the scan stays unredeemed
        finally:
            await ctx.stop_tasks()
            await passes_lifecycle.stop(runtime)
            await ctx.redis.aclose()
    scans = await Scan.filter(store_id=store_id).count()
    redeemed = await Redemption.filter(store_id=store_id).count()
    table.add("history", f"{scans} scans and {redeemed} redemptions at 甘海子游客中心 over the last days")


async def _cases(table: Table) -> None:
    """The provincial black-list record as a list entry, and one open objection (the second resident contests a fine)."""
    from credit.models import CreditRecord
    from residents.models import Resident
    from rights import lists, objections
    from rights.models import Objection
    from rights.schemas import ObjectionIn

    now = datetime.now(UTC)
    await lists.advance(now=now)
    resident = await Resident.get(openid=DEMO_RESIDENTS[1][0])
    if not await Objection.exists(resident_id=resident.id):
        record = await CreditRecord.get(source="demo", source_record_id="demo-1-1")
        body = ObjectionIn(record_id=str(record.id), reason="占道经营系临时卸货，已提交现场照片说明。")
        await objections.open_objection(resident.id, body, now=now)
    open_ones = await Objection.filter(status="open").count()
    table.add(
        "cases",
        f"{open_ones} open objection (demo-resident-b), the black list of demo-resident-c as an entry",
    )


async def seed(settings: Settings) -> int:
    if settings.is_prod:
        print("seed-demo refuses to run in prod")
        return 2
    table = Table()
    await _regulator(table)
    await _merchants(table)
    await _offers(table)
    await _partner(table, settings)
    await _residents(table, settings)
    await _history(table, settings)
    await _cases(table)
    table.print()
    return 0
