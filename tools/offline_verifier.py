"""Reference offline verifier: what a store's device does with no network (issue 18).

Standalone: only PyJWT and cryptography, no server access. A device

1. fetches ``GET /api/v1/merchant/offline-bundle?store_id=…`` and ``/.well-known/jwks.json`` while
   it has a network, and loads the bundle with ``load_bundle(bundle, jwks, now=…)``: the JWS must be
   signed (EdDSA) by a key of the JWK Set with ``typ: xinyi-offline-bundle+jwt`` (a pass is never a
   bundle), and not expired;
2. verifies each pass with ``verify_pass(bundle, token, now=…)`` (or ``Device.scan`` which also
   refuses a pass this device already accepted): the header must be exactly a pass's
   (``alg: EdDSA``, ``typ: xp``, a ``kid`` of the bundle's keys), the Ed25519 signature must hold,
   the claims must be a pass's, the pass must be within its offline life (``iat + o``, plus the
   bundle's leeway) and its ``(rv, t)`` must not be in the bundle's revocation set;
3. records what it did and uploads it later (``POST /api/v1/merchant/offline-scans``): single use
   across devices and the ledger's limits are decided there.

Reasons are the server's codes: ``PASS_INVALID``, ``PASS_EXPIRED``, ``PASS_REVOKED``,
``PASS_ALREADY_USED`` (this device), ``BUNDLE_EXPIRED``; a bundle that does not load raises
``BundleInvalid``.

Run as a script: ``python tools/offline_verifier.py BUNDLE_FILE JWKS_FILE PASS_TOKEN``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_TYP = "xinyi-offline-bundle+jwt"
PASS_TYP = "xp"
ALG = "EdDSA"
REVOCATION_SCHEME = "xinyi-rv-sha256"
_PASS_HEADER = {"alg", "kid", "typ"}
_PASS_CLAIMS = {"jti", "sub", "t", "iat", "exp"}
_OFFLINE_CLAIMS = _PASS_CLAIMS | {"o", "rv"}
MAX_TOKEN_CHARS = 1024


class BundleInvalid(Exception):
    """The bundle is not a genuine, current bundle of the JWK Set's keys."""


@dataclass(frozen=True)
class Bundle:
    store_id: str
    merchant_id: str
    offers: list[dict[str, Any]]
    keys: dict[str, Ed25519PublicKey]
    tiers: list[str]
    salt: bytes
    hash_bytes: int
    revoked: frozenset[bytes]
    leeway_s: int
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class Verdict:
    outcome: str  # accepted | refused
    reason: str | None = None
    tier: str | None = None
    jti: str | None = None
    benefits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment(text: str) -> bytes | None:
    """A canonical unpadded base64url segment, decoded (None for anything else)."""
    if not text or len(text) % 4 == 1 or "=" in text:
        return None
    try:
        raw = _b64url_decode(text)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text else None


