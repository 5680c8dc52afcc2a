"""Personal data at rest: AES-256-GCM for values we must show again, HMAC-SHA256 for matching.

An ID number or a phone is stored twice: encrypted (so the resident can see it masked and export
it) and as a keyed hash (so records imported by ID number can find their resident, and one ID
number can be bound once) — never in plain text. The hash is keyed so that a leaked table cannot
be reversed by hashing every possible ID number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class FieldCipher:
    """Encrypts short strings with AES-GCM; ``aad`` binds a ciphertext to its column."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the data encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{_VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, token: str, *, aad: str) -> str:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise ValueError("unknown ciphertext version")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return self._aead.decrypt(raw[:12], raw[12:], aad.encode()).decode()


class KeyedHasher:
    """HMAC-SHA256 under a secret key, with a purpose label so one hash never matches another column."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the data hash key must be 32 bytes")
        self._key = key

    def digest(self, value: str, *, purpose: str) -> str:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def id_number(self, id_number: str) -> str:
        return self.digest(id_number.strip().upper(), purpose="id_number")

    def phone(self, phone: str) -> str:
        return self.digest(phone.strip(), purpose="phone")


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()
