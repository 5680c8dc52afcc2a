"""The ledger service as the partner API calls it, and the step-by-step write path on every database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from coupons import stock
from coupons.exceptions import OfferNotFound
from coupons.units import PendingUnit
from passes.exceptions import ScanNotFound
from redemptions import reversal
from redemptions import service as ledger
from redemptions.exceptions import LimitReached, OutOfStock, TierRestricted
from redemptions.models import AuditEntry, Redemption
from server.errors import IdempotencyConflict
from tests import factories as f


@pytest.fixture
async def shop(client):
    m = await f.make_shop(client)
    m["ticket"] = await f.make_offer(client, m, total_stock=3)
    return m


async def resident_id(client, seed: int) -> uuid.UUID:
    return uuid.UUID((await f.make_resident(client, seed))["resident"]["id"])


def online(
    client, rid: uuid.UUID, offer_id: str, order: str, *, partner: uuid.UUID, amount: int = 10000, **extra
):
    return ledger.redeem(
        resident_id=rid,
        offer_id=uuid.UUID(offer_id),
        order_amount_fen=amount,
        channel="partner",
        now=datetime.now(UTC),
        partner_id=partner,
        external_order_id=order,
        db=client.app.ctx.ledger,
        **extra,
    )


class TestPartnerRedemptions:
    async def test_an_order_is_redeemed_once_and_replayed_after(self, client, shop):
        rid, partner = await resident_id(client, 1), uuid.uuid4()
        first = await online(client, rid, shop["ticket"]["id"], "ord-1", partner=partner)
        assert (first.replayed, first.status_code, first.redemption["discount_fen"]) == (False, 201, 2000)
        assert first.redemption["store_id"] is None
        again = await online(client, rid, shop["ticket"]["id"], "ord-1", partner=partner)
        assert again.replayed and again.status_code == 200 and again.redemption == first.redemption
        with pytest.raises(IdempotencyConflict):
            await online(client, rid, shop["ticket"]["id"], "ord-1", partner=partner, amount=20000)
        # Another partner's order number is another order.
        other = await online(client, rid, shop["ticket"]["id"], "ord-1", partner=uuid.uuid4())
        assert not other.replayed and other.redemption["id"] != first.redemption["id"]
        row = await Redemption.get(id=first.redemption["id"])
        assert (row.channel, row.partner_id, row.external_order_id) == ("partner", partner, "ord-1")
        audit = await AuditEntry.get(target_id=row.id)
        assert (audit.actor_type, audit.actor_id) == ("partner", partner)

    async def test_a_replay_shows_the_redemption_as_it_is_now(self, client, shop):
        rid, partner = await resident_id(client, 2), uuid.uuid4()
        first = await online(client, rid, shop["ticket"]["id"], "ord-2", partner=partner)
        staff = await ledger_owner(shop)
        await reversal.reverse_redemption(
            staff, uuid.UUID(first.redemption["id"]), reason="订单取消", now=datetime.now(UTC)
        )
        again = await online(client, rid, shop["ticket"]["id"], "ord-2", partner=partner)
        assert again.replayed and again.redemption["status"] == "reversed"

    async def test_concurrent_deliveries_of_one_order_make_one_redemption(self, client, shop):
        rid, partner = await resident_id(client, 3), uuid.uuid4()
        results = await asyncio.gather(
            *(online(client, rid, shop["ticket"]["id"], "ord-3", partner=partner) for _ in range(6))
        )
        assert len({r.redemption["id"] for r in results}) == 1
        assert sorted(r.replayed for r in results) == [False] + [True] * 5
        assert await Redemption.filter(external_order_id="ord-3").count() == 1

    async def test_the_same_rules_apply_online(self, client, shop, id_number):
        limited = await f.make_offer(
            client, shop, per_resident_limit=1, per_resident_period="day", label="每日一次"
        )
        rid, partner = await resident_id(client, 4), uuid.uuid4()
        await online(client, rid, limited["id"], "a", partner=partner)
        with pytest.raises(LimitReached):
            await online(client, rid, limited["id"], "b", partner=partner)
        for i, seed in enumerate((5, 6)):
            await online(
                client, await resident_id(client, seed), shop["ticket"]["id"], f"s{i}", partner=partner
            )
        await online(client, rid, shop["ticket"]["id"], "s2", partner=partner)
        with pytest.raises(OutOfStock):
            await online(client, await resident_id(client, 7), shop["ticket"]["id"], "s3", partner=partner)
        await f.blacklist(client, id_number(4))
        with pytest.raises(TierRestricted):
            await online(client, rid, limited["id"], "c", partner=partner)
        with pytest.raises(OfferNotFound):
            await online(client, rid, str(uuid.uuid4()), "d", partner=partner)


class TestStoreChannelThroughRedeem:
    async def test_the_scan_must_be_of_the_resident_named(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 10)
        staff_id = (await ledger_owner(shop)).id
        with pytest.raises(ScanNotFound):
            await ledger.redeem(
                resident_id=uuid.uuid4(),
                offer_id=uuid.UUID(shop["ticket"]["id"]),
                order_amount_fen=100,
                channel="store",
                now=datetime.now(UTC),
                scan_id=uuid.UUID(s["scan_id"]),
                staff_id=staff_id,
                db=client.app.ctx.ledger,
            )
        done = await ledger.redeem(
            resident_id=uuid.UUID(s["resident"]["resident"]["id"]),
            offer_id=uuid.UUID(shop["ticket"]["id"]),
            order_amount_fen=100,
            channel="store",
            now=datetime.now(UTC),
            scan_id=uuid.UUID(s["scan_id"]),
            staff_id=staff_id,
            db=client.app.ctx.ledger,
        )
        assert done.status_code == 201 and done.redemption["store_id"] == f.store(shop)


class TestStepByStepWrites:
    """Without the ledger's own pool (SQLite always; PostgreSQL here too) the writes run one by one: same results."""

    @pytest.fixture(autouse=True)
    def without_pool(self, client):
        pool, client.app.ctx.ledger = client.app.ctx.ledger, None
        yield
        client.app.ctx.ledger = pool

    async def test_racing_residents_never_exceed_the_stock(self, client, shop):
        scans = [await f.make_scanned_pass(client, shop, 20 + i) for i in range(8)]
        answers = await asyncio.gather(
            *(
                f.redeem(client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], order_amount_fen=100)
                for s in scans
            )
        )
        assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 5, [r.text for r in answers]
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"OUT_OF_STOCK"}
        assert (await f.offer_state(client, shop, shop["ticket"]["id"]))["redeemed_count"] == 3

    async def test_racing_redemptions_of_one_resident_respect_the_daily_limit(self, client, shop):
        daily = await f.make_offer(
            client, shop, per_resident_limit=1, per_resident_period="day", label="每日一次"
        )
        first = await f.make_scanned_pass(client, shop, 30)
        scans = [first] + [
            await f.make_scanned_pass(client, shop, 30, resident=first["resident"]) for _ in range(4)
        ]
        answers = await asyncio.gather(
            *(
                f.redeem(client, shop["cashier"], s["scan_id"], daily["id"], order_amount_fen=100)
                for s in scans
            )
        )
        assert sorted(r.status_code for r in answers) == [201] + [409] * 4
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"LIMIT_REACHED"}

    async def test_one_key_one_redemption(self, client, shop):
        s = await f.make_scanned_pass(client, shop, 31)
        key = f.new_key()
        answers = await asyncio.gather(
            *(
                f.redeem(
                    client, shop["cashier"], s["scan_id"], shop["ticket"]["id"], key=key, order_amount_fen=100
                )
                for _ in range(5)
            )
        )
        assert {r.status_code for r in answers} == {201} and len({r.json()["id"] for r in answers}) == 1
        assert (await f.offer_state(client, shop, shop["ticket"]["id"]))["redeemed_count"] == 1


