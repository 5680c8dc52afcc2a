"""The ``xinyi`` command (also ``python -m xinyi`` and ``python -m server``): the frame's commands and every domain's, gathered here."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import sys
from collections.abc import Awaitable, Callable
from functools import partial

from server.cli import Command, Commands, WithDb
from server.settings import Settings, SettingsError, load_settings
from xinyi.wiring import wire

COMMANDS = Commands()
command = COMMANDS.command


def with_db(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    """Run ``work`` with Tortoise initialised, then close the connections."""
    from server.auth import configure_password_hashing
    from xinyi.database import close_db, init_db

    configure_password_hashing(settings)

    async def main() -> int:
        await init_db(settings)
        try:
            return await work()
        finally:
            await close_db()

    return asyncio.run(main())


# --- serve ----------------------------------------------------------------------------------


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--access-log",
        action="store_true",
        help="a JSON line per request even if ACCESS_LOG=0 (never bodies)",
    )


async def pending_migrations(settings: Settings) -> list[str]:
    from tortoise import Tortoise
    from tortoise.migrations.api import plan

    from xinyi.database import tortoise_config

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # plan() prints as well as returns
            lines = await plan(config=tortoise_config(settings))
        return [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    finally:
        await Tortoise.close_connections()


@command("serve", "serve the HTTP API", _serve_args)
def serve(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from server import listen
    from server.metrics import multiprocess_directory
    from xinyi.app import create_serving_app

    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.redis_url:
        print(
            "refusing --workers > 1 without REDIS_URL: the in-process store would give each worker its own "
            "lockout, throttle and caches. Set REDIS_URL or use one worker.",
            file=sys.stderr,
        )
        return 2
    pending = asyncio.run(pending_migrations(settings))
    if pending:
        print("the database is not migrated; run `xinyi migrate` first. Pending:", file=sys.stderr)
        for line in pending:
            print("  " + line, file=sys.stderr)
        return 1
    sandbox_url = None
    if settings.wechat_api_base is None:
        # One sandbox for all workers, in this (manager) process.
        from server.wechat_sandbox import WeChatSandbox

        sandbox = WeChatSandbox(appid=settings.wechat_appid, secret=settings.wechat_secret)
        sandbox_url = sandbox.start()
        settings = settings.with_overrides(wechat_api_base=sandbox_url)
    try:  # with several workers on Linux, one accept queue per worker (see server.listen)
        sock = listen.bind(args.host, args.port, per_worker=args.workers > 1 and listen.SUPPORTED)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.access_log:
        settings = settings.with_overrides(access_log=True)
    # Every worker adds its metrics to files in a fresh directory, set before the workers start
    # (server.metrics). Sanic's own access log (client addresses, full URLs) stays off: the
    # app writes one JSON line per request instead (ACCESS_LOG, server.observability).
    with multiprocess_directory():
        loader = AppLoader(factory=partial(create_serving_app, settings))
        app = loader.load()
        app.prepare(sock=sock, workers=args.workers, backlog=listen.BACKLOG, access_log=False, motd=False)
        announce_when_ready(settings, host=args.host, port=args.port, sandbox=sandbox_url)
        Sanic.serve(primary=app, app_loader=loader)
    return 0


def announce_when_ready(settings: Settings, *, host: str, port: int, sandbox: str | None) -> None:
    """Print the addresses a person needs once ``/healthz`` answers (a thread of the main process).

    Nothing secret: the database and Redis URLs are printed without their passwords.
    """
    import threading
    import time
    import urllib.request

    local = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    base = f"http://{local}:{port}" if ":" not in local else f"http://[{local}]:{port}"

    def wait_then_print() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            return
        lines = [
            f"xinyi is ready ({settings.env.value}):",
            f"  API            {base}/api/v1  (mp, merchant, partner, admin)",
            f"  docs           {base}/docs  (spec: {base}/docs/openapi.json)",
            f"  health         {base}/healthz, {base}/readyz",
        ]
        if sandbox:
            lines.append(
                f"  WeChat sandbox {sandbox}  (login codes mock:<openid>:<anything>, phone codes phone:<digits>)"
            )
        lines.append(f"  database       {redact_url(settings.effective_database_url)}")
        lines.append(
            f"  redis          {redact_url(settings.redis_url)}"
            if settings.redis_url
            else "  redis          none: an in-process store (one worker only)"
        )
        lines.append("  try it         make demo  (or: xinyi demo-walkthrough --base " + base + ")")
        print("\n".join(lines), flush=True)

    threading.Thread(target=wait_then_print, name="xinyi-ready", daemon=True).start()


def redact_url(url: str) -> str:
    """``url`` without its password (``postgres://user:***@host/db``)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@command("migrate", "apply the schema migrations")
def migrate(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from xinyi.database import run_migrations

    asyncio.run(run_migrations(settings))
    print("database is up to date")
    return 0


def _makemigrations_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "apps", nargs="*", help="app labels (default: all; apps with relations to others need all)"
    )
    p.add_argument("--name", default=None)
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if models and migrations differ"
    )


