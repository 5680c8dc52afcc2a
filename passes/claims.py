"""What a verified pass says (its claims): a value of its own, so that the errors about a pass
(``passes.exceptions``) can carry one without importing the token code that raises them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PassClaims:
    jti: str
    sub: str
    tier: str
    iat: int
    exp: int
    kid: str
    offline_exp: int | None = None  # iat + o: until then a device with an offline bundle may accept it
    revocation_handle: str | None = None  # rv: looked up in the offline bundle's revocation set
