"""Pass tokens: short-lived Ed25519-signed JWTs (JWS compact form) that end up in a QR code.

Why it looks the way it does:

- **Ed25519 (JOSE ``EdDSA``)**: asymmetric, so partners verify offline with the published
  JWKS while only the server can issue; the smallest common signature (64 bytes, 86 chars).
- **Small**: the token is the QR payload, and every character makes the code denser and
  harder to scan. The header holds only ``alg``, ``kid`` and ``typ``; the claims only
  ``jti`` (single-use nonce), ``sub`` (a pseudonymous pass subject chosen by the caller),
  ``t`` (the tier), ``iat`` and ``exp``. Nothing else about the person. The floor of a
  compact JWS like this is about 230 characters (signature 86, header ~60, the bare claim
  skeleton with two 10-digit times ~80); with a 16-character subject a pass is 265-280
  characters, QR version 12 at level M. Keep subjects and tier names short.
- **Pinned and typed**: verification accepts exactly ``alg: EdDSA`` and ``typ: xp``, so
  ``none``, HMAC-with-the-public-key and algorithm-confusion tricks fail, and no other JWT we
  sign (access tokens, ...) is ever accepted as a pass even if a key were shared.
- **Deterministic time**: PyJWT's wall-clock checks are switched off; the caller passes
  ``now`` and the expiry check runs only after the signature verified, so an attacker cannot
  learn anything (or get ``PASS_EXPIRED``) from a forged token.
- **Offline use** (optional claims, issue 18): ``o`` (seconds after ``iat`` during which a device
  holding a store's offline bundle may accept the pass; online checks ignore it and keep ``exp``)
  and ``rv`` (the pass's revocation handle: a keyed hash of the resident and the issuing day, so
  a device can look the pass up in the bundle's salted-hash revocation set while two passes of
  one resident from different days, and the set itself, stay unlinkable). A pass carries both or
  neither; they add about 35 characters.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from passes.claims import PassClaims
from passes.exceptions import PassExpired, PassInvalid

PASS_TYP = "xp"
"""JOSE ``typ`` of a pass: short, and different from every other JWT the server issues."""

PASS_ALG = "EdDSA"
MAX_TTL_S = 120
MAX_TOKEN_CHARS = 1024
MAX_SUBJECT_CHARS = 64
MAX_TIER_CHARS = 32

_JTI_BYTES = 9  # 72 bits -> 12 base64url chars: ample for a nonce that lives 120 s
_KID_RANDOM_BYTES = 3  # kid = yymmdd + 4 chars; keys are rare, the key store enforces uniqueness
_B64URL_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_HEADER_FIELDS = frozenset({"alg", "kid", "typ"})
_CLAIM_FIELDS = frozenset({"jti", "sub", "t", "iat", "exp"})
_OFFLINE_CLAIM_FIELDS = _CLAIM_FIELDS | {"o", "rv"}
MAX_OFFLINE_TTL_S = 7 * 86400
"""The longest offline life a pass may claim (``o``); the deployment's is ``OFFLINE_BUNDLE_TTL_S``."""
MAX_REVOCATION_HANDLE_CHARS = 32


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment_bytes(segment: str) -> bytes | None:
    """A canonical, unpadded base64url segment decoded (None for anything else)."""
    if len(segment) % 4 == 1 or not _B64URL_SEGMENT.fullmatch(segment):
        return None
    try:
        raw = _b64url_decode(segment)
    except (binascii.Error, ValueError):
        return None
    return raw if _b64url(raw) == segment else None


