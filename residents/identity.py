"""Real-name identity: the GB 11643-1999 citizen ID number, names, and how we mask them."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
# Province-level prefixes of GB/T 2260 (11 北京 … 82 澳门).
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
_NAME = re.compile(r"^[\u3400-\u9fffA-Za-z][\u3400-\u9fffA-Za-z·• .'-]{0,48}[\u3400-\u9fffA-Za-z]$")


def normalize_id_number(value: str) -> str:
    return value.strip().upper()


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 18-character citizen ID number, or None when it is."""
    if not isinstance(value, str):
        return "must be a string"
    number = normalize_id_number(value)
    if not _ID_SHAPE.match(number):
        return "must be 17 digits followed by a digit or X"
    if number[:2] not in PROVINCE_CODES:
        return "unknown region code"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "the birth date is not a real date"
    if born.year < 1900 or born > date.today():
        return "the birth date is out of range"
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK_CHARS[total % 11] != number[17]:
        return "the check digit does not match (GB 11643)"
    return None


def is_valid_id_number(value: str) -> bool:
    return id_number_problem(value) is None


def with_check_digit(first17: str) -> str:
    """Complete 17 digits with their GB 11643 check character (test data, demo seeds)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + _CHECK_CHARS[total % 11]


def name_problem(value: str) -> str | None:
    if not isinstance(value, str) or not _NAME.match(value.strip()):
        return "must be 2–50 letters or Chinese characters"
    return None


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_id_number(number: str) -> str:
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "*" * len(phone)