async def ledger_owner(shop):
    from merchants.models import Staff

    return await Staff.get(username=shop["owner"]["username"])


class TestUnlimitedOfferCounts:
    """Units of offers without a stock limit reach ``redeemed_count`` by a fold, exactly once, shortly after."""

    @pytest.fixture
    async def unlimited(self, client, shop):
        shop["free"] = await f.make_offer(client, shop, type="priority_lane", value=None, label="优先通道")
        shop["free_ids"] = []
        for seed in range(40, 44):
            s = await f.make_scanned_pass(client, shop, seed)
            r = await f.redeem(client, shop["cashier"], s["scan_id"], shop["free"]["id"])
            assert r.status_code == 201, r.text
            shop["free_ids"].append(r.json()["id"])
        return shop

    async def test_the_count_catches_up_within_a_second_by_itself(self, client, unlimited):
        for _ in range(40):
            if (await f.offer_state(client, unlimited, unlimited["free"]["id"]))["redeemed_count"] == 4:
                break
            await asyncio.sleep(0.05)
        state = await f.offer_state(client, unlimited, unlimited["free"]["id"])
        assert (state["redeemed_count"], state["remaining"]) == (4, None)

    async def test_racing_folds_count_each_unit_once_and_reversals_are_exact(self, client, unlimited):
        staff = await ledger_owner(unlimited)
        first, second = (uuid.UUID(i) for i in unlimited["free_ids"][:2])
        await reversal.reverse_redemption(
            staff, first, reason="未到店", now=datetime.now(UTC)
        )  # perhaps not folded yet
        await asyncio.gather(*(stock.fold_counts(client.app.ctx.ledger) for _ in range(4)))
        assert await stock.fold_counts(client.app.ctx.ledger) == 0
        assert (await f.offer_state(client, unlimited, unlimited["free"]["id"]))["redeemed_count"] == 3
        await reversal.reverse_redemption(
            staff, second, reason="未到店", now=datetime.now(UTC)
        )  # folded by now
        assert (await f.offer_state(client, unlimited, unlimited["free"]["id"]))["redeemed_count"] == 2
        assert await PendingUnit.filter(offer_id=unlimited["free"]["id"]).count() == 0

    async def test_a_stock_below_what_was_redeemed_is_refused_even_before_the_fold(self, client, unlimited):
        offer = unlimited["free"]["id"]
        r = await client.patch(
            f"/api/v1/merchant/offers/{offer}", json={"total_stock": 3}, headers=unlimited["headers"]
        )
        assert r.status_code == 422, r.text
        assert "4 already redeemed" in r.text
        r = await client.patch(
            f"/api/v1/merchant/offers/{offer}", json={"total_stock": 4}, headers=unlimited["headers"]
        )
        assert r.status_code == 200 and r.json()["remaining"] == 0, r.text

    async def test_a_stock_set_while_redemptions_race_is_never_oversold(self, client, unlimited):
        offer = unlimited["free"]["id"]
        scans = [await f.make_scanned_pass(client, unlimited, 50 + i) for i in range(6)]
        patch, *answers = await asyncio.gather(
            client.patch(
                f"/api/v1/merchant/offers/{offer}", json={"total_stock": 6}, headers=unlimited["headers"]
            ),
            *(f.redeem(client, unlimited["cashier"], s["scan_id"], offer) for s in scans),
        )
        won = sum(r.status_code == 201 for r in answers)
        refused = [f.error_code(r) for r in answers if r.status_code != 201]
        completed = await Redemption.filter(offer_id=offer, status="completed").count()
        assert completed == 4 + won
        if patch.status_code == 200:
            # Set while at most 2 of the 6 had gone through: the stock holds from then on, so
            # exactly 2 win in all and the other 4 are told the stock is gone.
            assert (won, refused) == (2, ["OUT_OF_STOCK"] * 4), [r.text for r in answers]
        else:
            # More than 6 were already redeemed when the stock was set: it is refused, and the
            # offer stays without a limit, so all 6 win.
            assert patch.status_code == 422 and "already redeemed" in patch.text, patch.text
            assert (won, refused) == (6, []), [r.text for r in answers]
        await stock.fold_counts(client.app.ctx.ledger)
        assert (await f.offer_state(client, unlimited, offer))["redeemed_count"] == completed

    @pytest.mark.postgres_only
    async def test_a_stock_set_before_the_race_lets_exactly_the_remainder_win(self, client, unlimited):
        """4 units pending or folded, a stock of 6 set, then 8 residents race: exactly 2 win, 6 are OUT_OF_STOCK."""
        offer = unlimited["free"]["id"]
        r = await client.patch(
            f"/api/v1/merchant/offers/{offer}", json={"total_stock": 6}, headers=unlimited["headers"]
        )
        assert r.status_code == 200 and r.json()["remaining"] == 2, r.text
        scans = [await f.make_scanned_pass(client, unlimited, 60 + i) for i in range(8)]
        answers = await asyncio.gather(
            *(f.redeem(client, unlimited["cashier"], s["scan_id"], offer) for s in scans)
        )
        assert sorted(r.status_code for r in answers) == [201] * 2 + [409] * 6, [r.text for r in answers]
        assert {f.error_code(r) for r in answers if r.status_code == 409} == {"OUT_OF_STOCK"}
        assert await Redemption.filter(offer_id=offer, status="completed").count() == 6
        state = await f.offer_state(client, unlimited, offer)
        assert (state["redeemed_count"], state["remaining"]) == (6, 0)


class TestUnlimitedOfferCountsStepByStep(TestUnlimitedOfferCounts):
    """The same, with the writes one statement at a time (SQLite always; PostgreSQL without the ledger's pool)."""

    @pytest.fixture(autouse=True)
    def without_pool(self, client):
        pool, client.app.ctx.ledger = client.app.ctx.ledger, None
        yield
        client.app.ctx.ledger = pool
