"""Pseudonyms: the pass subject inside a token, and the ``resident_ref`` a merchant sees.

**Pass subject.** The ``sub`` of a pass is the resident id encrypted with a one-time pad drawn
from the pass's own random ``jti``: ``sub = resident_id XOR HMAC(K, jti)[:16]``, base64url
(22 characters). Every pass therefore carries a different subject, so nobody who reads tokens
(merchants, partners, a screenshot) can link two passes of one resident, on one day or across
days, while the server recovers the resident without a lookup table. The pad is a PRF output
under a server key, used once (jtis are 72 random bits), which makes this a stream cipher with
the jti as nonce; integrity comes from the token's Ed25519 signature, which covers both.

**resident_ref.** What a scanner gets instead of any identifier: HMAC over (party, resident),
truncated to 80 bits. Stable for one merchant, so it can recognise a returning guest; different
between merchants, so two merchants cannot join their logs.

**Revocation handle** (the ``rv`` of a pass, for offline devices): HMAC over (resident, the CST
day the pass was issued), 72 bits. A device looks it up in its bundle's salted-hash revocation
set; it links the passes of one resident issued on one day, never across days.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import date

from passes.exceptions import PassInvalid

_SUBJECT_LABEL = b"xinyi:pass-subject:v1"
_REF_LABEL = b"xinyi:resident-ref:v1"
_REVOCATION_LABEL = b"xinyi:revocation-handle:v1"
RESIDENT_REF_CHARS = 20


class Pseudonyms:
    """Seals and opens pass subjects; derives ``resident_ref``s. Keys derive from ``DATA_HASH_KEY``."""

    def __init__(self, data_hash_key: bytes):
        if len(data_hash_key) != 32:
            raise ValueError("the data hash key must be 32 bytes")
        self._subject_key = hmac.new(data_hash_key, _SUBJECT_LABEL, hashlib.sha256).digest()
        self._ref_key = hmac.new(data_hash_key, _REF_LABEL, hashlib.sha256).digest()
        self._revocation_key = hmac.new(data_hash_key, _REVOCATION_LABEL, hashlib.sha256).digest()

    def _pad(self, jti: str) -> bytes:
        return hmac.new(self._subject_key, jti.encode(), hashlib.sha256).digest()[:16]

    def seal_subject(self, resident_id: uuid.UUID, jti: str) -> str:
        masked = bytes(a ^ b for a, b in zip(resident_id.bytes, self._pad(jti), strict=True))
        return base64.urlsafe_b64encode(masked).rstrip(b"=").decode("ascii")

    def open_subject(self, subject: str, jti: str) -> uuid.UUID:
        """The resident behind a verified pass; PassInvalid if the subject is not one of ours."""
        try:
            masked = base64.urlsafe_b64decode(subject + "=" * (-len(subject) % 4))
        except (binascii.Error, ValueError):
            raise PassInvalid("The pass subject is malformed.") from None
        if len(masked) != 16:
            raise PassInvalid("The pass subject is malformed.")
        return uuid.UUID(bytes=bytes(a ^ b for a, b in zip(masked, self._pad(jti), strict=True)))

    def resident_ref(self, *, party_id: uuid.UUID | str, resident_id: uuid.UUID | str) -> str:
        """The pseudonym of a resident for one merchant (or partner): 20 hex characters."""
        message = f"{party_id}\x00{resident_id}".encode()
        return hmac.new(self._ref_key, message, hashlib.sha256).hexdigest()[:RESIDENT_REF_CHARS]

    def revocation_handle(self, resident_id: uuid.UUID | str, day: date) -> str:
        """The resident's revocation handle for passes issued on ``day`` (CST): 12 base64url characters."""
        message = f"{uuid.UUID(str(resident_id))}\x00{day.isoformat()}".encode()
        digest = hmac.new(self._revocation_key, message, hashlib.sha256).digest()[:9]
        return base64.urlsafe_b64encode(digest).decode("ascii")
