"""Tokens and passwords for the three human audiences: residents, merchant staff, regulators.

Access tokens are short-lived JWTs, HS256 pinned, with ``iss``, ``aud`` and a ``typ`` header;
each audience signs with its own key derived from ``JWT_SECRET``, so a token of one audience
fails both the signature and the audience check of the others. Refresh tokens are opaque
random strings stored as SHA-256 in families (see ``server.models.RefreshToken``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.transactions import in_transaction

from server.dbtypes import DbConn
from server.errors import AppError, Unauthenticated
from server.models import RefreshToken
from server.settings import Settings
from server.throttle import Throttle

ISSUER = "xinyi"
ACCESS_TYP = "at+jwt"
_ALGORITHM = "HS256"
_LEEWAY_S = 5
# The header segment of every access token we issue (PyJWT writes it this way); verification
# accepts nothing else.
_ACCESS_HEADER_SEGMENT = jwt.api_jws.base64url_encode(
    orjson.dumps({"alg": _ALGORITHM, "typ": ACCESS_TYP})
).decode()


class Audience(StrEnum):
    RESIDENT = "resident"
    MERCHANT = "merchant"
    ADMIN = "admin"


class RefreshTokenInvalid(AppError):
    status_code = 401
    code = "UNAUTHENTICATED"
    message = "The refresh token is invalid, expired or already used."


class InvalidCredentials(AppError):
    status_code = 401
    code = "INVALID_CREDENTIALS"
    message = "Wrong username or password."


@dataclass(frozen=True, slots=True)
class Principal:
    audience: Audience
    subject_id: str
    claims: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


class TokenService:
    """Issues and checks access tokens; rotates refresh tokens."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._keys = {
            aud: hmac.new(
                settings.jwt_secret.encode(), f"xinyi-jwt:{aud.value}".encode(), hashlib.sha256
            ).digest()
            for aud in Audience
        }

    def issue_access(
        self, audience: Audience, subject_id: str, *, extra: dict[str, Any] | None = None
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": f"xinyi:{audience.value}",
            "sub": subject_id,
            "iat": now,
            "exp": now + self._settings.access_token_ttl_s,
            "jti": secrets.token_urlsafe(9),
            **(extra or {}),
        }
        return jwt.encode(claims, self._keys[audience], algorithm=_ALGORITHM, headers={"typ": ACCESS_TYP})

    def verify_access(self, token: str, audience: Audience) -> Principal:
        """Check an access token of ``audience``: our exact header, HS256 under the audience's key, claims.

        Done by hand rather than through PyJWT because it runs on every authenticated request
        (PyJWT's generic path was ~15 % of a scan's CPU). It is strict: the header segment must be
        byte-for-byte the one we issue (so ``alg`` cannot be swapped), the signature is compared in
        constant time, and ``iss``, ``aud``, ``sub``, ``iat`` and ``exp`` (5 s leeway) are required.
        """
        parts = token.split(".") if isinstance(token, str) and len(token) <= 4096 else []
        if len(parts) != 3 or parts[0] != _ACCESS_HEADER_SEGMENT:
            raise Unauthenticated("The access token is invalid.")
        signing_input = f"{parts[0]}.{parts[1]}".encode()
        expected = hmac.new(self._keys[audience], signing_input, hashlib.sha256).digest()
        try:
            signature = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
            claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, orjson.JSONDecodeError):
            raise Unauthenticated("The access token is invalid.") from None
        if not hmac.compare_digest(signature, expected) or not isinstance(claims, dict):
            raise Unauthenticated("The access token is invalid.")
        now = time.time()
        exp, iat, sub = claims.get("exp"), claims.get("iat"), claims.get("sub")
        if (
            claims.get("iss") != ISSUER
            or claims.get("aud") != f"xinyi:{audience.value}"
            or not isinstance(sub, str)
            or not sub
            or not isinstance(exp, int)
            or not isinstance(iat, int)
            or iat > now + _LEEWAY_S
        ):
            raise Unauthenticated("The access token is invalid.")
        if exp + _LEEWAY_S < now:
            raise Unauthenticated("The access token has expired.")
        return Principal(audience=audience, subject_id=sub, claims=claims)

    async def issue_pair(
        self,
        audience: Audience,
        subject_id: str,
        *,
        extra: dict[str, Any] | None = None,
        family_id: uuid.UUID | None = None,
    ) -> TokenPair:
        """A new access token and a refresh token (of a new family unless one is given)."""
        raw = secrets.token_urlsafe(32)
        await RefreshToken.create(
            token_hash=_hash(raw),
            family_id=family_id or uuid.uuid4(),
            audience=audience.value,
            subject_id=subject_id,
            expires_at=datetime.now(UTC) + timedelta(seconds=self._settings.refresh_token_ttl_s),
        )
        return TokenPair(
            access_token=self.issue_access(audience, subject_id, extra=extra),
            refresh_token=raw,
            expires_in=self._settings.access_token_ttl_s,
        )

    async def rotate(self, raw_refresh: str, audience: Audience) -> RefreshToken:
        """Spend a refresh token; the caller issues the next pair in the same family.

        The spend is a conditional UPDATE (``used_at IS NULL``) so two concurrent uses of one
        token cannot both win. Presenting an already-used token revokes its whole family.
        """
        if not isinstance(raw_refresh, str) or not 10 <= len(raw_refresh) <= 200:
            raise RefreshTokenInvalid()
        now = datetime.now(UTC)
        token_hash = _hash(raw_refresh)
        async with in_transaction() as conn:
            row = (
                await RefreshToken.filter(token_hash=token_hash, audience=audience.value)
                .using_db(conn)
                .first()
            )
            if row is None:
                raise RefreshTokenInvalid()
            if row.revoked_at is not None or row.expires_at <= now:
                raise RefreshTokenInvalid()
            spent = (
                await RefreshToken.filter(id=row.id, used_at__isnull=True, revoked_at__isnull=True)
                .using_db(conn)
                .update(used_at=now)
            )
        if not spent:
            # Reuse of a used token: someone else holds a copy. Kill the family.
            await RefreshToken.filter(family_id=row.family_id, revoked_at__isnull=True).update(revoked_at=now)
            raise RefreshTokenInvalid("This refresh token was already used; the session has been revoked.")
        return row

    async def revoke_subject(
        self, audience: Audience, subject_id: str, *, conn: DbConn | None = None, now: datetime | None = None
    ) -> None:
        """Revoke every refresh token of the subject (in ``conn``'s transaction when given)."""
        await (
            RefreshToken.filter(audience=audience.value, subject_id=subject_id, revoked_at__isnull=True)
            .using_db(conn)
            .update(revoked_at=now or datetime.now(UTC))
        )


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# --- passwords ---------------------------------------------------------------------------

_hasher = PasswordHasher()  # RFC 9106 low-memory profile (argon2id, 64 MiB, t=3)
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def configure_password_hashing(settings: Settings) -> None:
    """Cheap argon2 parameters under ``XINYI_ENV=test`` only; the parameters travel inside each hash,
    so hashes made with either profile still verify."""
    global _hasher, _DUMMY_HASH
    if settings.env.value == "test":
        _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    else:
        _hasher = PasswordHasher()
    _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (a dummy hash is checked when it does not)."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


async def password_login(
    *,
    throttle: Throttle,
    audience: Audience,
    username: str,
    password: str,
    address: str,
    lookup: Callable[[str], Awaitable[Any]],
) -> Any:
    """Check a username/password pair from a client address, throttled; returns the account row.

    The throttle is asked before the password is checked, so a throttled pair cannot be probed, and
    every failure (unknown user, wrong password, disabled account) counts the same.
    """
    await throttle.check_login(audience.value, username, address)
    account = await lookup(username)
    ok = await verify_password(account.password_hash if account else None, password)
    if not ok or account is None or not getattr(account, "is_active", True):
        await throttle.login_failed(audience.value, username, address)
        raise InvalidCredentials()
    await throttle.login_succeeded(audience.value, username, address)
    return account
