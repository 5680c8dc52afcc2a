"""The merchant service without HTTP: merchants, stores and staff as regulators create them, and staff scope.

The ``client`` fixture only starts an app, which initialises the database.
"""

from __future__ import annotations

import uuid

import pytest

from merchants import service as merchants
from merchants.exceptions import MerchantNotFound, OwnerOnly, StoreNotYours, UsernameTaken
from merchants.models import Merchant, Staff, Store
from merchants.schemas import MerchantIn, StaffIn, StoreIn
from server.errors import ValidationFailed
from tests import factories as f


@pytest.fixture
async def shop(client):
    return await f.make_merchant_record(stores=2)


class TestCreate:
    async def test_a_merchant_and_its_stores_are_stored_as_given_names_trimmed(self, client):
        merchant = await merchants.create_merchant(
            MerchantIn(name="  玉龙雪山景区 ", category="scenic_spot", region="530700")
        )
        store = await merchants.create_store(
            merchant.id, StoreIn(name=" 东门 ", region="530702", address="玉龙县甘海子")
        )
        row = await Merchant.get(id=merchant.id)
        assert (row.name, row.category, row.region) == ("玉龙雪山景区", "scenic_spot", "530700")
        assert merchants.store_out(await Store.get(id=store.id)) == {
            "id": str(store.id),
            "merchant_id": str(merchant.id),
            "name": "东门",
            "region": "530702",
            "address": "玉龙县甘海子",
        }

    async def test_a_store_of_an_unknown_merchant_is_not_found(self, client):
        with pytest.raises(MerchantNotFound) as missing:
            await merchants.create_store(uuid.uuid4(), StoreIn(name="东门", region="530700"))
        assert (missing.value.status_code, missing.value.code) == (404, "MERCHANT_NOT_FOUND")
        assert await Store.all().count() == 0

    async def test_a_staff_account_keeps_its_stores_and_not_its_password(self, shop):
        first = str(shop.stores[0].id)
        out = await merchants.create_staff(
            shop.merchant.id,
            StaffIn(username="cashier-1", password="staff-password", role="cashier", store_ids=[first]),
        )
        assert {k: out[k] for k in ("merchant_id", "username", "role", "store_ids")} == {
            "merchant_id": str(shop.merchant.id),
            "username": "cashier-1",
            "role": "cashier",
            "store_ids": [first],
        }
        row = await Staff.get(id=out["id"])
        assert row.is_active and "staff-password" not in row.password_hash
        assert await merchants.staff_store_ids(row) == [first]

    async def test_a_username_taken_is_a_conflict_even_at_another_merchant(self, shop):
        other = await f.make_merchant_record(name="丽江古城酒店")
        with pytest.raises(UsernameTaken) as taken:
            await merchants.create_staff(
                other.merchant.id,
                StaffIn(username=shop.owner.username, password="another-password", role="owner"),
            )
        assert (taken.value.status_code, taken.value.code) == (409, "USERNAME_TAKEN")
        assert await Staff.filter(username=shop.owner.username).count() == 1
        assert await Staff.filter(merchant_id=other.merchant.id).count() == 1  # its own owner only

    async def test_a_store_of_another_merchant_is_refused(self, shop):
        other = await f.make_merchant_record(name="丽江古城酒店")
        theirs = str(other.stores[0].id)
        with pytest.raises(ValidationFailed) as refused:
            await merchants.create_staff(
                shop.merchant.id,
                StaffIn(username="cashier-2", password="staff-password", role="cashier", store_ids=[theirs]),
            )
        assert refused.value.details["fields"] == {"store_ids": f"not stores of this merchant: {theirs}"}
        assert not await Staff.exists(username="cashier-2")

    async def test_managers_and_cashiers_need_a_store_and_store_ids_must_be_ids(self, shop):
        with pytest.raises(ValidationFailed) as no_store:
            await merchants.create_staff(
                shop.merchant.id, StaffIn(username="manager-1", password="staff-password", role="manager")
            )
        assert no_store.value.details["fields"] == {
            "store_ids": "managers and cashiers need at least one store"
        }
        with pytest.raises(ValidationFailed) as not_an_id:
            await merchants.create_staff(
                shop.merchant.id,
                StaffIn(username="manager-1", password="staff-password", role="manager", store_ids=["7"]),
            )
        assert not_an_id.value.details["fields"] == {"store_ids.0": "not a store id"}

    async def test_staff_of_an_unknown_merchant_is_not_found(self, client):
        with pytest.raises(MerchantNotFound):
            await merchants.create_staff(
                uuid.uuid4(), StaffIn(username="owner-x", password="owner-password", role="owner")
            )


class TestScope:
    async def test_an_owner_works_in_every_store_also_later_ones(self, shop):
        later = await merchants.create_store(shop.merchant.id, StoreIn(name="西门", region="530700"))
        assert await merchants.staff_store_ids(shop.owner) == sorted(str(s.id) for s in [*shop.stores, later])
        assert (await merchants.require_store(shop.owner, later.id)).id == later.id
        assert await merchants.visible_store_ids(shop.owner, None) is None

    async def test_a_cashier_works_only_in_the_stores_assigned(self, shop):
        first, second = shop.stores
        cashier = await f.make_staff_record(shop.merchant.id, store_ids=[first.id])
        assert (await merchants.require_store(cashier, first.id)).id == first.id
        with pytest.raises(StoreNotYours) as refused:
            await merchants.require_store(cashier, second.id)
        assert (refused.value.status_code, refused.value.code) == (403, "STORE_NOT_YOURS")
        assert await merchants.visible_store_ids(cashier, None) == [first.id]
        with pytest.raises(StoreNotYours):
            await merchants.visible_store_ids(cashier, second.id)

    async def test_no_one_works_in_a_store_of_another_merchant(self, shop):
        other = await f.make_merchant_record(name="丽江古城酒店")
        with pytest.raises(StoreNotYours):
            await merchants.require_store(shop.owner, other.stores[0].id)
        with pytest.raises(StoreNotYours):
            await merchants.require_store(shop.owner, uuid.uuid4())

    async def test_only_the_owner_passes_require_owner(self, shop):
        merchants.require_owner(shop.owner)
        for role in ("manager", "cashier"):
            staff = await f.make_staff_record(shop.merchant.id, role=role, store_ids=[shop.stores[0].id])
            with pytest.raises(OwnerOnly) as refused:
                merchants.require_owner(staff)
            assert (refused.value.status_code, refused.value.code) == (403, "FORBIDDEN")
