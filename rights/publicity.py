"""信用公示: the public's view of the red and black lists.

Only entries in state ``active`` are shown; a ``notified`` entry (still in its objection window) and an
``exited`` one (publicity over, repaired, objection upheld, revoked) are not. Nothing identifies the
person but a masked name: never an ID number, its hash, the subject or the record.

Names are masked by keeping the first character and writing one ``*`` for each other character (张三 →
张*, 张三丰 → 张**, 欧阳娜娜 → 欧***), as the contract's example 张* does; a one-character name is
still followed by one ``*``. The surname is what the public already sees on a decision notice.

The lists are versioned by the newest case event of the list entries (``list_version``): every
transition of an entry (identified, activated, exited, adopted from the provincial platform) writes
one, in the transaction that makes it, so a cache keyed by the version shows an exit at once.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from credit.models import CreditRecord, Subject
from rights import events
from rights.lists import ACTIVE
from rights.models import CaseEvent, ListEntry
from server.crypto import FieldCipher
from server.http import page
from server.pagination import keyset_page

log = logging.getLogger(__name__)

ListKind = Literal["red", "black"]


def mask_name(name: str | None) -> str:
    """The first character and one ``*`` for each other (at least one): 张三 → 张*, 张三丰 → 张**."""
    name = (name or "").strip()
    if not name:
        return "*"
    return name[0] + "*" * max(1, len(name) - 1)


def region_prefix(code: str) -> str:
    """A GB/T 2260 code as the prefix it rolls up: 530000 → 53 (province), 532900 → 5329, 532901 → 532901."""
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


async def list_version() -> int:
    """Changes with every transition of any list entry (the id of the newest list-entry case event)."""
    newest: Any = (
        await CaseEvent.filter(case_kind=events.LIST_ENTRY)
        .order_by("-id")
        .first()
        .values_list("id", flat=True)
    )
    return int(newest or 0)


def _names(subjects: list[tuple[int, str, str | None]], cipher: FieldCipher) -> dict[int, str]:
    names: dict[int, str] = {}
    for subject_id, id_hash, name_enc in subjects:
        plain: str | None = None
        if name_enc:
            try:
                plain = cipher.decrypt(name_enc, aad=f"credit_subject:{id_hash}:name")
            except Exception:  # a name that cannot be read is shown fully masked, never in any other form
                log.warning("a list subject's name could not be decrypted")
        names[subject_id] = mask_name(plain)
    return names


async def public_page(
    kind: ListKind, *, region: str | None, limit: int, cursor: str | None, cipher: FieldCipher
) -> dict[str, Any]:
    """``GET /public/red-list`` and ``/public/black-list``: active entries, newest first, names masked."""
    query = ListEntry.filter(kind=kind, state=ACTIVE)
    if region:
        query = query.filter(region__startswith=region_prefix(region))
    rows, next_cursor = await keyset_page(query, limit=limit, cursor=cursor)
    records = {r.id: r for r in await CreditRecord.filter(id__in=[e.record_id for e in rows])}
    subjects = await Subject.filter(id__in={e.subject_id for e in rows}).values_list(
        "id", "id_hash", "name_enc"
    )
    names = _names(list(subjects), cipher)
    items = [
        {
            "name_masked": names.get(e.subject_id, "*"),
            "category": e.list_category,
            "title": records[e.record_id].title,
            "basis": e.basis,
            "region": e.region,
            "decided_at": records[e.record_id].decided_at,
            "publicity_until": records[e.record_id].publicity_until,
        }
        for e in rows
        if e.record_id in records
    ]
    return page(items, next_cursor)
