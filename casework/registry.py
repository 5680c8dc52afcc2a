"""Every kind's case source, by kind: the modules below each export ``SOURCES`` (``casework.sources.CaseSource``).

Adding a kind's cases to the queue is one line here: its module's name (``casework/charge_disputes.py``,
the deposits' ``charge_dispute`` cases, came so). A kind of ``KINDS`` with no source has an empty queue.
"""

from __future__ import annotations

import importlib

from casework.sources import KINDS, CaseSource

SOURCE_MODULES = (
    "casework.rights_cases",
    "casework.breaches",
    "casework.charge_disputes",
)


def _sources() -> dict[str, CaseSource]:
    found: dict[str, CaseSource] = {}
    for name in SOURCE_MODULES:
        for source in importlib.import_module(name).SOURCES:
            if source.kind not in KINDS or source.kind in found:
                raise RuntimeError(
                    f"{name}: case kind {source.kind!r} unknown to casework.sources.KINDS or given twice"
                )
            found[source.kind] = source
    return found


SOURCES: dict[str, CaseSource] = _sources()
"""The sources by kind, in ``KINDS``' order of the modules' listing."""


def sources(kind: str | None = None) -> list[CaseSource]:
    """The source of ``kind`` (none yet: an empty list), or every source in ``KINDS``' order."""
    if kind is not None:
        return [SOURCES[kind]] if kind in SOURCES else []
    return [SOURCES[k] for k in KINDS if k in SOURCES]
