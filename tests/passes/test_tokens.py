import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from passes.exceptions import PassAlreadyUsed, PassExpired, PassInvalid
from passes.tokens import (
    MAX_TTL_S,
    PASS_TYP,
    PassClaims,
    PassSigningKey,
    PassVerifyKey,
    generate_signing_key,
    issue_pass_token,
    jwks,
    private_key_from_bytes,
    private_key_to_bytes,
    verify_pass_token,
)

NOW = 1_760_000_000
TTL = 60
SUBJECT = "ps_" + "Q2xK9vB3mN7x"  # a pseudonymous pass subject, as the caller would mint it


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(obj: object) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def b64url_decode_json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@pytest.fixture(scope="module")
def key() -> PassSigningKey:
    return generate_signing_key(now=datetime(2025, 3, 1, 8, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def key2() -> PassSigningKey:
    return generate_signing_key(now=datetime(2025, 6, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
def keys(key) -> dict[str, PassSigningKey]:
    return {key.kid: key}


@pytest.fixture
def issued(key) -> tuple[str, PassClaims]:
    return issue_pass_token(key=key, subject=SUBJECT, tier="good", now=NOW, ttl_s=TTL)


def sign_raw(key: PassSigningKey, header: dict, payload: dict) -> str:
    """Sign arbitrary header/payload with the real pass key (what a misused key could produce)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    return f"{signing_input}.{b64url(key.private_key.sign(signing_input.encode()))}"


def good_header(key: PassSigningKey) -> dict:
    return {"alg": "EdDSA", "kid": key.kid, "typ": PASS_TYP}


def good_payload() -> dict:
    return {"jti": "abcdefghijkl", "sub": SUBJECT, "t": "good", "iat": NOW, "exp": NOW + TTL}


class TestIssueAndVerify:
    def test_round_trip_returns_the_issued_claims(self, issued, keys, key):
        token, claims = issued
        assert verify_pass_token(token, keys=keys, now=NOW + 1) == claims
        assert claims == PassClaims(
            jti=claims.jti, sub=SUBJECT, tier="good", iat=NOW, exp=NOW + TTL, kid=key.kid
        )

    def test_token_carries_only_the_minimal_header_and_claims(self, issued, key):
        token, claims = issued
        header, payload, _ = token.split(".")
        assert b64url_decode_json(header) == {"alg": "EdDSA", "kid": key.kid, "typ": "xp"}
        assert b64url_decode_json(payload) == {
            "jti": claims.jti,
            "sub": SUBJECT,
            "t": "good",
            "iat": NOW,
            "exp": NOW + TTL,
        }

    def test_every_pass_gets_a_fresh_short_url_safe_jti(self, key):
        jtis = {
            issue_pass_token(key=key, subject=SUBJECT, tier="good", now=NOW, ttl_s=TTL)[1].jti
            for _ in range(50)
        }
        assert len(jtis) == 50
        assert all(len(jti) == 12 and "=" not in jti for jti in jtis)

    def test_caller_supplied_jti_is_used(self, key, keys):
        token, claims = issue_pass_token(
            key=key, subject=SUBJECT, tier="good", now=NOW, ttl_s=TTL, jti="n0nce"
        )
        assert claims.jti == "n0nce"
        assert verify_pass_token(token, keys=keys, now=NOW).jti == "n0nce"

    def test_token_is_small_enough_for_a_dense_but_scannable_qr(self, key):
        # A JWS with an Ed25519 signature can't get under about 230 chars: the signature is
        # 86 chars, the alg/kid/typ header about 60 and the bare claim skeleton with two
        # 10-digit times 80. Realistic inputs (16-char subject, longest tier name) stay
        # within QR version 12 at level M (287 bytes).
        subject = b64url(secrets.token_bytes(12))
        token, _ = issue_pass_token(key=key, subject=subject, tier="restricted", now=NOW, ttl_s=TTL)
        assert len(token) <= 280
        short, _ = issue_pass_token(key=key, subject=subject, tier="good", now=NOW, ttl_s=TTL)
        assert len(short) <= 272

    @pytest.mark.parametrize("ttl_s", [MAX_TTL_S + 1, 3600, 0, -5])
    def test_ttl_outside_1_to_120_seconds_is_refused(self, key, ttl_s):
        with pytest.raises(ValueError):
            issue_pass_token(key=key, subject=SUBJECT, tier="good", now=NOW, ttl_s=ttl_s)

    def test_ttl_of_120_seconds_is_allowed(self, key, keys):
        token, claims = issue_pass_token(key=key, subject=SUBJECT, tier="good", now=NOW, ttl_s=MAX_TTL_S)
        assert claims.exp == NOW + 120
        assert verify_pass_token(token, keys=keys, now=NOW + 120).exp == NOW + 120

    @pytest.mark.parametrize(("subject", "tier"), [("", "good"), (SUBJECT, ""), ("x" * 65, "good")])
    def test_empty_or_oversized_subject_and_tier_are_refused(self, key, subject, tier):
        with pytest.raises(ValueError):
            issue_pass_token(key=key, subject=subject, tier=tier, now=NOW, ttl_s=TTL)


class TestKeys:
    def test_kid_is_short_url_safe_dated_and_unique(self):
        now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        kids = {generate_signing_key(now=now).kid for _ in range(20)}
        assert len(kids) == 20
        for kid in kids:
            assert kid.startswith("250301") and len(kid) <= 12
            assert all(ch.isalnum() or ch in "-_" for ch in kid)

    def test_seed_round_trip_keeps_the_key(self, key, issued):
        raw = private_key_to_bytes(key)
        assert isinstance(raw, bytes) and len(raw) == 32
        restored = private_key_from_bytes(key.kid, raw, key.created_at)
        assert restored.public_jwk() == key.public_jwk()
        token, claims = issued
        assert verify_pass_token(token, keys={restored.kid: restored}, now=NOW) == claims

    def test_seed_of_wrong_length_is_refused(self, key):
        with pytest.raises(ValueError):
            private_key_from_bytes(key.kid, b"\x00" * 31, key.created_at)

    def test_repr_does_not_leak_the_private_key(self, key):
        text = repr(key)
        assert key.kid in text
        assert b64url(private_key_to_bytes(key)) not in text
        assert "private_key" not in text

    def test_jwks_publishes_public_parts_only_sorted_by_kid(self, key, key2):
        document = jwks([key2, key, key.verify_key()])
        assert [entry["kid"] for entry in document["keys"]] == sorted([key.kid, key2.kid])
        for entry in document["keys"]:
            assert set(entry) == {"kty", "crv", "x", "kid", "alg", "use"}
            assert (entry["kty"], entry["crv"], entry["alg"], entry["use"]) == (
                "OKP",
                "Ed25519",
                "EdDSA",
                "sig",
            )

    def test_jwks_refuses_two_different_keys_with_one_kid(self, key, key2):
        impostor = PassSigningKey(kid=key.kid, private_key=key2.private_key, created_at=key2.created_at)
        with pytest.raises(ValueError):
            jwks([key, impostor])

    def test_a_partner_verifies_offline_from_the_published_jwks(self, key, key2, issued):
        published = json.loads(json.dumps(jwks([key, key2])))  # as fetched from /.well-known/jwks.json
        partner_keys = {k.kid: k for k in map(PassVerifyKey.from_jwk, published["keys"])}
        token, claims = issued
        assert verify_pass_token(token, keys=partner_keys, now=NOW + 10) == claims

    def test_published_jwk_also_works_with_pyjwt_directly(self, key, issued):
        token, _ = issued
        public = jwt.PyJWK(key.public_jwk()).key
        payload = jwt.decode(
            token, public, algorithms=["EdDSA"], options={"verify_exp": False, "verify_iat": False}
        )
        assert payload["sub"] == SUBJECT

    @pytest.mark.parametrize(
        "change",
        [
            {"kty": "EC"},
            {"crv": "X25519"},
            {"alg": "RS256"},
            {"use": "enc"},
            {"kid": ""},
            {"x": b64url(b"\x01" * 31)},
            {"x": "not base64!"},
            {"d": b64url(b"\x02" * 32)},
        ],
    )
    def test_from_jwk_refuses_anything_but_a_public_ed25519_signature_key(self, key, change):
        with pytest.raises(ValueError):
            PassVerifyKey.from_jwk({**key.public_jwk(), **change})


class TestRotation:
    def test_old_passes_still_verify_after_a_new_key_is_added(self, key, key2, issued):
        token, claims = issued
        ring = {key.kid: key, key2.kid: key2}
        assert verify_pass_token(token, keys=ring, now=NOW) == claims
        new_token, new_claims = issue_pass_token(key=key2, subject=SUBJECT, tier="good", now=NOW, ttl_s=TTL)
        assert verify_pass_token(new_token, keys=ring, now=NOW) == new_claims
        assert new_claims.kid == key2.kid != claims.kid

    def test_a_retired_key_no_longer_verifies(self, key2, issued):
        token, _ = issued
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys={key2.kid: key2}, now=NOW)

    def test_a_kid_pointing_at_another_key_fails_the_signature(self, key, key2, issued):
        token, _ = issued
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys={key.kid: key2.verify_key()}, now=NOW)


class TestForgeries:
    def test_tampered_payload_is_invalid(self, issued, keys):
        token, claims = issued
        header, payload, signature = token.split(".")
        claims_dict = b64url_decode_json(payload)
        claims_dict["t"] = "excellent"
        with pytest.raises(PassInvalid):
            verify_pass_token(f"{header}.{b64url_json(claims_dict)}.{signature}", keys=keys, now=NOW)

    def test_tampered_signature_is_invalid(self, issued, keys):
        token, _ = issued
        header, payload, signature = token.split(".")
        middle = len(signature) // 2
        flipped = "A" if signature[middle] != "A" else "B"
        forged = signature[:middle] + flipped + signature[middle + 1 :]
        with pytest.raises(PassInvalid):
            verify_pass_token(f"{header}.{payload}.{forged}", keys=keys, now=NOW)

    def test_signature_of_one_pass_on_another_is_invalid(self, key, keys, issued):
        token, _ = issued
        other, _ = issue_pass_token(key=key, subject="ps_someone_else", tier="good", now=NOW, ttl_s=TTL)
        with pytest.raises(PassInvalid):
            verify_pass_token(".".join(other.split(".")[:2] + token.split(".")[2:]), keys=keys, now=NOW)

    @pytest.mark.parametrize("signature", ["", "keep"])
    def test_alg_none_is_invalid(self, key, keys, issued, signature):
        token, _ = issued
        header = b64url_json({"alg": "none", "kid": key.kid, "typ": PASS_TYP})
        payload = b64url_json(good_payload())
        sig = token.split(".")[2] if signature == "keep" else ""
        with pytest.raises(PassInvalid):
            verify_pass_token(f"{header}.{payload}.{sig}", keys=keys, now=NOW)

    @pytest.mark.parametrize("secret_form", ["raw", "pem", "jwk_x"])
    def test_hs256_signed_with_the_public_key_is_invalid(self, key, keys, secret_form):
        public = key.public_key
        secret = {
            "raw": public.public_bytes(Encoding.Raw, PublicFormat.Raw),
            "pem": public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
            "jwk_x": key.public_jwk()["x"].encode(),
        }[secret_form]
        signing_input = (
            f"{b64url_json({'alg': 'HS256', 'kid': key.kid, 'typ': PASS_TYP})}.{b64url_json(good_payload())}"
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(PassInvalid):
            verify_pass_token(f"{signing_input}.{b64url(mac)}", keys=keys, now=NOW)

    def test_es256_token_with_our_kid_is_invalid(self, key, keys):
        other = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode(
            good_payload(), other, algorithm="ES256", headers={"kid": key.kid, "typ": PASS_TYP}
        )
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys=keys, now=NOW)

    @pytest.mark.parametrize("alg", ["eddsa", "Ed25519", "EdDSA ", ""])
    def test_alg_must_be_exactly_eddsa(self, key, keys, alg):
        token = sign_raw(key, {**good_header(key), "alg": alg}, good_payload())
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys=keys, now=NOW)

    @pytest.mark.parametrize("typ", ["at+jwt", "JWT", "XP", None])
    def test_another_jwt_signed_by_the_same_key_is_not_a_pass(self, key, keys, typ):
        headers = {"kid": key.kid, "typ": typ}
        token = jwt.encode(good_payload(), key.private_key, algorithm="EdDSA", headers=headers)
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys=keys, now=NOW)

    def test_extra_header_fields_are_refused(self, key, keys):
        token = sign_raw(key, {**good_header(key), "jku": "https://evil.example/jwks.json"}, good_payload())
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys=keys, now=NOW)

    def test_unknown_kid_is_invalid(self, key2, keys):
        token, _ = issue_pass_token(key=key2, subject=SUBJECT, tier="good", now=NOW, ttl_s=TTL)
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys=keys, now=NOW)

    @pytest.mark.parametrize("kid", [None, 7, ["k"], ""])
    def test_kid_of_the_wrong_type_is_invalid(self, key, keys, kid):
        with pytest.raises(PassInvalid):
            verify_pass_token(
                sign_raw(key, {**good_header(key), "kid": kid}, good_payload()), keys=keys, now=NOW
            )

    @pytest.mark.parametrize(
        "garbage",
        [
            "",
            "   ",
            "abc",
            "a.b",
            "a.b.c",
            "..",
            "a.b.c.d",
            "eyJ.eyJ.eyJ",
            "ü.ü.ü",
            "通行证",
            "x" * 1025,
            None,
            12345,
            b"bytes.are.not.tokens",
            "!!!!.!!!!.!!!!",
            b64url_json([1, 2]) + "." + b64url_json({}) + ".AA",
            b64url_json("header") + "." + b64url_json({}) + ".AA",
            b64url(b"\xff\xfe{") + ".e30.AA",
        ],
    )
    def test_garbage_is_invalid_not_a_crash(self, keys, garbage):
        with pytest.raises(PassInvalid):
            verify_pass_token(garbage, keys=keys, now=NOW)

    def test_an_overlong_token_is_refused_before_parsing(self, issued, keys):
        token, _ = issued
        with pytest.raises(PassInvalid):
            verify_pass_token(token + "A" * 1024, keys=keys, now=NOW)

    def test_surrounding_whitespace_is_not_tolerated(self, issued, keys):
        token, _ = issued
        with pytest.raises(PassInvalid):
            verify_pass_token(f" {token}\n", keys=keys, now=NOW)


class TestClaims:
    def test_the_hand_signing_helper_makes_a_valid_pass(self, key, keys):
        claims = verify_pass_token(sign_raw(key, good_header(key), good_payload()), keys=keys, now=NOW)
        assert (claims.jti, claims.sub, claims.tier) == ("abcdefghijkl", SUBJECT, "good")

    @pytest.mark.parametrize(
        "change",
        [
            {"jti": None},
            {"sub": None},
            {"t": None},
            {"iat": None},
            {"exp": None},
            {"jti": 123},
            {"sub": ""},
            {"t": ["good"]},
            {"iat": str(NOW)},
            {"exp": float(NOW + TTL)},
            {"exp": True},
        ],
    )
    def test_missing_or_mistyped_claims_are_invalid_even_when_signed(self, key, keys, change):
        payload = {**good_payload(), **change}
        payload = {name: value for name, value in payload.items() if value is not None}
        with pytest.raises(PassInvalid):
            verify_pass_token(sign_raw(key, good_header(key), payload), keys=keys, now=NOW)

    def test_extra_claims_are_refused(self, key, keys):
        payload = {**good_payload(), "name": "张三"}
        with pytest.raises(PassInvalid):
            verify_pass_token(sign_raw(key, good_header(key), payload), keys=keys, now=NOW)

    @pytest.mark.parametrize("lifetime", [MAX_TTL_S + 1, 86_400, 0, -1])
    def test_a_lifetime_we_never_issue_is_invalid(self, key, keys, lifetime):
        payload = {**good_payload(), "exp": NOW + lifetime}
        with pytest.raises(PassInvalid):
            verify_pass_token(sign_raw(key, good_header(key), payload), keys=keys, now=NOW)

    def test_payload_that_is_not_an_object_is_invalid(self, key, keys):
        signing_input = f"{b64url_json(good_header(key))}.{b64url_json(['x'])}"
        token = f"{signing_input}.{b64url(key.private_key.sign(signing_input.encode()))}"
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys=keys, now=NOW)


class TestTime:
    def test_expired_beyond_leeway_is_expired(self, issued, keys):
        token, claims = issued
        with pytest.raises(PassExpired):
            verify_pass_token(token, keys=keys, now=claims.exp + 6)

    def test_expired_within_leeway_is_still_valid(self, issued, keys):
        token, claims = issued
        assert verify_pass_token(token, keys=keys, now=claims.exp + 5) == claims

    def test_leeway_is_configurable(self, issued, keys):
        token, claims = issued
        assert verify_pass_token(token, keys=keys, now=claims.exp, leeway_s=0) == claims
        with pytest.raises(PassExpired):
            verify_pass_token(token, keys=keys, now=claims.exp + 1, leeway_s=0)

    def test_forged_expired_token_is_invalid_not_expired(self, issued, keys):
        token, claims = issued
        header, payload, signature = token.split(".")
        tampered = f"{header}.{b64url_json({**b64url_decode_json(payload), 't': 'excellent'})}.{signature}"
        with pytest.raises(PassInvalid) as caught:
            verify_pass_token(tampered, keys=keys, now=claims.exp + 3600)
        assert not isinstance(caught.value, PassExpired)

    def test_issued_in_the_future_beyond_leeway_is_invalid(self, issued, keys):
        token, claims = issued
        with pytest.raises(PassInvalid):
            verify_pass_token(token, keys=keys, now=claims.iat - 6)

    def test_issued_slightly_in_the_future_is_tolerated(self, issued, keys):
        token, claims = issued
        assert verify_pass_token(token, keys=keys, now=claims.iat - 5) == claims

    def test_wall_clock_is_not_used(self, key, keys):
        # Issued in 2001: PyJWT's own exp check would refuse it; only the given `now` counts.
        token, claims = issue_pass_token(key=key, subject=SUBJECT, tier="good", now=1_000_000_000, ttl_s=TTL)
        assert verify_pass_token(token, keys=keys, now=1_000_000_030) == claims


class TestErrors:
    def test_codes_and_statuses_match_the_contract(self):
        assert (PassInvalid.status_code, PassInvalid.code) == (400, "PASS_INVALID")
        assert (PassExpired.status_code, PassExpired.code) == (400, "PASS_EXPIRED")
        assert (PassAlreadyUsed.status_code, PassAlreadyUsed.code) == (409, "PASS_ALREADY_USED")
        assert not issubclass(PassExpired, PassInvalid)
