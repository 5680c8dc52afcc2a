"""What the redemption ledger (issue 6) relies on: loading a scan that may still be redeemed, once per pass."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from passes.exceptions import ScanExpired, ScanNotFound, ScanRefused
from passes.models import Scan
from passes.service import SCAN_TTL_S, load_valid_scan
from tests import factories as f


@pytest.fixture
async def scanned(client):
    m = await f.make_merchant(client)
    resident = await f.make_resident(client, 71)
    token = (await f.issue_pass(client, resident["headers"]))["token"]
    r = await f.make_scan(client, m["headers"], token, m["stores"][0]["id"])
    assert r.status_code == 201, r.text
    return m, resident, token, r.json()


class TestLoadValidScan:
    async def test_an_accepted_scan_of_this_merchant_loads_with_its_resident_and_tier(self, client, scanned):
        m, resident, _, body = scanned
        scan = await load_valid_scan(
            uuid.UUID(body["scan_id"]), merchant_id=uuid.UUID(m["id"]), now=datetime.now(UTC)
        )
        assert (str(scan.resident_id), scan.tier, str(scan.store_id)) == (
            resident["resident"]["id"],
            "A",
            m["stores"][0]["id"],
        )
        assert scan.expires_at == datetime.fromisoformat(body["expires_at"])

    async def test_another_merchant_cannot_use_it(self, client, scanned):
        _, _, _, body = scanned
        with pytest.raises(ScanNotFound):
            await load_valid_scan(uuid.UUID(body["scan_id"]), merchant_id=uuid.uuid4(), now=datetime.now(UTC))

    async def test_it_expires(self, client, scanned):
        m, _, _, body = scanned
        later = datetime.now(UTC) + timedelta(seconds=SCAN_TTL_S + 1)
        with pytest.raises(ScanExpired) as exc:
            await load_valid_scan(uuid.UUID(body["scan_id"]), merchant_id=uuid.UUID(m["id"]), now=later)
        assert exc.value.status_code == 409 and exc.value.code == "SCAN_EXPIRED"

    async def test_a_refused_scan_cannot_be_redeemed(self, client, scanned):
        m, _, token, _ = scanned
        assert (await f.make_scan(client, m["headers"], token, m["stores"][0]["id"])).status_code == 409
        refused = await Scan.get(outcome="refused")
        with pytest.raises(ScanRefused):
            await load_valid_scan(refused.id, merchant_id=uuid.UUID(m["id"]), now=datetime.now(UTC))


class TestConcurrentScans:
    async def test_a_pass_scanned_at_two_counters_at_once_is_accepted_once(self, client):
        m = await f.make_merchant(client, stores=2)
        resident = await f.make_resident(client, 72)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        answers = await asyncio.gather(
            *(f.make_scan(client, m["headers"], token, m["stores"][i % 2]["id"]) for i in range(6))
        )
        assert sorted(r.status_code for r in answers) == [201] + [409] * 5
        assert await Scan.filter(outcome="accepted").count() == 1
