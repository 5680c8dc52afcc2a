"""``FrameContext``: the resources the frame builds for every app (held on ``app.ctx``); the composition root extends it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from redis import asyncio as aioredis

from server.auth import TokenService
from server.crypto import FieldCipher, KeyedHasher
from server.metrics import Telemetry
from server.replica import ReadRouting
from server.settings import Settings
from server.storage import BlobStore, LocalBlobStore
from server.throttle import Throttle
from server.wechat import WeChat
from server.wechat_sandbox import WeChatSandbox


def system_clock() -> datetime:
    """The time now, in UTC: the clock of a running server."""
    return datetime.now(UTC)


@dataclass
class FrameContext:
    """Settings and keys (built with the app), connections (opened when the server starts), background tasks."""

    settings: Settings
    tokens: TokenService
    cipher: FieldCipher
    hasher: KeyedHasher
    blobs: BlobStore  # residents' evidence files, outside the database (ATTACHMENTS_DIR)
    redis: aioredis.Redis = field(init=False)
    throttle: Throttle = field(init=False)
    reads: ReadRouting = field(init=False)  # where reads may go: the replica or the primary (server.replica)
    wechat: WeChat = field(init=False)
    wechat_sandbox: WeChatSandbox | None = None
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    clock: Callable[[], datetime] = system_clock  # routes read the time here; tests set another clock
    telemetry: Telemetry = field(default_factory=Telemetry)  # what /metrics reads when scraped

    @classmethod
    def for_settings(cls, settings: Settings) -> Self:
        return cls(
            settings=settings,
            tokens=TokenService(settings),
            cipher=FieldCipher(settings.data_encryption_key),
            hasher=KeyedHasher(settings.data_hash_key),
            blobs=LocalBlobStore(settings.attachments_dir),
        )

    def start_task(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` in the background until the server stops (``stop_tasks``)."""
        self.background.append(asyncio.create_task(work))

    async def stop_tasks(self) -> None:
        for task in self.background:
            task.cancel()
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
            self.background.clear()
