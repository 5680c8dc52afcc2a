"""Fixtures of the credit tests: record items as a source sends them (``factories.credit_record_item``), the admin import call."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from credit.scoring import LOCAL_TZ
from tests import factories as f

ADMIN = "/api/v1/admin"
MP = "/api/v1/mp"


def today():
    return datetime.now(LOCAL_TZ).date()


@pytest.fixture
def record() -> Callable[..., dict[str, Any]]:
    """A credit record item (API body item / JSONL line); decided ``days_ago`` days before today."""
    counter = itertools.count(1)

    def make(id_number: str, **kwargs: Any) -> dict[str, Any]:
        return f.credit_record_item(id_number, n=next(counter), **kwargs)

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
