"""Regulator accounts: creation from the CLI, login, refresh."""

from __future__ import annotations

import uuid

from admin.models import AdminUser
from server.auth import (
    Audience,
    Principal,
    TokenPair,
    TokenService,
    hash_password,
    password_login,
)
from server.errors import Conflict, Unauthenticated, ValidationFailed
from server.throttle import Throttle


async def create_admin(*, username: str, password: str) -> AdminUser:
    problems = {}
    if not 3 <= len(username) <= 64:
        problems["username"] = "must be 3–64 characters"
    if len(password) < 10:
        problems["password"] = "must be at least 10 characters"
    if problems:
        raise ValidationFailed(problems)
    if await AdminUser.exists(username=username):
        raise Conflict(f"An admin named {username!r} already exists.")
    return await AdminUser.create(username=username, password_hash=await hash_password(password))


async def admin_login(
    *, tokens: TokenService, throttle: Throttle, username: str, password: str, address: str
) -> TokenPair:
    admin = await password_login(
        throttle=throttle,
        audience=Audience.ADMIN,
        username=username,
        password=password,
        address=address,
        lookup=lambda name: AdminUser.get_or_none(username=name),
    )
    return await tokens.issue_pair(Audience.ADMIN, str(admin.id))


async def admin_refresh(*, tokens: TokenService, refresh_token: str) -> TokenPair:
    row = await tokens.rotate(refresh_token, Audience.ADMIN)
    if not await AdminUser.exists(id=row.subject_id, is_active=True):
        raise Unauthenticated("This admin account is disabled.")
    return await tokens.issue_pair(Audience.ADMIN, row.subject_id, family_id=row.family_id)


async def current_admin(principal: Principal) -> AdminUser:
    try:
        admin = await AdminUser.get_or_none(id=uuid.UUID(principal.subject_id), is_active=True)
    except ValueError:
        admin = None
    if admin is None:
        raise Unauthenticated("This admin account is disabled.")
    return admin
