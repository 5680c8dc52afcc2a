"""``xinyi import-records FILE.jsonl`` and ``xinyi recompute-scores``.

Both stream: the import reads the file line by line and stores it in batches (one transaction
each), the recomputation walks the residents by id in batches, so memory depends on the batch
size and never on the size of the file or the number of residents.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson
from tqdm import tqdm

from server.cli import Commands, WithDb
from server.crypto import FieldCipher, KeyedHasher
from server.settings import Settings

SHOWN_ERRORS = 20


COMMANDS = Commands()


def _open(path: Path, mode: str) -> IO[Any]:
    return path.open(mode, encoding=None if "b" in mode else "utf-8")


def _size(path: Path) -> int:
    return path.stat().st_size


def _batches(
    lines: IO[bytes], size: int, bar: tqdm
) -> Iterator[tuple[list[Any], list[int], list[dict[str, Any]]]]:
    """(items, their line numbers, line errors) per ``size`` non-blank lines; one line in memory at a time."""
    items: list[Any] = []
    numbers: list[int] = []
    errors: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        bar.update(len(line))
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
            numbers.append(number)
        except orjson.JSONDecodeError as exc:
            errors.append({"line": number, "code": "INVALID_JSON", "message": f"not a JSON object: {exc}"})
        if len(items) + len(errors) >= size:
            yield items, numbers, errors
            items, numbers, errors = [], [], []
    if items or errors:
        yield items, numbers, errors


async def import_file(
    path: Path,
    *,
    hasher: KeyedHasher,
    cipher: FieldCipher,
    batch_size: int = 1000,
    errors_path: Path | None = None,
    out: IO[str] | None = None,
    progress: IO[str] | None = None,
) -> int:
    """Import a JSONL file of credit records (Tortoise must be initialised). Exit code: 0, or 1 if a line was rejected."""
    from credit.service import ImportResult, import_records

    out = out or sys.stdout
    progress = progress or sys.stderr
    totals = ImportResult()
    line_errors: list[dict[str, Any]] = []
    lines = 0
    started = time.monotonic()
    error_file = _open(errors_path, "w") if errors_path else None
    source, size = _open(path, "rb"), _size(path)
    try:
        with (
            source,
            tqdm(
                total=size, unit="B", unit_scale=True, desc="import-records", file=progress, mininterval=0.5
            ) as bar,
        ):
            for items, numbers, errors in _batches(source, batch_size, bar):
                result = await import_records(
                    items, hasher=hasher, cipher=cipher, now=datetime.now(UTC), indexes=numbers
                )
                totals.add(ImportResult(result.created, result.updated, result.unchanged))
                lines += len(items) + len(errors)
                rejected = errors + [
                    {"line": r["index"], "code": r["code"], "message": r["message"]} for r in result.rejected
                ]
                rejected.sort(key=lambda e: e["line"])
                for error in rejected:
                    if error_file:
                        error_file.write(orjson.dumps(error).decode() + "\n")
                    if len(line_errors) < SHOWN_ERRORS:
                        line_errors.append(error)
                totals.rejected.extend({} for _ in rejected)  # counted, not kept: memory stays flat
                bar.set_postfix(
                    created=totals.created,
                    updated=totals.updated,
                    rejected=len(totals.rejected),
                    refresh=False,
                )
    finally:
        if error_file:
            error_file.close()
    elapsed = time.monotonic() - started
    for error in line_errors:
        print(f"line {error['line']}: {error['code']}: {error['message']}", file=out)
    if len(totals.rejected) > len(line_errors):
        more = len(totals.rejected) - len(line_errors)
        where = f" (all in {errors_path})" if errors_path else " (use --errors FILE to keep them all)"
        print(f"… and {more} more rejected lines{where}", file=out)
    print(
        f"{lines} lines in {elapsed:.1f} s: {totals.created} created, {totals.updated} updated, "
        f"{totals.unchanged} unchanged, {len(totals.rejected)} rejected",
        file=out,
    )
    return 1 if totals.rejected else 0


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", type=Path, help="JSON Lines: one record per line, as in POST /api/v1/admin/credit-records"
    )
    p.add_argument("--errors", type=Path, default=None, help="write every rejected line here (JSON Lines)")
    p.add_argument("--batch-size", type=int, default=1000, help="lines per transaction (default 1000)")


@COMMANDS.command(
    "import-records", "import public credit records from a JSONL file (streaming, idempotent)", _import_args
)
def import_records_command(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    if not args.file.is_file():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    if not 1 <= args.batch_size <= 10_000:
        print("--batch-size must be between 1 and 10000", file=sys.stderr)
        return 2
    work = partial(
        import_file,
        args.file,
        hasher=KeyedHasher(settings.data_hash_key),
        cipher=FieldCipher(settings.data_encryption_key),
        batch_size=args.batch_size,
        errors_path=args.errors,
    )
    return with_db(work)


async def recompute_everyone(
    *, batch_size: int = 1000, out: IO[str] | None = None, progress: IO[str] | None = None
) -> int:
    """Recompute every resident's score with a progress bar (Tortoise must be initialised)."""
    from credit.service import count_scored_subjects, link_bound_residents, recompute_all

    out = out or sys.stdout
    started = time.monotonic()
    await link_bound_residents()
    total = await count_scored_subjects()
    with tqdm(
        total=total, unit=" residents", desc="recompute-scores", file=progress or sys.stderr, mininterval=0.5
    ) as bar:
        result = await recompute_all(batch_size=batch_size, progress=bar.update, attach=False)
    print(
        f"{result.scored} residents in {time.monotonic() - started:.1f} s: {result.history} scores changed, "
        f"{result.tier_changes} tier changes",
        file=out,
    )
    return 0


def _recompute_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=1000, help="residents per transaction (default 1000)")


@COMMANDS.command(
    "recompute-scores", "recompute every resident's score with the active ruleset", _recompute_args
)
def recompute_scores_command(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    if not 1 <= args.batch_size <= 10_000:
        print("--batch-size must be between 1 and 10000", file=sys.stderr)
        return 2
    return with_db(partial(recompute_everyone, batch_size=args.batch_size))


def _version_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", help="a stored ruleset version (POST /api/v1/admin/rulesets)")


@COMMANDS.command(
    "dry-run-ruleset", "how many residents would change tier under a ruleset version", _version_args
)
def dry_run_ruleset_command(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    """The dry run without the HTTP response timeout (large populations)."""
    from credit.service import dry_run_ruleset
    from server.errors import AppError

    async def work() -> int:
        try:
            result = await dry_run_ruleset(args.version, now=datetime.now(UTC))
        except AppError as exc:
            print(f"error: {exc.detail_message}", file=sys.stderr)
            return 1
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0

    return with_db(work)


@COMMANDS.command("activate-ruleset", "activate a ruleset version and move every score to it", _version_args)
def activate_ruleset_command(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    """The activation without the HTTP response timeout (large populations)."""
    from credit.service import activate_ruleset
    from server.errors import AppError

    async def work() -> int:
        try:
            result = await activate_ruleset(args.version, now=datetime.now(UTC))
        except AppError as exc:
            print(f"error: {exc.detail_message}", file=sys.stderr)
            return 1
        print(
            f"{args.version} is active: {result['residents']} residents, {result['scores_changed']} scores changed, "
            f"{result['tier_changes']} tier changes"
        )
        return 0

    return with_db(work)
