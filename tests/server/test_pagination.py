"""The one keyset cursor: what it carries survives the round trip, and a forged one is a 422, never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from server.errors import ValidationFailed
from server.http import encode_cursor
from server.pagination import _decode, _encode

KEYS = [("at", datetime), ("day", date), ("n", int), ("version", str), ("id", uuid.UUID)]


def test_every_kind_of_key_survives_a_cursor():
    values = [
        datetime(2026, 12, 3, 9, 0, tzinfo=timezone(timedelta(hours=8))),
        date(2026, 1, 2),
        41,
        "v2",
        uuid.uuid4(),
    ]
    decoded = _decode(encode_cursor(*(_encode(v) for v in values)), KEYS)
    assert decoded == values
    assert decoded[0].tzinfo is not None and decoded[0].astimezone(UTC).hour == 1


@pytest.mark.parametrize(
    "parts",
    [
        ["not a time", "2026-01-02", 1, "v", str(uuid.uuid4())],
        [
            "2026-12-03T01:00:00+00:00",
            "2026-01-02",
            "1",
            "v",
            str(uuid.uuid4()),
        ],  # an id that is not a number
        ["2026-12-03T01:00:00+00:00", "2026-01-02", True, "v", str(uuid.uuid4())],
        ["2026-12-03T01:00:00+00:00", "2026-01-02", 1, 7, str(uuid.uuid4())],
        ["2026-12-03T01:00:00+00:00", "2026-01-02", 1, "v", "not-a-uuid"],
        ["2026-12-03T01:00:00+00:00", None, 1, "v", str(uuid.uuid4())],
    ],
)
def test_a_forged_cursor_is_a_validation_error(parts):
    with pytest.raises(ValidationFailed) as raised:
        _decode(encode_cursor(*parts), KEYS)
    assert raised.value.details["fields"] == {"cursor": "Invalid cursor."}


def test_a_cursor_of_another_shape_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        _decode(encode_cursor("2026-12-03T01:00:00+00:00"), KEYS)
    with pytest.raises(ValidationFailed):
        _decode("%%%not base64", KEYS)
