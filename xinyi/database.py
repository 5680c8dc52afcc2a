"""The Tortoise apps of the product (label -> models modules) and the frame's database functions bound to them."""

from __future__ import annotations

from server import database
from server.settings import Settings

# In the order of dependencies between apps. ``coupons.units`` (the offers' pending units) sits
# in the ``redemptions`` app because that app's migration 0003 created its table.
APPS: dict[str, list[str]] = {
    "core": ["server.models"],
    "residents": ["residents.models"],
    "admin": ["admin.models"],
    "merchants": ["merchants.models"],
    "credit": ["credit.models"],
    "notices": ["notices.models"],
    "rights": ["rights.models"],
    "partners": ["partners.models"],
    "passes": ["passes.models"],
    "coupons": ["coupons.models"],
    "redemptions": ["redemptions.models", "coupons.units", "coupons.suspensions"],
    "deposits": ["deposits.models"],
    "offline": ["offline.models"],
    "commitments": ["commitments.models"],
    "signals": ["signals.models"],
    "casework": ["casework.models"],
    "stats": ["stats.models"],
}


def tortoise_config(settings: Settings) -> dict:
    return database.tortoise_config(settings, APPS)


async def init_db(settings: Settings) -> None:
    await database.init_db(settings, APPS)


async def run_migrations(settings: Settings) -> None:
    await database.run_migrations(settings, APPS)


async def model_changes_without_migration(settings: Settings) -> list[str]:
    return await database.model_changes_without_migration(settings, APPS)


close_db = database.close_db
