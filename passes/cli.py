"""``xinyi rotate-pass-key``: create a pass signing key (the first one, or the next one)."""

from __future__ import annotations

import argparse

from server.cli import Commands, WithDb
from server.settings import Settings

COMMANDS = Commands()


@COMMANDS.command(
    "rotate-pass-key", "create a new pass signing key; the previous ones verify until their passes expired"
)
def rotate_pass_key(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from passes.keys import RETIRED_KEY_VERIFIES_S
    from passes.keys import rotate_pass_key as rotate
    from server.crypto import FieldCipher

    async def work() -> int:
        key = await rotate(FieldCipher(settings.data_encryption_key))
        print(
            f"pass signing key {key.kid} is active; earlier keys keep verifying for {RETIRED_KEY_VERIFIES_S} s"
        )
        return 0

    return with_db(work)


@COMMANDS.command(
    "rotate-report-key",
    "create a new signing key for partners' credit reports; the previous ones verify until their reports expired",
)
def rotate_report_key(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from passes.keys import RETIRED_REPORT_KEY_VERIFIES_S
    from passes.keys import rotate_report_key as rotate
    from server.crypto import FieldCipher

    async def work() -> int:
        key = await rotate(FieldCipher(settings.data_encryption_key))
        print(
            f"report signing key {key.kid} is active; earlier keys keep verifying for "
            f"{RETIRED_REPORT_KEY_VERIFIES_S // 86400} days"
        )
        return 0

    return with_db(work)
