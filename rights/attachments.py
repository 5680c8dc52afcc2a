"""Evidence files residents attach to their cases (objections, repairs, self-reports).

A file is judged from its bytes, never from its name or the type the client declared: JPEG, PNG
or PDF by their signatures, at most 5 MB; anything else is refused before anything is stored.
The bytes live in the app's blob store (``server.storage``), the row here names them; only the
owner reads a file back, and regulators, whose every read shows in the owner's access log.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rights import events
from rights.exceptions import AttachmentNotFound, AttachmentTooLarge, AttachmentType
from rights.models import Attachment
from server.dbtypes import DbConn
from server.errors import ValidationFailed
from server.storage import BlobStore, new_key

MAX_BYTES = 5 * 1024 * 1024
JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
SIGNATURES = ((b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG), (b"%PDF-", PDF))
EXTENSIONS = {JPEG: "jpg", PNG: "png", PDF: "pdf"}
READ_KIND = "attachment"  # what a regulator's read of a file says in the resident's access log


def content_type_of(data: bytes) -> str:
    """The type the bytes are (their signature), whatever the file was called; 415 ``ATTACHMENT_TYPE`` otherwise."""
    for signature, content_type in SIGNATURES:
        if data.startswith(signature):
            return content_type
    raise AttachmentType()


@dataclass(frozen=True)
class StoredFile:
    """A file as it is given back: its bytes, its type judged at upload, a name, and how to show it."""

    data: bytes
    content_type: str
    filename: str
    inline: bool  # images open in place; a PDF is downloaded, never rendered by the browser


def _stored(a: Attachment, data: bytes) -> StoredFile:
    return StoredFile(
        data=data,
        content_type=a.content_type,
        filename=f"{a.id}.{EXTENSIONS.get(a.content_type, 'bin')}",
        inline=a.content_type in (JPEG, PNG),
    )


def attachment_out(a: Attachment) -> dict[str, Any]:
    return {"id": a.id, "content_type": a.content_type, "size": a.size, "created_at": a.created_at}


async def upload(resident_id: uuid.UUID, data: bytes, *, store: BlobStore, now: datetime) -> dict[str, Any]:
    """``POST /mp/attachments``: 201; 413 ``ATTACHMENT_TOO_LARGE``, 415 ``ATTACHMENT_TYPE`` with nothing stored.

    The blob is written before its row: a row never names bytes that are not there. Should the row
    fail, the blob goes; should the process die in between, an unnamed blob is all that is left.
    """
    if len(data) > MAX_BYTES:
        raise AttachmentTooLarge()
    content_type = content_type_of(data)
    key = new_key()
    await store.put(key, data)
    try:
        attachment = await Attachment.create(
            id=uuid.uuid4(),
            resident_id=resident_id,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            storage_key=key,
            created_at=now,
        )
    except BaseException:
        await store.delete(key)
        raise
    return attachment_out(attachment)


async def one_of_mine(resident_id: uuid.UUID, attachment_id: uuid.UUID, *, store: BlobStore) -> StoredFile:
    """The resident's own file; another resident's is 404 like one that does not exist."""
    found = await Attachment.get_or_none(id=attachment_id, resident_id=resident_id)
    if found is None:
        raise AttachmentNotFound()
    return _stored(found, await store.get(found.storage_key))


async def for_a_regulator(
    attachment_id: uuid.UUID, *, admin_id: uuid.UUID, store: BlobStore, now: datetime
) -> StoredFile:
    """Any resident's file, for a regulator; the read shows in the resident's access log."""
    found = await Attachment.get_or_none(id=attachment_id)
    if found is None:
        raise AttachmentNotFound()
    data = await store.get(found.storage_key)
    await events.regulator_read(
        resident_id=found.resident_id, admin_id=admin_id, case_kind=READ_KIND, case_id=found.id, at=now
    )
    return _stored(found, data)


async def owned(resident_id: uuid.UUID, ids: Sequence[uuid.UUID], conn: DbConn | None = None) -> list[str]:
    """The ids as strings if every one is an upload of this resident; 422 ``attachment_ids`` otherwise."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = set(
        await Attachment.filter(id__in=wanted, resident_id=resident_id)
        .using_db(conn)
        .values_list("id", flat=True)
    )
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise ValidationFailed({"attachment_ids": f"not uploads of yours: {', '.join(missing)}"})
    return [str(i) for i in wanted]
