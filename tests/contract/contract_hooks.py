"""schemathesis hooks of the contract test (``SCHEMATHESIS_HOOKS=contract_hooks``, see ``run_schemathesis.py``).

* Bearer tokens: the resident's on ``/api/v1/mp``, the merchant owner's on ``/api/v1/merchant``,
  the regulator's on ``/api/v1/admin``.
* Partner calls are signed by the recipe the spec documents (its ``partnerSignature`` scheme),
  written out here again rather than imported, so that a recipe the server no longer follows fails.
* Path parameters: half the time an id that exists (a seeded offer, store, redemption …), so the
  answers of the found case are checked against the spec too, not only the 404s.
* A withdrawn consent is given again at once, and an erased resident (``DELETE /me``) logs in
  again, consents and binds the same identity, so that the resident's other calls keep reaching
  their logic instead of answering 403 or 401 for the rest of the run.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from typing import Any

import requests
import schemathesis


@functools.cache
def context() -> dict[str, Any]:
    """Tokens, the partner's key and secret, known ids: written by ``run_schemathesis.py``."""
    with open(os.environ["CONTRACT_CONTEXT"], encoding="utf-8") as file:
        return json.load(file)


def signed_headers(key: str, secret: str, method: str, path_qs: str, body: bytes) -> dict[str, str]:
    """X-Partner-Key, X-Timestamp, X-Nonce and X-Signature = hex HMAC-SHA256(secret, METHOD\\nPATH?QUERY\\nTS\\nNONCE\\nhex(SHA256(body)))."""
    timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(16)
    text = "\n".join((method.upper(), path_qs, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    signature = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {"X-Partner-Key": key, "X-Timestamp": timestamp, "X-Nonce": nonce, "X-Signature": signature}


class PartnerSignature(requests.auth.AuthBase):
    """Signs the request as prepared: the exact path and query sent and the exact body bytes."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        partner = context()["partner"]
        request.headers.update(
            signed_headers(partner["key"], partner["secret"], request.method or "GET", request.path_url, body)
        )
        return request


schemathesis.auth.set_from_requests(PartnerSignature()).apply_to(path_regex=r"^/api/v1/partner/")


@schemathesis.auth(refresh_interval=None).apply_to(path_regex=r"^/api/v1/(mp|merchant|admin)/")
class BearerToken:
    """The access token of the path's audience."""

    def get(self, case: Any, ctx: Any) -> str:
        return context()["tokens"][ctx.operation.path.split("/")[3]]

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.hook
def map_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    for name, value in (path_parameters or {}).items():
        known = context()["ids"].get(name)
        if known:
            pick = int(hashlib.sha256(repr(value).encode()).hexdigest(), 16)
            if pick % 2 == 0:
                path_parameters[name] = known[pick // 2 % len(known)]
    return path_parameters


def _as_resident(method: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """A call of the hooks' own, as the resident; None when it is refused (another worker may be mending too)."""
    known = context()
    response = requests.request(
        method,
        known["base"] + path,
        json=body,
        headers={"Authorization": f"Bearer {known['tokens']['mp']}"} if "/auth/" not in path else {},
        timeout=30,
    )
    return response.json() if response.ok else None


_MENDING = threading.Lock()


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    """Undo what would starve the rest of the run: a withdrawn consent, an erased resident, a rotated secret."""
    known = context()
    call = (case.operation.method.upper(), case.operation.path)
    if response.status_code >= 300:
        return
    with _MENDING:
        if call == ("DELETE", "/api/v1/mp/consent"):
            _as_resident("POST", "/api/v1/mp/consent", {"version": known["consent_version"]})
        elif call == ("DELETE", "/api/v1/mp/me"):
            resident = known["resident"]
            code = f"mock:{resident['openid']}:{secrets.token_hex(4)}"
            login = _as_resident("POST", "/api/v1/mp/auth/login", {"code": code})
            if login is not None:
                known["tokens"]["mp"] = login["access_token"]  # the auth provider reads it for every call
                _as_resident("POST", "/api/v1/mp/consent", {"version": known["consent_version"]})
                identity = {"name": resident["name"], "id_number": resident["id_number"]}
                _as_resident("POST", "/api/v1/mp/identity", identity)
        elif call == ("POST", "/api/v1/admin/partners/{partner_id}/rotate-secret"):
            rotated = response.json()
            if rotated.get("key") == known["partner"]["key"]:
                known["partner"]["secret"] = rotated["secret"]  # the signer reads it for every call
