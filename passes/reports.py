"""Signing partners' credit reports (信易贷) with the report keys of ``passes.keys``.

A report is a compact JWS (``alg: EdDSA``, ``typ: credit-report+jwt``, the report key's ``kid``)
that a bank verifies offline with ``/.well-known/jwks.json`` alone, e.g. with PyJWT. The typ and
the key purpose keep it apart from passes: a pass verifier accepts only ``typ: xp`` signed by a
pass key, so a report is never a pass, nor a pass a report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt

from passes.keys import report_signing_key
from server.crypto import FieldCipher

REPORT_TYP = "credit-report+jwt"


async def sign_report(cipher: FieldCipher, payload: dict[str, Any], *, now: datetime) -> tuple[str, str]:
    """The signed report and the ``kid`` that signed it."""
    key = await report_signing_key(cipher, now=now)
    token = jwt.encode(
        payload, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": REPORT_TYP}
    )
    return token, key.kid