def _json(text: str) -> dict[str, Any] | None:
    raw = _segment(text)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _public_key(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if (
        jwk.get("kty") != "OKP"
        or jwk.get("crv") != "Ed25519"
        or "d" in jwk
        or not isinstance(jwk.get("x"), str)
    ):
        raise BundleInvalid("not an Ed25519 public JWK")
    raw = _segment(jwk["x"])
    if raw is None or len(raw) != 32:
        raise BundleInvalid("not an Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_bundle(token: str, jwks: dict[str, Any], *, now: int | None = None) -> Bundle:
    """Verify a bundle against the JWK Set (``/.well-known/jwks.json``) and load it; ``BundleInvalid`` otherwise."""
    now = int(time.time()) if now is None else now
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise BundleInvalid("not a compact JWS") from exc
    if header.get("typ") != BUNDLE_TYP or header.get("alg") != ALG:
        raise BundleInvalid("not an offline bundle")
    jwk = next((k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
    if jwk is None:
        raise BundleInvalid("signed by a key outside the JWK Set")
    try:
        payload = jwt.decode(
            token,
            key=_public_key(jwk),
            algorithms=[ALG],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise BundleInvalid("the bundle's signature does not hold") from exc
    try:
        revocation = payload["revocation"]
        if revocation["scheme"] != REVOCATION_SCHEME:
            raise BundleInvalid("unknown revocation scheme")
        size = int(revocation["hash_bytes"])
        entries = _b64url_decode(revocation["entries"]) if revocation["entries"] else b""
        if size <= 0 or len(entries) % size:
            raise BundleInvalid("malformed revocation set")
        bundle = Bundle(
            store_id=str(payload["store_id"]),
            merchant_id=str(payload["merchant_id"]),
            offers=list(payload["offers"]),
            keys={k["kid"]: _public_key(k) for k in payload["keys"]},
            tiers=list(payload["tiers"]),
            salt=_b64url_decode(revocation["salt"]),
            hash_bytes=size,
            revoked=frozenset(entries[i : i + size] for i in range(0, len(entries), size)),
            leeway_s=int(payload["pass_leeway_s"]),
            issued_at=int(payload["issued_at"]),
            expires_at=int(payload["expires_at"]),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise BundleInvalid("malformed bundle") from exc
    if now > bundle.expires_at:
        raise BundleInvalid("the bundle has expired: fetch a new one")
    return bundle


def revocation_entry(bundle: Bundle, handle: str, tier: str) -> bytes:
    return hashlib.sha256(bundle.salt + f"{handle}:{tier}".encode()).digest()[: bundle.hash_bytes]


def _refused(reason: str, claims: dict[str, Any] | None = None) -> Verdict:
    return Verdict(
        "refused",
        reason=reason,
        tier=claims.get("t") if claims else None,
        jti=claims.get("jti") if claims else None,
    )


def verify_pass(bundle: Bundle, token: str, *, now: int | None = None) -> Verdict:
    """Verify a pass exactly as a device with ``bundle`` does at ``now`` (unix seconds)."""
    now = int(time.time()) if now is None else now
    if now > bundle.expires_at:
        return _refused("BUNDLE_EXPIRED")
    if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_CHARS:
        return _refused("PASS_INVALID")
    parts = token.split(".")
    if len(parts) != 3:
        return _refused("PASS_INVALID")
    header = _json(parts[0])
    if header is None or set(header) != _PASS_HEADER or header["alg"] != ALG or header["typ"] != PASS_TYP:
        return _refused("PASS_INVALID")  # a bundle, an access token, anything else: not a pass
    key = bundle.keys.get(header["kid"]) if isinstance(header["kid"], str) else None
    signature = _segment(parts[2])
    if key is None or signature is None or len(signature) != 64:
        return _refused("PASS_INVALID")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        return _refused("PASS_INVALID")
    claims = _json(parts[1])
    if claims is None or set(claims) not in (_PASS_CLAIMS, _OFFLINE_CLAIMS):
        return _refused("PASS_INVALID")
    iat, exp, tier = claims["iat"], claims["exp"], claims["t"]
    ints = (iat, exp, claims.get("o", 0))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints) or tier not in bundle.tiers:
        return _refused("PASS_INVALID")
    if iat > now + bundle.leeway_s:
        return _refused("PASS_INVALID", claims)
    until = iat + claims["o"] if "o" in claims else exp
    if now > until + bundle.leeway_s:
        return _refused("PASS_EXPIRED", claims)
    if "rv" in claims and revocation_entry(bundle, str(claims["rv"]), tier) in bundle.revoked:
        return _refused("PASS_REVOKED", claims)
    return Verdict("accepted", tier=tier, jti=claims["jti"], benefits=benefits(bundle, tier, now=now))


def benefits(bundle: Bundle, tier: str, *, now: int) -> list[dict[str, Any]]:
    """The bundle's offers this tier qualifies for at ``now`` (restricted: none)."""
    rank = bundle.tiers.index(tier)
    return [
        offer
        for offer in bundle.offers
        if rank > 0
        and rank >= bundle.tiers.index(offer["min_tier"])
        and offer["valid_from"] <= now < offer["valid_until"]
        and offer.get("remaining") != 0
    ]


@dataclass
class Device:
    """A device with a bundle: refuses a pass it already accepted (other devices are found out at upload)."""

    bundle: Bundle
    device_id: str
    seen: set[str] = field(default_factory=set)
    log: list[dict[str, Any]] = field(default_factory=list)

    def scan(self, token: str, *, now: int | None = None) -> Verdict:
        now = int(time.time()) if now is None else now
        verdict = verify_pass(self.bundle, token, now=now)
        if verdict.accepted and verdict.jti in self.seen:
            verdict = Verdict("refused", reason="PASS_ALREADY_USED", tier=verdict.tier, jti=verdict.jti)
        if verdict.accepted:
            assert verdict.jti is not None
            self.seen.add(verdict.jti)
            self.log.append({"seq": len(self.log), "pass_token": token, "scanned_at": now, "redemptions": []})
        return verdict


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(argv[1]) as b, open(argv[2]) as k:
        bundle_text, jwks = b.read().strip(), json.load(k)
    if bundle_text.startswith("{"):
        bundle_text = json.loads(bundle_text)["bundle"]
    try:
        bundle = load_bundle(bundle_text, jwks)
    except BundleInvalid as exc:
        print(f"bundle refused: {exc}")
        return 1
    verdict = verify_pass(bundle, argv[3])
    print(verdict.outcome if verdict.accepted else f"refused: {verdict.reason}")
    return 0 if verdict.accepted else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
