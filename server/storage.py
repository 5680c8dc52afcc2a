"""Blobs kept outside the database (residents' evidence files) behind a small interface.

``BlobStore`` is what the domains use; ``LocalBlobStore`` keeps each blob as a file under one
directory (``ATTACHMENTS_DIR``). An S3-compatible store is a drop-in: the same three calls.
Keys are made here (``new_key``), never from what a client sent, and a store refuses any other
shape of key, so a key cannot walk out of its directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}$")


class BlobMissing(LookupError):
    """No blob is stored under this key."""


def new_key() -> str:
    """A fresh key: a random UUID in hex, sharded two levels deep (``ab/cd/abcd…``) so no directory grows huge."""
    hex_ = uuid.uuid4().hex
    return f"{hex_[:2]}/{hex_[2:4]}/{hex_}"


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError("not a blob key made by server.storage.new_key")
    return key


class BlobStore(Protocol):
    """Where blobs live: ``put`` replaces whole blobs atomically, ``get`` raises ``BlobMissing``, ``delete`` is idempotent."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


class LocalBlobStore:
    """Blobs as files under ``directory`` (created on first write, 0700), each file 0600.

    A write goes to a temporary file in the blob's own directory, is flushed to disk, then renamed
    over the key: a reader sees the whole blob or none, never a torn one, even if the process dies.
    The file system calls run in a thread, off the event loop.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path_of(self, key: str) -> Path:
        return self.directory / _checked(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self.path_of(key), data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, self.path_of(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    def _put(self, path: Path, data: bytes) -> None:
        # Each level by itself: mkdir(parents=True) would make the shards with the default mode, not 0700.
        folder = self.directory
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for part in path.parent.relative_to(self.directory).parts:
            folder = folder / part
            folder.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)

    @staticmethod
    def _get(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobMissing(path.name) from None