def _json_segment(segment: str) -> dict[str, Any] | None:
    """A segment holding a JSON object (None for anything else)."""
    raw = _segment_bytes(segment)
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def signature_valid(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message``.

    libsodium's verification (PyNaCl) rather than OpenSSL's (``cryptography``, which makes and
    stores the keys): the same answer in about half the CPU (measured here: 80-93 µs against
    145-175 µs), and every scan verifies one pass.
    """
    try:
        crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        return False
    return True


def _okp_jwk(kid: str, public_key: Ed25519PublicKey) -> dict[str, str]:
    x = _b64url(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": PASS_ALG, "use": "sig"}


class _PublicBytes:
    """The raw 32 bytes of a key's ``public_key`` (what the verification and the JWK need)."""

    if TYPE_CHECKING:  # a field of the verify key, derived from the private key of the signing key

        @property
        def public_key(self) -> Ed25519PublicKey: ...

    @cached_property
    def public_bytes(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class PassVerifyKey(_PublicBytes):
    """A public pass key, as published in ``/.well-known/jwks.json``."""

    kid: str
    public_key: Ed25519PublicKey

    def public_jwk(self) -> dict[str, str]:
        return _okp_jwk(self.kid, self.public_key)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PassVerifyKey:
        """Parse one JWK of our JWKS; ``ValueError`` unless it is an Ed25519 signing key with a kid."""
        if not isinstance(jwk, Mapping):
            raise ValueError("a JWK must be a JSON object")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError("not an Ed25519 (OKP) key")
        if jwk.get("alg", PASS_ALG) != PASS_ALG or jwk.get("use", "sig") != "sig":
            raise ValueError("not an EdDSA signature key")
        if "d" in jwk:
            raise ValueError("refusing a JWK that carries a private key")
        kid, x = jwk.get("kid"), jwk.get("x")
        if not isinstance(kid, str) or not kid:
            raise ValueError("the JWK has no kid")
        if not isinstance(x, str):
            raise ValueError("the JWK has no x")
        try:
            raw = _b64url_decode(x)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("x is not base64url") from exc
        if len(raw) != 32:
            raise ValueError("x is not a 32-byte Ed25519 public key")
        return cls(kid=kid, public_key=Ed25519PublicKey.from_public_bytes(raw))


@dataclass(frozen=True)
class PassSigningKey(_PublicBytes):
    """A private pass key. Store its 32-byte seed encrypted; publish only ``public_jwk()``."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def verify_key(self) -> PassVerifyKey:
        return PassVerifyKey(kid=self.kid, public_key=self.public_key)

    def public_jwk(self) -> dict[str, str]:
        return _okp_jwk(self.kid, self.public_key)

    @cached_property
    def header_segment(self) -> str:
        """The encoded JOSE header of every pass this key signs."""
        return _b64url(orjson.dumps({"alg": PASS_ALG, "kid": self.kid, "typ": PASS_TYP}))

    def __repr__(self) -> str:  # never print key material into logs
        return f"PassSigningKey(kid={self.kid!r}, created_at={self.created_at!r})"


def generate_signing_key(*, now: datetime) -> PassSigningKey:
    """A fresh key; its kid is ``yymmdd`` (UTC) plus 4 random url-safe chars, e.g. ``250301Xq3_``."""
    day = (now.astimezone(UTC) if now.tzinfo else now).strftime("%y%m%d")
    kid = day + _b64url(secrets.token_bytes(_KID_RANDOM_BYTES))
    return PassSigningKey(kid=kid, private_key=Ed25519PrivateKey.generate(), created_at=now)


def private_key_to_bytes(key: PassSigningKey | Ed25519PrivateKey) -> bytes:
    """The raw 32-byte Ed25519 seed, for storage; the caller encrypts it at rest."""
    private_key = key.private_key if isinstance(key, PassSigningKey) else key
    return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def private_key_from_bytes(kid: str, raw: bytes, created_at: datetime) -> PassSigningKey:
    if not isinstance(kid, str) or not kid:
        raise ValueError("kid must be a non-empty string")
    if len(raw) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return PassSigningKey(
        kid=kid, private_key=Ed25519PrivateKey.from_private_bytes(bytes(raw)), created_at=created_at
    )


def jwks(public_keys: Iterable[PassSigningKey | PassVerifyKey]) -> dict[str, list[dict[str, str]]]:
    """The JWK Set to publish: public parts only, one entry per kid, sorted by kid."""
    by_kid: dict[str, dict[str, str]] = {}
    for key in public_keys:
        jwk = key.public_jwk()
        if by_kid.setdefault(key.kid, jwk) != jwk:
            raise ValueError(f"two different keys share the kid {key.kid!r}")
    return {"keys": [by_kid[kid] for kid in sorted(by_kid)]}


def issue_pass_token(
    *,
    key: PassSigningKey,
    subject: str,
    tier: str,
    now: int,
    ttl_s: int,
    jti: str | None = None,
    offline_ttl_s: int | None = None,
    revocation_handle: str | None = None,
) -> tuple[str, PassClaims]:
    """Sign a pass for ``subject`` (a pseudonym, never a real identifier) valid ``ttl_s`` seconds.

    With ``offline_ttl_s`` and ``revocation_handle`` (both or neither) the pass also carries its
    offline life and its revocation handle (see the module's notes).
    """
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be an integer in 1..{MAX_TTL_S}")
    if isinstance(now, bool) or not isinstance(now, int) or now < 0:
        raise ValueError("now must be unix seconds (int)")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_CHARS:
        raise ValueError(f"subject must be a string of 1..{MAX_SUBJECT_CHARS} characters")
    if not isinstance(tier, str) or not 0 < len(tier) <= MAX_TIER_CHARS:
        raise ValueError(f"tier must be a string of 1..{MAX_TIER_CHARS} characters")
    if jti is None:
        jti = _b64url(secrets.token_bytes(_JTI_BYTES))
    elif not isinstance(jti, str) or not jti:
        raise ValueError("jti must be a non-empty string")

    if (offline_ttl_s is None) != (revocation_handle is None):
        raise ValueError("offline_ttl_s and revocation_handle go together")
    payload: dict[str, Any] = {"jti": jti, "sub": subject, "t": tier, "iat": now, "exp": now + ttl_s}
    if offline_ttl_s is not None and revocation_handle is not None:
        if (
            isinstance(offline_ttl_s, bool)
            or not isinstance(offline_ttl_s, int)
            or not ttl_s <= offline_ttl_s <= MAX_OFFLINE_TTL_S
        ):
            raise ValueError(f"offline_ttl_s must be an integer in ttl_s..{MAX_OFFLINE_TTL_S}")
        if (
            not isinstance(revocation_handle, str)
            or not 0 < len(revocation_handle) <= MAX_REVOCATION_HANDLE_CHARS
        ):
            raise ValueError("revocation_handle must be a short non-empty string")
        payload["o"], payload["rv"] = offline_ttl_s, revocation_handle
    claims = PassClaims(
        jti=jti,
        sub=subject,
        tier=tier,
        iat=now,
        exp=now + ttl_s,
        kid=key.kid,
        offline_exp=now + offline_ttl_s if offline_ttl_s is not None else None,
        revocation_handle=revocation_handle,
    )
    # The compact JWS by hand (what jwt.encode produces, without its per-call overhead, which
    # costs twice the Ed25519 signature itself): the header is fixed per key.
    signing_input = f"{key.header_segment}.{_b64url(orjson.dumps(payload))}"
    token = f"{signing_input}.{_b64url(key.private_key.sign(signing_input.encode('ascii')))}"
    return token, claims


def verify_pass_token(
    token: str,
    *,
    keys: Mapping[str, PassVerifyKey | PassSigningKey],
    now: int,
    leeway_s: int = 5,
    offline: bool = False,
) -> PassClaims:
    """Check a pass offline: header, signature, claims, then time.

    Raises ``PassInvalid`` for anything not signed by one of ``keys`` as a pass, and
    ``PassExpired`` only for a genuine pass whose ``exp + leeway_s`` is before ``now``.
    Single use (the ``jti``) is the caller's business: it needs shared state.

    With ``offline`` (a device holding an offline bundle, or the server judging what such a
    device did at ``now``), a pass that carries an offline life expires at ``iat + o`` instead.
    """
    if not isinstance(token, str) or not token:
        raise PassInvalid("The pass is empty.")
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise PassInvalid("The pass is malformed.")

    # Parsed by hand rather than with jwt.decode: the same checks, without PyJWT's per-call
    # overhead (which costs as much as the Ed25519 verification). Segments must be canonical
    # unpadded base64url; the header is read unverified only to pick the key, and every field
    # of it is checked here.
    segments = token.split(".")
    if len(segments) != 3:
        raise PassInvalid("The pass is malformed.")
    header_segment, payload_segment, signature_segment = segments
    header = _json_segment(header_segment)
    if header is None:
        raise PassInvalid("The pass is malformed.")
    if set(header) != _HEADER_FIELDS or header["alg"] != PASS_ALG or header["typ"] != PASS_TYP:
        raise PassInvalid("This is not a pass.")
    kid = header["kid"]
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise PassInvalid("The pass was signed with an unknown key.")

    signature = _segment_bytes(signature_segment)
    if signature is None or len(signature) != 64:
        raise PassInvalid("The pass signature is not valid.")
    if not signature_valid(
        key.public_bytes, signature, f"{header_segment}.{payload_segment}".encode("ascii")
    ):
        raise PassInvalid("The pass signature is not valid.")
    payload = _json_segment(payload_segment)

    # Signed by us from here on, but still checked strictly: a key must never be able to
    # produce a pass with more data in it or a longer life than issue_pass_token allows.
    if not isinstance(payload, dict) or set(payload) not in (_CLAIM_FIELDS, _OFFLINE_CLAIM_FIELDS):
        raise PassInvalid("The pass claims are malformed.")
    jti, sub, tier, iat, exp = (payload[name] for name in ("jti", "sub", "t", "iat", "exp"))
    if not all(isinstance(value, str) and value for value in (jti, sub, tier)):
        raise PassInvalid("The pass claims are malformed.")
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (iat, exp)):
        raise PassInvalid("The pass claims are malformed.")
    if not 0 < exp - iat <= MAX_TTL_S:
        raise PassInvalid("The pass lifetime is not allowed.")
    if iat > now + leeway_s:
        raise PassInvalid("The pass was issued in the future.")
    offline_exp, handle = None, None
    if "o" in payload:
        life, handle = payload["o"], payload["rv"]
        if not isinstance(life, int) or isinstance(life, bool) or not exp - iat <= life <= MAX_OFFLINE_TTL_S:
            raise PassInvalid("The pass lifetime is not allowed.")
        if not isinstance(handle, str) or not 0 < len(handle) <= MAX_REVOCATION_HANDLE_CHARS:
            raise PassInvalid("The pass claims are malformed.")
        offline_exp = iat + life
    claims = PassClaims(
        jti=jti,
        sub=sub,
        tier=tier,
        iat=iat,
        exp=exp,
        kid=kid,
        offline_exp=offline_exp,
        revocation_handle=handle,
    )
    if (offline_exp if offline and offline_exp is not None else exp) + leeway_s < now:
        expired = PassExpired()
        expired.claims = claims  # genuine, so the caller may log whose pass it was
        raise expired
    return claims