@command("makemigrations", "write new migrations for model changes (developers)", _makemigrations_args)
def makemigrations(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from tortoise.cli import cli as tortoise_cli

    from xinyi import database

    if args.check:
        changes = asyncio.run(database.model_changes_without_migration(settings))
        for line in changes:
            print(f"models differ from migrations in {line}")
        return 1 if changes else 0
    database.CLI_CONFIG = database.tortoise_config(settings)  # type: ignore[attr-defined]
    ctx = tortoise_cli.CLIContext(config="xinyi.database.CLI_CONFIG", config_file=None)
    asyncio.run(tortoise_cli.makemigrations(ctx, tuple(args.apps), False, args.name))
    return 0


def _create_admin_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)


@command("create-admin", "create a regulator account", _create_admin_args)
def create_admin(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from admin.service import create_admin as create
    from server.errors import AppError

    async def work() -> int:
        try:
            admin = await create(username=args.username, password=args.password)
        except AppError as exc:
            print(f"error: {exc.detail_message} {exc.details.get('fields', '')}".rstrip(), file=sys.stderr)
            return 1
        print(f"admin {admin.username} created ({admin.id})")
        return 0

    return with_db(work)


@command("seed-demo", "add a little demo data (idempotent)")
def seed_demo(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from xinyi.demo import seed

    return with_db(partial(seed, settings))


def _sandbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)


@command("wechat-sandbox", "run the WeChat API stand-in (dev/test only)", _sandbox_args)
def wechat_sandbox(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from server.wechat_sandbox import serve_forever

    if settings.is_prod:
        print("the WeChat sandbox is for dev and test only", file=sys.stderr)
        return 2
    serve_forever(args.host, args.port, appid=settings.wechat_appid, secret=settings.wechat_secret)
    return 0


def _walkthrough_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="http://127.0.0.1:8000", help="the running server (default: make run's)")
    p.add_argument("--out", default="var/demo", help="where the pass's QR code PNG is written")


@command(
    "demo-walkthrough",
    "walk the product over HTTP against a running server with the demo data (exit 1 at the first failed step)",
    _walkthrough_args,
)
def demo_walkthrough(args: argparse.Namespace, settings: Settings, with_db: WithDb) -> int:
    from pathlib import Path

    from xinyi.walkthrough import main as walk

    if settings.is_prod:
        print("the walkthrough uses the demo logins: dev and test only", file=sys.stderr)
        return 2
    return walk(args.base, Path(args.out))


def all_commands() -> dict[str, Command]:
    """The frame's commands, then each domain's, by name."""
    from commitments.cli import COMMANDS as commitment_commands
    from credit.cli import COMMANDS as credit_commands
    from deposits.cli import COMMANDS as deposit_commands
    from partners.cli import COMMANDS as partner_commands
    from passes.cli import COMMANDS as pass_commands
    from rights.cli import COMMANDS as rights_commands
    from signals.cli import COMMANDS as signal_commands
    from stats.cli import COMMANDS as stats_commands

    gathered = [
        *COMMANDS.items,
        *credit_commands.items,
        *pass_commands.items,
        *partner_commands.items,
        *rights_commands.items,
        *signal_commands.items,
        *stats_commands.items,
        *commitment_commands.items,
        *deposit_commands.items,
    ]
    return {c.name: c for c in gathered}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xinyi", description="信易游 credit benefits backend")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, cmd in all_commands().items():
        cmd.configure(sub.add_parser(name, help=cmd.help))
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"xinyi: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    wire()
    run = all_commands()[args.command].run
    raise SystemExit(run(args, settings, partial(with_db, settings)))
