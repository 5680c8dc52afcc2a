"""GET /api/v1/merchant/stats?format=csv: the merchant's own figures as a spreadsheet, the same as the JSON."""

from __future__ import annotations

import csv
import io

from tests import factories as f

MERCHANT = f.MERCHANT


class TestMerchantStatsCsv:
    async def test_the_csv_has_a_bom_a_header_and_the_json_figures_row_by_row(self, client):
        shop = await f.make_shop(client)
        ticket = await f.make_offer(client, shop, type="amount_off", value=500, label="=立减5元")
        waiver = await f.make_offer(client, shop, type="deposit_waiver", value=30000, label="免押金")
        scans = [await f.make_scanned_pass(client, shop, 300 + i) for i in range(3)]
        ids = []
        for s in scans:
            r = await f.redeem(client, shop["cashier"], s["scan_id"], ticket["id"], order_amount_fen=2000)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        assert (await f.redeem(client, shop["cashier"], scans[0]["scan_id"], waiver["id"])).status_code == 201
        r = await client.post(
            f"{MERCHANT}/redemptions/{ids[2]}/reverse", json={"reason": "退单"}, headers=shop["cashier"]
        )
        assert r.status_code == 200, r.text

        stats = (await client.get(f"{MERCHANT}/stats", headers=shop["headers"])).json()
        r = await client.get(f"{MERCHANT}/stats", params={"format": "csv"}, headers=shop["headers"])
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0] == [
            "分组",
            "日期",
            "优惠编号",
            "优惠",
            "类型",
            "核销笔数",
            "撤销笔数",
            "优惠金额(分)",
            "免押金额(分)",
        ]
        by_offer = {row[2]: row for row in rows[1:] if row[0] == "按优惠"}
        assert by_offer[ticket["id"]][3:] == [
            "'=立减5元",
            "amount_off",
            "2",
            "1",
            "1000",
            "0",
        ]  # a formula is quoted
        assert by_offer[waiver["id"]][3:] == ["免押金", "deposit_waiver", "1", "0", "0", "30000"]
        days = [row for row in rows[1:] if row[0] == "按日"]
        assert [row[1] for row in days] == [d["day"] for d in stats["by_day"]]
        assert rows[-1] == ["合计", "", "", "", "", "3", "1", "1000", "30000"]
        totals = stats["totals"]
        assert [totals[k] for k in ("redemptions", "reversed", "discount_fen", "deposit_waived_fen")] == [
            3,
            1,
            1000,
            30000,
        ]
        # No resident appears in the merchant's spreadsheet.
        assert "resident" not in r.text
