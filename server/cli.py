"""What a command of the ``xinyi`` command line is; the domains declare theirs, the composition root (``xinyi.cli``) gathers them."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from server.settings import Settings

# Runs ``work`` with the database initialised (the composition root knows its apps), returns its exit code.
WithDb = Callable[[Callable[[], Awaitable[int]]], int]
Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace, Settings, WithDb], int]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Configure
    run: Run


@dataclass
class Commands:
    """A package's commands, declared with ``@commands.command(name, help, configure)``."""

    items: list[Command] = field(default_factory=list)

    def command(self, name: str, help: str, configure: Configure = _no_arguments) -> Callable[[Run], Run]:
        def declare(run: Run) -> Run:
            self.items.append(Command(name, help, configure, run))
            return run

        return declare
