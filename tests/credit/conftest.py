"""Factories for the credit tests: record items as a source sends them, the admin import call."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from credit.scoring import LOCAL_TZ

ADMIN = "/api/v1/admin"
MP = "/api/v1/mp"


def today():
    return datetime.now(LOCAL_TZ).date()


@pytest.fixture
def record() -> Callable[..., dict[str, Any]]:
    """A credit record item (API body item / JSONL line); decided ``days_ago`` days before today."""
    counter = itertools.count(1)

    def make(
        id_number: str,
        *,
        category: str = "admin_penalty",
        severity: str | None = "general",
        days_ago: int = 10,
        source_record_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        n = next(counter)
        item = {
            "source": "yn-credit",
            "source_record_id": source_record_id or f"r-{n}",
            "subject_type": "natural_person",
            "id_number": id_number,
            "name": "张三",
            "category": category,
            "title": f"记录{n}",
            "decided_at": (today() - timedelta(days=days_ago)).isoformat(),
            **extra,
        }
        if severity is not None:
            item["severity"] = severity
        return item

    return make


@pytest.fixture
async def admin(client) -> dict[str, str]:
    return await client.admin_headers()


@pytest.fixture
def post_records(client, admin) -> Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]:
    async def post(items: list[dict[str, Any]]) -> dict[str, Any]:
        r = await client.post(f"{ADMIN}/credit-records", json={"items": items}, headers=admin)
        assert r.status_code == 200, r.text
        return r.json()

    return post
