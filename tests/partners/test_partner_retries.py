"""A partner request that failed with 503 is retried without a double effect.

The database connection is lost at three moments: while the nonce is being stored (after Redis
took it), before the redemption commits, and after it committed but before the answer. Each time
the partner is answered 503 with Retry-After; a retry with a new nonce and the same order
(``external_order_id``, the partner API's idempotency key) is served, and the ledger holds one
redemption. A nonce whose request was refused before it was stored may be sent again.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from partners import signing
from redemptions import service as ledger
from tests import factories as f
from tests.factories import ADMIN, PARTNER, granted_ref, send_signed, tourism_partner

pytestmark = [pytest.mark.integration]


def lost_connection() -> Exception:
    return asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


def assert_unavailable(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and int(r.headers["Retry-After"]) > 0


@pytest.fixture
async def world(client) -> dict[str, Any]:
    shop = await f.make_merchant(client, name="玉龙雪山景区")
    offer = await f.make_offer(client, shop, type="amount_off", value=500, label="立减5元", total_stock=10)
    partner = await tourism_partner(client, "一部手机游云南")
    r = await client.put(
        f"{ADMIN}/partners/{partner['id']}/merchants",
        json={"merchant_ids": [shop["id"]]},
        headers=await client.admin_headers(),
    )
    assert r.status_code == 200, r.text
    resident = await f.make_resident(client, 211)
    ref = await granted_ref(client, resident, partner, ("redemption:write",))
    return {"partner": partner, "offer": offer, "ref": ref}


def redeem(client, world: dict[str, Any], order: str, *, nonce: str | None = None):
    body = {
        "partner_user_ref": world["ref"],
        "offer_id": world["offer"]["id"],
        "external_order_id": order,
        "order_amount_fen": 10_000,
    }
    return send_signed(client, world["partner"], "POST", f"{PARTNER}/redemptions", body, nonce=nonce)


async def redemptions_of(order: str) -> int:
    from redemptions.models import Redemption

    return await Redemption.filter(external_order_id=order).count()


class TestARetryAfter503:
    async def test_the_nonce_not_stored_for_a_lost_connection_may_be_sent_again(
        self, client, world, monkeypatch
    ):
        real = signing.PartnerNonce.create
        calls = []

        async def create(**kwargs: Any) -> Any:
            calls.append(kwargs)
            if len(calls) == 1:
                raise lost_connection()
            return await real(**kwargs)

        monkeypatch.setattr(signing.PartnerNonce, "create", create)
        nonce = f"n-{uuid.uuid4().hex}"
        assert_unavailable(await redeem(client, world, "order-1", nonce=nonce))
        r = await redeem(client, world, "order-1", nonce=nonce)  # the very same signed request
        assert r.status_code == 201, r.text
        assert await redemptions_of("order-1") == 1
        replayed = await redeem(client, world, "order-1", nonce=nonce)  # stored now: a replay
        assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "NONCE_REUSED"

    @pytest.mark.parametrize("lost", ["before the commit", "after the commit"])
    async def test_a_new_nonce_and_the_same_order_redeem_once(self, client, world, monkeypatch, lost):
        real = ledger._redeem
        calls = []

        async def _redeem(request: Any) -> Any:
            calls.append(request)
            if len(calls) == 1:
                if lost == "after the commit":
                    await real(request)  # written; the answer never reaches the partner
                raise lost_connection()
            return await real(request)

        monkeypatch.setattr(ledger, "_redeem", _redeem)
        nonce = f"n-{uuid.uuid4().hex}"
        assert_unavailable(await redeem(client, world, "order-2", nonce=nonce))
        # The nonce was used by a request that got as far as the ledger: not again.
        again = await redeem(client, world, "order-2", nonce=nonce)
        assert again.status_code == 401 and again.json()["error"]["code"] == "NONCE_REUSED"

        retried = await redeem(client, world, "order-2")  # a new nonce, the same order
        assert retried.status_code == (200 if lost == "after the commit" else 201), retried.text
        once_more = await redeem(client, world, "order-2")
        assert once_more.status_code == 200 and once_more.json()["id"] == retried.json()["id"]
        assert await redemptions_of("order-2") == 1
