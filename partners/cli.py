"""``xinyi webhooks-worker``: deliver partner webhooks from a process of its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from partners.webhooks import WebhookConfig, WebhookWorker
from server.cli import Commands, WithDb
from server.crypto import FieldCipher
from server.settings import Settings

COMMANDS = Commands()


def _worker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="deliver what is due now, then exit")


@COMMANDS.command(
    "webhooks-worker", "deliver partner webhooks (several may run at once on PostgreSQL)", _worker_args
)
def webhooks_worker(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    async def work() -> int:
        worker = WebhookWorker(
            cipher=FieldCipher(settings.data_encryption_key),
            config=WebhookConfig.from_settings(settings),
            database_url=settings.effective_database_url,
        )
        if args.once:
            try:
                sent = await worker.drain()
            finally:
                await worker.close()
            print(f"{sent} webhook attempts made")
            return 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, worker.stop)
        print(f"webhook worker {worker.id} running (Ctrl-C stops it)", flush=True)
        await worker.run()
        return 0

    return with_db(work)
