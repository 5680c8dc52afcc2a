"""Merchant categories, staff roles and region codes (GB/T 2260) from the contract's vocabulary."""

from __future__ import annotations

import re

from residents.identity import PROVINCE_CODES

MERCHANT_CATEGORIES = ("scenic_spot", "hotel", "shuttle", "restaurant", "shop", "travel_agency", "rental")
STAFF_ROLES = ("owner", "manager", "cashier")
_REGION = re.compile(r"^\d{6}$")

# Yunnan's prefecture-level divisions, for labels in statistics.
YUNNAN_PREFECTURES = {
    "530100": "昆明市",
    "530300": "曲靖市",
    "530400": "玉溪市",
    "530500": "保山市",
    "530600": "昭通市",
    "530700": "丽江市",
    "530800": "普洱市",
    "530900": "临沧市",
    "532300": "楚雄州",
    "532500": "红河州",
    "532600": "文山州",
    "532800": "西双版纳州",
    "532900": "大理州",
    "533100": "德宏州",
    "533300": "怒江州",
    "533400": "迪庆州",
}


def region_problem(code: object) -> str | None:
    """Why ``code`` is not a 6-digit administrative division code, or None."""
    if not isinstance(code, str) or not _REGION.match(code):
        return "must be a 6-digit administrative division code (GB/T 2260), e.g. 530100"
    if code[:2] not in PROVINCE_CODES:
        return "unknown province prefix"
    if code.endswith("0000") and code != code[:2] + "0000":
        return "invalid division code"
    return None
