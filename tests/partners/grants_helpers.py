"""Helpers of the grant, pass, redemption, access-log and webhook tests: tourism partners and residents' grants."""

from __future__ import annotations

from typing import Any

from tests.partners.partners_helpers import PARTNER, make_partner, send_signed

MP = "/api/v1/mp"
ALL_SCOPES = ("pass:verify", "tier:read", "redemption:write")


async def tourism_partner(
    client: Any,
    name: str = "一部手机游云南",
    *,
    scopes: tuple[str, ...] = ALL_SCOPES,
    webhook_url: str | None = None,
) -> dict[str, Any]:
    return await make_partner(client, kind="tourism", scopes=scopes, name=name, webhook_url=webhook_url)


async def create_grant(
    client: Any, resident: dict[str, Any], partner: dict[str, Any], scopes: tuple[str, ...] = ("tier:read",)
) -> dict[str, Any]:
    r = await client.post(
        f"{MP}/grants",
        json={"partner_id": partner["id"], "scopes": list(scopes)},
        headers=resident["headers"],
    )
    assert r.status_code == 201, r.text
    return r.json()


async def exchange(client: Any, partner: dict[str, Any], code: str) -> Any:
    return await send_signed(
        client, partner, "POST", f"{PARTNER}/grants/exchange", {"authorization_code": code}
    )


async def granted_ref(
    client: Any, resident: dict[str, Any], partner: dict[str, Any], scopes: tuple[str, ...] = ("tier:read",)
) -> str:
    """The resident grants ``scopes`` to the partner, which exchanges the code: the partner's reference."""
    grant = await create_grant(client, resident, partner, scopes)
    r = await exchange(client, partner, grant["authorization_code"])
    assert r.status_code == 200, r.text
    return r.json()["partner_user_ref"]


async def read_tier(client: Any, partner: dict[str, Any], ref: str) -> Any:
    return await send_signed(client, partner, "GET", f"{PARTNER}/residents/{ref}/tier")


async def verify_pass(client: Any, partner: dict[str, Any], token: str, consume: bool = False) -> Any:
    return await send_signed(
        client, partner, "POST", f"{PARTNER}/passes/verify", {"pass_token": token, "consume": consume}
    )


def error_code(r: Any) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]
