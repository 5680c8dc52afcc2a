"""Demo credit records (``xinyi seed-demo``): bind the printed ID number in the mini-program to see them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from residents.identity import with_check_digit
from server.crypto import FieldCipher, KeyedHasher
from server.settings import Settings

DEMO_ID_NUMBER = with_check_digit("53070219900101123")
DEMO_NAME = "和志强"


async def seed_demo_records(settings: Settings) -> None:
    """A commendation, a red-list entry and a minor penalty for the demo ID number (idempotent)."""
    from credit.scoring import LOCAL_TZ
    from credit.service import import_records

    today = datetime.now(LOCAL_TZ).date()

    def item(n: int, category: str, title: str, days_ago: int, severity: str | None = None) -> dict:
        record = {
            "source": "demo",
            "source_record_id": f"demo-{n}",
            "id_number": DEMO_ID_NUMBER,
            "name": DEMO_NAME,
            "category": category,
            "title": title,
            "decided_at": (today - timedelta(days=days_ago)).isoformat(),
        }
        if severity:
            record["severity"] = severity
        return record

    result = await import_records(
        [
            item(1, "commendation", "丽江市优秀志愿者表彰", 120),
            item(2, "red_list", "守信激励对象名单", 300),
            item(3, "admin_penalty", "景区内违规停车", 30, "minor"),
        ],
        hasher=KeyedHasher(settings.data_hash_key),
        cipher=FieldCipher(settings.data_encryption_key),
        now=datetime.now(UTC),
    )
    if result.created:
        print(f"demo credit records: bind ID number {DEMO_ID_NUMBER} ({DEMO_NAME}) to see them")
