"""``xinyi rollup-stats [--from D --to D]``: bring the statistics' daily rollup up to date, or recompute days."""

from __future__ import annotations

import argparse
import time
from datetime import date

from server.cli import Commands, WithDb
from server.settings import Settings

COMMANDS = Commands()


def _rollup_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from", dest="from_", type=date.fromisoformat, help="first business day to recompute (YYYY-MM-DD)"
    )
    p.add_argument("--to", type=date.fromisoformat, help="last business day to recompute, inclusive")


@COMMANDS.command(
    "rollup-stats",
    "roll the statistics up: the days touched since the last rollup, or every day of --from..--to again",
    _rollup_args,
)
def rollup_stats(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from datetime import timedelta

    from stats import rollup

    async def work() -> int:
        started = time.perf_counter()
        if args.from_ is None and args.to is None:
            days = await rollup.refresh()
            print(f"rolled up {len(days)} day(s) in {time.perf_counter() - started:.1f} s")
            return 0
        first = args.from_ or args.to
        last = args.to or args.from_
        if first > last:
            print("--from must not be after --to")
            return 2
        days_ = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        written = await rollup.recompute_days(days_)
        print(f"recomputed {len(days_)} day(s), {written} row(s), in {time.perf_counter() - started:.1f} s")
        return 0

    return with_db(work)
