"""Tortoise ORM configuration: one Tortoise app per domain package, each with its migrations.

The schema is only ever created by the versioned migrations under ``migrations/<app>/``
(``xinyi migrate``), never by ``generate_schemas`` at boot.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise import Tortoise, connections

from server.settings import Settings

log = logging.getLogger("xinyi")

# label -> models modules, in the order of dependencies between apps. The frame knows no domain:
# the composition root (``xinyi.database.APPS``) names them.
Apps = Mapping[str, Sequence[str]]


def _pool_url(url: str, maxsize: int = 20, timeout: int = 5) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}minsize=1&maxsize={maxsize}" + ("" if "timeout=" in url else f"&timeout={timeout}")


def tortoise_config(settings: Settings, apps: Apps) -> dict[str, Any]:
    url = settings.effective_database_url
    if url.startswith("sqlite://"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    credentials_url = url
    if url.startswith("postgres://"):
        sep = "&" if "?" in url else "?"
        # timeout: seconds to open a connection (asyncpg's default, 60, would hold a request that
        # long on a database host that does not answer, where a 503 is the honest answer).
        credentials_url = f"{url}{sep}minsize=1&maxsize=20" + ("" if "timeout=" in url else "&timeout=5")
    return {
        "connections": {"default": credentials_url},
        "apps": {
            label: {
                "models": list(modules),
                "migrations": f"migrations.{label}",
                "default_connection": "default",
            }
            for label, modules in apps.items()
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(settings: Settings, apps: Apps) -> None:
    # The global fallback makes the connections visible to every request task, not only to
    # the listener task that initialised them (Tortoise 1.x keeps its context in a contextvar).
    await Tortoise.init(config=tortoise_config(settings, apps), _enable_global_fallback=True)
    global _replica
    _replica = _replica_client(settings)


async def close_db() -> None:
    global _replica
    replica, _replica = _replica, None
    if replica is not None:
        await replica.close()
    await Tortoise.close_connections()


# The streaming replica (``DATABASE_REPLICA_URL``): a Tortoise client of its own, kept out of Tortoise's
# registry of connections, so that the ORM's defaults (``in_transaction()`` with no name, every model's
# ``default`` connection) stay on the primary; ``server.replica`` lends it to the reads that may use it.
_replica: Any = None


def _replica_client(settings: Settings) -> Any:
    url = settings.effective_replica_url
    if url is None:
        return None
    from tortoise.backends.base.config_generator import expand_db_url

    # a replica that does not answer is left for the primary within 2 s (server.replica)
    info = expand_db_url(_pool_url(url, maxsize=10, timeout=2))
    engine = importlib.import_module(info["engine"])
    # named "default": a transaction opened on it (``in_transaction()`` inside a read) stays on it
    return engine.client_class(**{**info["credentials"], "connection_name": "default"})


def replica_connection() -> Any:
    """The replica's client, or None without ``DATABASE_REPLICA_URL`` (connects on first use)."""
    return _replica


async def run_migrations(settings: Settings, apps: Apps) -> None:
    """Apply every migration not yet applied (``xinyi migrate``)."""
    from tortoise.migrations.api import migrate

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            print(f"  applied {app_label}.{name}")

    try:
        await migrate(config=tortoise_config(settings, apps), progress=progress)
    finally:
        await Tortoise.close_connections()


async def model_changes_without_migration(settings: Settings, apps: Apps) -> list[str]:
    """Apps whose models differ from what their migrations build (``xinyi makemigrations --check``)."""
    from tortoise.context import TortoiseContext
    from tortoise.exceptions import ConfigurationError
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = tortoise_config(settings, apps)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        if ctx.apps is None:  # init() builds the registry; tortoise types it optional for before that
            raise ConfigurationError("Tortoise apps are not initialized")
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        return [f"{w.app_label}: {[type(op).__name__ for op in w.operations]}" for w in writers]


async def database_ready() -> bool:
    try:
        await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), timeout=2.0)
        return True
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
        log.warning("readiness: the database did not answer: %s", type(exc).__name__)
        return False
