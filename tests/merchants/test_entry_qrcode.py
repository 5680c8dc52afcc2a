"""GET /api/v1/merchant/stores/{id}/entry-qrcode: a wxacode from WeChat, fetched once per store."""

from __future__ import annotations

import uuid
from io import BytesIO

import pytest
import zxingcpp
from PIL import Image

from tests import factories as f

MERCHANT = "/api/v1/merchant"
WXACODE = ("POST", "/wxa/getwxacodeunlimit")


@pytest.fixture
def wxacode_calls(wechat_sandbox):
    """Counts the sandbox's getwxacodeunlimit calls (WeChat bills and rate-limits them)."""
    calls: list[bytes] = []
    route = wechat_sandbox._routes[WXACODE]

    def counted(request):
        calls.append(request.body)
        return route(request)

    wechat_sandbox._routes[WXACODE] = counted
    yield calls
    wechat_sandbox._routes[WXACODE] = route


class TestEntryQrcode:
    async def test_a_png_whose_scene_is_the_store_fetched_from_wechat_once(self, client, wxacode_calls):
        m = await f.make_merchant(client, stores=2)
        first_store, second_store = (s["id"] for s in m["stores"])
        url = f"{MERCHANT}/stores/{first_store}/entry-qrcode"
        first = await client.get(url, headers=m["headers"])
        again = await client.get(url, headers=m["headers"])
        assert first.status_code == again.status_code == 200
        assert first.headers["content-type"] == "image/png" and first.content == again.content
        decoded = zxingcpp.read_barcodes(Image.open(BytesIO(first.content)))
        assert [d.text for d in decoded] == [uuid.UUID(first_store).hex]
        assert len(wxacode_calls) == 1
        other = await client.get(f"{MERCHANT}/stores/{second_store}/entry-qrcode", headers=m["headers"])
        assert other.status_code == 200 and other.content != first.content and len(wxacode_calls) == 2

    async def test_only_staff_of_the_store_get_it(self, client, wxacode_calls):
        m = await f.make_merchant(client, stores=2)
        stranger = await f.make_merchant(client, name="丽江古城酒店", category="hotel")
        cashier = await f.make_staff(client, m, store_ids=[m["stores"][0]["id"]])
        for headers, store_id in (
            (stranger["headers"], m["stores"][0]["id"]),
            (cashier, m["stores"][1]["id"]),
        ):
            r = await client.get(f"{MERCHANT}/stores/{store_id}/entry-qrcode", headers=headers)
            assert r.status_code == 403 and r.json()["error"]["code"] == "STORE_NOT_YOURS"
        assert (
            await client.get(f"{MERCHANT}/stores/{uuid.uuid4()}/entry-qrcode", headers=cashier)
        ).status_code == 403
        assert wxacode_calls == []
