"""信易贷 over HTTP: a bank asks for a signed credit report and verifies it with PyJWT against the JWKS alone."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from passes.keys import rotate_pass_key
from tests import factories as f
from tests.factories import MP, PARTNER, send_signed


async def bank(client, name="富滇银行"):
    return await f.make_partner(client, kind="bank", scopes=("report:read",), name=name)


async def ask(client, partner, ref, purpose="loan_application"):
    return await send_signed(
        client, partner, "POST", f"{PARTNER}/reports", {"partner_user_ref": ref, "purpose": purpose}
    )


def verify_with_jwks(token: str, jwks: dict) -> dict:
    """What a bank does offline: the key of the token's kid from the JWK Set, EdDSA, exp checked."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    return jwt.decode(token, key.key, algorithms=["EdDSA"])


def flip_one_byte(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[raw.index(b'"score":') + len('"score":')] ^= 0x01  # one digit of the score changes
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return f"{header}.{tampered}.{signature}"


@pytest.fixture
async def resident(client, id_number):
    resident = await f.make_resident(client, 601)
    r = await client.post(
        f"{f.ADMIN}/credit-records",
        json={
            "items": [
                f.credit_record_item(id_number(601), n=1, category="admin_penalty", severity="minor"),
                f.credit_record_item(id_number(601), n=2, category="commendation", severity=None),
            ]
        },
        headers=await client.admin_headers(),
    )
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    r = await send_signed(
        client,
        await f.make_partner(client),
        "PUT",
        f"{PARTNER}/volunteer-hours/v-1",
        f.volunteer_body(id_number(601)),
    )
    assert r.status_code == 201, r.text
    return resident


class TestReports:
    async def test_a_report_verifies_against_the_jwks_alone_and_holds_no_name_or_id(
        self, client, resident, id_number
    ):
        partner = await bank(client)
        ref = await f.granted_ref(client, resident, partner, ("report:read",))
        r = await ask(client, partner, ref)
        assert r.status_code == 201, r.text
        answer = r.json()
        token = answer["report"]

        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert answer["kid"] in {k["kid"] for k in jwks["keys"]}
        pass_kids = {
            jwt.get_unverified_header((await f.issue_pass(client, resident["headers"]))["token"])["kid"]
        }
        assert pass_kids <= {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
        assert answer["kid"] not in pass_kids  # its own key, beside the pass keys

        claims = verify_with_jwks(token, jwks)
        mine = (await client.get(f"{MP}/score", headers=resident["headers"])).json()
        assert claims["report_id"] == answer["id"] and claims["partner_user_ref"] == ref
        assert (claims["score"], claims["tier"], claims["ruleset_version"]) == (
            mine["score"],
            mine["tier"],
            mine["ruleset_version"],
        )
        assert claims["factors"] == [{"code": x["code"], "points": x["points"]} for x in mine["factors"]]
        assert claims["records"]["admin_penalty"] == {"minor": 1, "general": 0, "serious": 0}
        assert claims["records"]["commendation"] == {"minor": 0, "general": 1, "serious": 0}
        assert claims["volunteer_hours_12m"] == 3.5
        assert claims["exp"] - claims["iat"] == 30 * 86400
        assert abs(claims["iat"] - time.time()) < 60

        text = json.dumps(claims, ensure_ascii=False)
        assert "张三" not in text and id_number(601) not in text and "记录1" not in text

        with pytest.raises(jwt.InvalidSignatureError):
            verify_with_jwks(flip_one_byte(token), jwks)

        await rotate_pass_key(client.app.ctx.cipher)  # pass keys rotate on their own: reports still verify
        assert (
            verify_with_jwks(token, (await client.get("/.well-known/jwks.json")).json())["score"]
            == mine["score"]
        )

    async def test_the_resident_sees_every_report_to_whom_and_why(self, client, resident):
        partner = await bank(client, "富滇银行")
        ref = await f.granted_ref(client, resident, partner, ("report:read",))
        assert (await ask(client, partner, ref, "loan_application")).status_code == 201
        assert (await ask(client, partner, ref, "credit_line_review")).status_code == 201

        reports = (await client.get(f"{MP}/reports", headers=resident["headers"])).json()["items"]
        assert [(x["partner"]["name"], x["purpose"], x["valid"]) for x in reports] == [
            ("富滇银行", "credit_line_review", True),
            ("富滇银行", "loan_application", True),
        ]
        assert all(x["issued_at"] and x["expires_at"] for x in reports)
        log = (await client.get(f"{MP}/access-log", headers=resident["headers"])).json()["items"]
        assert [(x["actor_name"], x["purpose"]) for x in log] == [("富滇银行", "credit_report")] * 2

    async def test_without_the_grant_or_after_revocation_403_and_issued_reports_stay_valid(
        self, client, resident
    ):
        partner = await bank(client)
        r = await ask(client, partner, "0" * 32)  # no grant at all
        assert f.status_and_code(r) == (403, "GRANT_REQUIRED")

        grant = await f.make_grant(client, resident, partner, ("report:read",))
        ref = (await f.exchange(client, partner, grant["authorization_code"])).json()["partner_user_ref"]
        issued = (await ask(client, partner, ref)).json()
        r = await client.delete(f"{MP}/grants/{grant['id']}", headers=resident["headers"])
        assert r.status_code == 200, r.text

        r = await ask(client, partner, ref)
        assert f.status_and_code(r) == (403, "GRANT_REQUIRED")
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert verify_with_jwks(issued["report"], jwks)["partner_user_ref"] == ref  # valid until exp
        reports = (await client.get(f"{MP}/reports", headers=resident["headers"])).json()["items"]
        assert len(reports) == 1 and reports[0]["valid"] is True

    async def test_a_grant_of_other_scopes_is_not_enough(self, client, resident):
        partner = await f.make_partner(client, kind="bank", scopes=("report:read", "tier:read"), name="银行")
        ref = await f.granted_ref(client, resident, partner, ("tier:read",))
        assert f.status_and_code(await ask(client, partner, ref)) == (403, "GRANT_REQUIRED")
