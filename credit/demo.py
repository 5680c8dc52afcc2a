"""Demo credit records (``xinyi seed-demo``): three ID numbers with records that put them in different tiers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from server.crypto import FieldCipher, KeyedHasher
from server.settings import Settings

# For the 1st, 2nd and 3rd demo person: (category, title, days ago, severity or None).
_RECORDS: tuple[tuple[tuple[str, str, int, str | None], ...], ...] = (
    (
        ("commendation", "丽江市优秀志愿者表彰", 120, None),
        ("red_list", "守信激励对象名单", 300, None),
        ("admin_penalty", "景区内违规停车", 30, "minor"),
    ),
    (
        ("admin_penalty", "未按规定办理营业执照年报", 60, "general"),
        ("admin_penalty", "占道经营", 20, "general"),
    ),
    (("black_list", "失信被执行人", 90, "serious"),),
)


async def seed_demo_records(settings: Settings, people: Sequence[tuple[str, str]]) -> None:
    """Records for each (ID number, name) in ``people``, by position (idempotent: source ``demo``)."""
    from credit.scoring import LOCAL_TZ
    from credit.service import import_records

    today = datetime.now(LOCAL_TZ).date()
    items: list[dict[str, Any]] = []
    for person, ((id_number, name), records) in enumerate(zip(people, _RECORDS, strict=False)):
        for n, (category, title, days_ago, severity) in enumerate(records):
            item: dict[str, Any] = {
                "source": "demo",
                # The first person's ids are those earlier seeds used, so a laptop seeded before keeps one set.
                "source_record_id": f"demo-{n + 1}" if person == 0 else f"demo-{person}-{n}",
                "id_number": id_number,
                "name": name,
                "category": category,
                "title": title,
                "decided_at": (today - timedelta(days=days_ago)).isoformat(),
            }
            if severity:
                item["severity"] = severity
            items.append(item)
    await import_records(
        items,
        hasher=KeyedHasher(settings.data_hash_key),
        cipher=FieldCipher(settings.data_encryption_key),
        now=datetime.now(UTC),
    )
