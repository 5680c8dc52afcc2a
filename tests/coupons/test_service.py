"""The offer service without HTTP: owners propose and change offers, regulators approve or reject them.

The data is built through the services (``factories.make_merchant_record``/``make_offer_record``);
the ``client`` fixture only starts an app, which initialises the database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coupons import service as coupons
from coupons.exceptions import OfferNotFound, OfferNotPending, OfferNotResumable
from coupons.models import Offer
from coupons.schemas import OfferIn, OfferPatch
from coupons.units import PendingUnit
from redemptions import service as ledger
from server.errors import ValidationFailed
from tests import factories as f


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def shop(client):
    return await f.make_merchant_record(stores=2)


async def update(shop, offer: dict, **changes):
    return await coupons.update_offer(shop.owner, uuid.UUID(offer["id"]), OfferPatch(**changes), now=now())


class TestCreateOffer:
    async def test_a_new_offer_waits_for_approval_and_applies_at_every_store_unless_told(self, shop):
        everywhere = await coupons.create_offer(shop.owner, OfferIn(**f.offer_body()), now=now())
        assert (everywhere["status"], everywhere["all_stores"], everywhere["store_ids"]) == (
            "pending_approval",
            True,
            [],
        )
        assert everywhere["merchant_id"] == str(shop.merchant.id) and everywhere["approved_at"] is None
        second = str(shop.stores[1].id)
        one = await coupons.create_offer(
            shop.owner, OfferIn(**f.offer_body(store_ids=[second, second])), now=now()
        )
        assert (one["all_stores"], one["store_ids"]) == (False, [second])
        row = await Offer.get(id=one["id"]).prefetch_related("stores")
        assert [str(s.id) for s in row.stores] == [second] and row.created_by_id == shop.owner.id

    async def test_a_store_of_another_merchant_is_refused_and_nothing_is_made(self, client, shop):
        other = await f.make_merchant_record(name="丽江古城酒店")
        theirs = str(other.stores[0].id)
        with pytest.raises(ValidationFailed) as refused:
            await coupons.create_offer(
                shop.owner, OfferIn(**f.offer_body(store_ids=[str(shop.stores[0].id), theirs])), now=now()
            )
        assert refused.value.code == "VALIDATION_ERROR" and refused.value.status_code == 422
        assert theirs in refused.value.details["fields"]["store_ids"]
        assert await Offer.all().count() == 0

    async def test_terms_that_do_not_hold_together_are_refused_field_by_field(self, shop):
        body = f.offer_body(value=150, per_resident_limit=1)
        with pytest.raises(ValidationFailed) as refused:
            await coupons.create_offer(shop.owner, OfferIn(**body), now=now())
        assert set(refused.value.details["fields"]) == {"value", "per_resident_period"}
        assert await Offer.all().count() == 0


class TestReview:
    async def test_approving_makes_the_offer_active_once(self, shop):
        offer = await f.make_offer_record(shop.owner, approve=False)
        admin, at = uuid.uuid4(), now()
        approved = await coupons.approve_offer(uuid.UUID(offer["id"]), admin_id=admin, now=at)
        assert (approved["status"], approved["approved_at"]) == ("active", at)
        assert (await Offer.get(id=offer["id"])).approved_by_id == admin
        with pytest.raises(OfferNotPending) as again:
            await coupons.approve_offer(uuid.UUID(offer["id"]), admin_id=admin, now=now())
        assert (again.value.status_code, again.value.code) == (409, "OFFER_NOT_PENDING")
        assert again.value.details == {"status": "active"}

    async def test_a_rejected_offer_keeps_the_note_and_goes_back_for_approval_when_edited(self, shop):
        offer = await f.make_offer_record(shop.owner, approve=False)
        rejected = await coupons.reject_offer(
            uuid.UUID(offer["id"]), admin_id=uuid.uuid4(), note="折扣描述不清", now=now()
        )
        assert (rejected["status"], rejected["review_note"], rejected["approved_at"]) == (
            "rejected",
            "折扣描述不清",
            None,
        )
        with pytest.raises(OfferNotPending):
            await coupons.approve_offer(uuid.UUID(offer["id"]), admin_id=uuid.uuid4(), now=now())
        resubmitted = await update(shop, offer, label="门票八折（成人票）")
        assert (resubmitted["status"], resubmitted["label"]) == ("pending_approval", "门票八折（成人票）")
        approved = await coupons.approve_offer(uuid.UUID(offer["id"]), admin_id=uuid.uuid4(), now=now())
        assert approved["status"] == "active" and approved["review_note"] is None

    async def test_an_unknown_offer_is_not_found(self, client):
        with pytest.raises(OfferNotFound):
            await coupons.approve_offer(uuid.uuid4(), admin_id=None, now=now())
        with pytest.raises(OfferNotFound):
            await coupons.reject_offer(uuid.uuid4(), admin_id=uuid.uuid4(), note="无", now=now())


class TestUpdateOffer:
    async def test_changing_a_term_needs_a_new_approval(self, shop):
        offer = await f.make_offer_record(shop.owner)
        changed = await update(shop, offer, value=30)
        assert (changed["status"], changed["value"], changed["approved_at"]) == ("pending_approval", 30, None)
        row = await Offer.get(id=offer["id"])
        assert row.approved_by_id is None

    async def test_ending_earlier_setting_a_stock_and_pausing_keep_the_approval(self, shop):
        offer = await f.make_offer_record(shop.owner)
        earlier = now() + timedelta(days=7)
        changed = await update(shop, offer, valid_until=earlier, total_stock=50)
        assert (changed["status"], changed["valid_until"], changed["remaining"]) == ("active", earlier, 50)
        paused = await update(shop, offer, status="paused")
        assert paused["status"] == "paused"
        resumed = await update(shop, offer, status="active")
        assert resumed["status"] == "active" and resumed["approved_at"] is not None

    async def test_only_an_approved_offer_can_be_resumed_or_paused(self, shop):
        pending = await f.make_offer_record(shop.owner, approve=False)
        with pytest.raises(OfferNotResumable) as refused:
            await update(shop, pending, status="active")
        assert (refused.value.status_code, refused.value.code) == (409, "OFFER_NOT_RESUMABLE")
        with pytest.raises(OfferNotResumable):
            await update(shop, pending, status="paused")
        assert (await Offer.get(id=pending["id"])).status == "pending_approval"

    async def test_an_offer_of_another_merchant_is_not_found(self, shop):
        other = await f.make_merchant_record(name="丽江古城酒店")
        theirs = await f.make_offer_record(other.owner)
        with pytest.raises(OfferNotFound):
            await update(shop, theirs, total_stock=1)
        assert (await Offer.get(id=theirs["id"])).total_stock is None

    async def test_moving_an_offer_to_a_store_of_another_merchant_is_refused(self, shop):
        offer = await f.make_offer_record(shop.owner)
        other = await f.make_merchant_record(name="丽江古城酒店")
        with pytest.raises(ValidationFailed) as refused:
            await update(shop, offer, store_ids=[str(other.stores[0].id)])
        assert "store_ids" in refused.value.details["fields"]
        row = await Offer.get(id=offer["id"])
        assert (row.status, row.all_stores) == ("active", True)

    async def test_null_where_null_means_nothing_is_refused(self, shop):
        offer = await f.make_offer_record(shop.owner)
        with pytest.raises(ValidationFailed) as refused:
            await update(shop, offer, label=None)
        assert refused.value.details["fields"] == {"label": "must not be null"}


class TestStockOnAnUnlimitedOffer:
    """Units of an offer without a stock are counted later (``coupons.stock``); setting a stock counts them at once."""

    @pytest.fixture
    async def redeemed(self, client, shop):
        offer = await f.make_offer_record(shop.owner, type="priority_lane", value=None, label="优先通道")
        for seed in range(3):
            resident = await f.make_resident(client, 80 + seed)
            await ledger.redeem(
                resident_id=uuid.UUID(resident["resident"]["id"]),
                offer_id=uuid.UUID(offer["id"]),
                order_amount_fen=None,
                channel="partner",
                now=now(),
                partner_id=uuid.uuid4(),
                external_order_id=f"ord-{seed}",
                db=client.app.ctx.ledger,
            )
        return offer

    async def test_a_stock_below_what_was_redeemed_is_refused_whether_or_not_the_units_were_counted(
        self, shop, redeemed
    ):
        with pytest.raises(ValidationFailed) as refused:
            await update(shop, redeemed, total_stock=2)
        assert refused.value.details["fields"] == {"total_stock": "must be at least the 3 already redeemed"}
        assert (await Offer.get(id=redeemed["id"])).total_stock is None

    async def test_the_stock_set_counts_every_unit_redeemed_so_far(self, shop, redeemed):
        limited = await update(shop, redeemed, total_stock=5)
        assert (limited["total_stock"], limited["redeemed_count"], limited["remaining"]) == (5, 3, 2)
        assert limited["status"] == "active"
        assert await PendingUnit.filter(offer_id=redeemed["id"]).count() == 0
        row = await Offer.get(id=redeemed["id"])
        assert (row.redeemed_count, row.remaining) == (3, 2)
