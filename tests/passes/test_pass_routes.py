"""POST /api/v1/mp/pass and GET /.well-known/jwks.json, over HTTP."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from io import BytesIO

import zxingcpp
from PIL import Image

from passes.tokens import PassVerifyKey, verify_pass_token
from tests import factories as f

MP = "/api/v1/mp"


class TestIssuePass:
    async def test_needs_consent_then_identity(self, client, id_number):
        fresh = await client.login_resident()
        r = await client.post(f"{MP}/pass", headers=fresh["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "CONSENT_REQUIRED"
        consented = await client.login_resident(consent=True)
        r = await client.post(f"{MP}/pass", headers=consented["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "IDENTITY_REQUIRED"

    async def test_without_login_is_401(self, client):
        r = await client.post(f"{MP}/pass")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"

    async def test_the_qr_code_decodes_to_the_token(self, client):
        resident = await f.make_resident(client, 1)
        r = await client.post(f"{MP}/pass", headers=resident["headers"])
        assert r.status_code == 200, r.text
        body = r.json()
        png = base64.b64decode(body["qr_png_base64"])
        decoded = zxingcpp.read_barcodes(Image.open(BytesIO(png)))
        assert [d.text for d in decoded] == [body["token"]]

    async def test_image_false_gives_the_token_alone(self, client):
        resident = await f.make_resident(client, 2)
        by_query = await client.post(f"{MP}/pass?image=false", headers=resident["headers"])
        by_body = await client.post(f"{MP}/pass", json={"image": False}, headers=resident["headers"])
        for r in (by_query, by_body):
            assert r.status_code == 200, r.text
            assert r.json()["qr_png_base64"] is None and r.json()["token"]

    async def test_a_bad_image_flag_is_422(self, client):
        resident = await f.make_resident(client, 3)
        r = await client.post(f"{MP}/pass?image=maybe", headers=resident["headers"])
        assert r.status_code == 422 and "image" in r.json()["error"]["fields"]

    async def test_short_lived_and_refreshed_well_before_expiry(self, client):
        resident = await f.make_resident(client, 4)
        before = time.time()
        body = await f.issue_pass(client, resident["headers"])
        lifetime = datetime.fromisoformat(body["expires_at"]).timestamp() - before
        assert 30 < lifetime <= 120
        assert 0 < body["refresh_after_s"] and lifetime - body["refresh_after_s"] >= 30
        claims = f.b64url_json(body["token"].split(".")[1])
        assert claims["exp"] - claims["iat"] <= 120

    async def test_token_holds_a_pseudonym_and_the_tier_and_nothing_else(self, client, id_number):
        resident = await f.make_resident(client, 5, name="李四")
        first = await f.issue_pass(client, resident["headers"])
        second = await f.issue_pass(client, resident["headers"])
        claims = [f.b64url_json(p["token"].split(".")[1]) for p in (first, second)]
        assert set(claims[0]) == {"jti", "sub", "t", "iat", "exp", "o", "rv"}  # o, rv: offline use (issue 18)
        assert claims[0]["t"] == "A" == first["tier"]
        raw = first["token"] + str(claims[0])
        for secret in (
            resident["resident"]["id"],
            resident["resident"]["id"].replace("-", ""),
            id_number(5),
            "李四",
        ):
            assert secret not in raw
        # Two passes of the same resident cannot be linked by whoever reads them.
        assert claims[0]["jti"] != claims[1]["jti"] and claims[0]["sub"] != claims[1]["sub"]

    async def test_a_black_listed_resident_gets_a_pass_hinting_restricted(self, client, id_number):
        resident = await f.make_resident(client, 6)
        await f.blacklist(client, id_number(6))
        body = await f.issue_pass(client, resident["headers"])
        assert (
            body["tier"] == "restricted" and f.b64url_json(body["token"].split(".")[1])["t"] == "restricted"
        )


class TestJwks:
    async def test_the_published_keys_verify_a_pass_offline(self, client):
        resident = await f.make_resident(client, 11)
        token = (await f.issue_pass(client, resident["headers"]))["token"]
        r = await client.get("/.well-known/jwks.json")
        assert r.status_code == 200
        assert "max-age" in r.headers["cache-control"]
        keys = {jwk["kid"]: PassVerifyKey.from_jwk(jwk) for jwk in r.json()["keys"]}
        claims = verify_pass_token(token, keys=keys, now=int(time.time()))
        assert claims.kid in keys and claims.tier == "A"

    async def test_no_private_material_is_published(self, client):
        r = await client.get("/.well-known/jwks.json")
        assert r.json()["keys"], "a key exists from the first request on (dev and test)"
        for jwk in r.json()["keys"]:
            assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
