"""Dense resident numbers (``resident_numbers``): given once, on first need, never reused."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from tortoise.exceptions import IntegrityError

from residents.models import ResidentNumber


async def number_of(resident_id: UUID) -> int:
    """The resident's number, giving one if the resident has none yet (safe under races)."""
    row = await ResidentNumber.get_or_none(resident_id=resident_id)
    if row is None:
        try:
            row = await ResidentNumber.create(resident_id=resident_id)
        except IntegrityError:  # another request gave it first
            row = await ResidentNumber.get(resident_id=resident_id)
    return row.number


async def numbers_of(resident_ids: Iterable[UUID]) -> dict[UUID, int]:
    """The numbers of many residents at once, giving the missing ones."""
    wanted = set(resident_ids)
    found = {r.resident_id: r.number for r in await ResidentNumber.filter(resident_id__in=list(wanted))}
    for resident_id in wanted - found.keys():
        found[resident_id] = await number_of(resident_id)
    return found
