"""Access tokens: only our exact header, our key per audience, and the required claims pass."""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest

from server.auth import Audience, TokenService
from server.errors import Unauthenticated
from server.settings import load_settings


@pytest.fixture
def tokens(tmp_path) -> TokenService:
    return TokenService(load_settings({"XINYI_ENV": "test", "XINYI_VAR_DIR": str(tmp_path)}, dotenv=None))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _resign(tokens: TokenService, audience: Audience, header: dict, claims: dict, alg: str = "HS256") -> str:
    return jwt.encode(claims, tokens._keys[audience], algorithm=alg, headers=header)


def test_round_trip_and_claims(tokens):
    token = tokens.issue_access(Audience.MERCHANT, "staff-1", extra={"role": "owner"})
    principal = tokens.verify_access(token, Audience.MERCHANT)
    assert principal.subject_id == "staff-1" and principal.claims["role"] == "owner"


@pytest.mark.parametrize("other", [Audience.RESIDENT, Audience.ADMIN])
def test_other_audiences_refuse_it(tokens, other):
    token = tokens.issue_access(Audience.MERCHANT, "staff-1")
    with pytest.raises(Unauthenticated):
        tokens.verify_access(token, other)


def test_tampered_payload_is_refused(tokens):
    header, payload, sig = tokens.issue_access(Audience.RESIDENT, "r1").split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = _b64(orjson.dumps({**claims, "sub": "r2"}))
    with pytest.raises(Unauthenticated):
        tokens.verify_access(f"{header}.{forged}.{sig}", Audience.RESIDENT)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_another_algorithm_or_typ_is_refused_even_with_the_right_key(tokens):
    claims = jwt.decode(tokens.issue_access(Audience.RESIDENT, "r1"), options={"verify_signature": False})
    for header, alg in (
        ({"typ": "at+jwt"}, "HS512"),
        ({"typ": "JWT"}, "HS256"),
        ({"typ": "at+jwt", "kid": "x"}, "HS256"),
    ):
        with pytest.raises(Unauthenticated):
            tokens.verify_access(_resign(tokens, Audience.RESIDENT, header, claims, alg), Audience.RESIDENT)


@pytest.mark.parametrize(
    "change",
    [
        {"exp": int(time.time()) - 60},
        {"iat": int(time.time()) + 3600},
        {"iss": "someone-else"},
        {"aud": "xinyi:admin"},
        {"sub": ""},
        {"sub": 5},
        {"exp": "tomorrow"},
    ],
)
def test_bad_claims_are_refused(tokens, change):
    claims = jwt.decode(tokens.issue_access(Audience.RESIDENT, "r1"), options={"verify_signature": False})
    token = _resign(tokens, Audience.RESIDENT, {"typ": "at+jwt"}, {**claims, **change})
    with pytest.raises(Unauthenticated):
        tokens.verify_access(token, Audience.RESIDENT)


def test_a_correctly_resigned_token_passes(tokens):
    claims = jwt.decode(tokens.issue_access(Audience.RESIDENT, "r1"), options={"verify_signature": False})
    token = _resign(tokens, Audience.RESIDENT, {"typ": "at+jwt"}, claims)
    assert tokens.verify_access(token, Audience.RESIDENT).subject_id == "r1"


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "a.b.c.d", "x" * 5000, "é.é.é"])
def test_garbage_is_refused(tokens, garbage):
    with pytest.raises(Unauthenticated):
        tokens.verify_access(garbage, Audience.RESIDENT)
