"""The signing recipe, checked against a vector computed here with hmac/hashlib directly."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from partners.signing import sign, signature_matches, signed_headers, string_to_sign

SECRET = "sk_test-secret"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def reference(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


class TestSign:
    def test_known_vector_with_a_body(self):
        body = b'{"hours":3.5}'
        body_hash = hashlib.sha256(body).hexdigest()
        message = f"PUT\n/api/v1/partner/volunteer-hours/ext-1\n1700000000\nnonce-0001\n{body_hash}"
        expected = reference(SECRET, message)
        assert (
            sign(SECRET, "PUT", "/api/v1/partner/volunteer-hours/ext-1", 1700000000, "nonce-0001", body)
            == expected
        )

    def test_a_pinned_vector_does_not_drift(self):
        # Pinned hex, also given by: printf 'GET\n…\ne3b0…b855' | openssl dgst -sha256 -hmac sk_test-secret
        message = f"GET\n/api/v1/partner/residents/r1/tier\n1700000000\nabcdefgh\n{EMPTY_SHA256}"
        assert (
            string_to_sign("GET", "/api/v1/partner/residents/r1/tier", 1700000000, "abcdefgh", b"") == message
        )
        assert sign(SECRET, "GET", "/api/v1/partner/residents/r1/tier", "1700000000", "abcdefgh", b"") == (
            "097349ff93471e6c18c9eab69659ad3b89f09ad36d159042bcba50d465fa0e55"
        )

    def test_query_is_part_of_the_signed_target(self):
        path_qs = "/api/v1/partner/x?b=2&a=1"
        message = f"DELETE\n{path_qs}\n1700000000\nnonce-0002\n{EMPTY_SHA256}"
        assert sign(SECRET, "DELETE", path_qs, 1700000000, "nonce-0002", b"") == reference(SECRET, message)
        # Reordering the query is a different request.
        assert sign(
            SECRET, "DELETE", "/api/v1/partner/x?a=1&b=2", 1700000000, "nonce-0002", b""
        ) != reference(SECRET, message)

    def test_without_query_there_is_no_question_mark(self):
        no_query = sign(SECRET, "GET", "/p", 1, "nonce-0003", b"")
        assert no_query == reference(SECRET, f"GET\n/p\n1\nnonce-0003\n{EMPTY_SHA256}")
        assert no_query != sign(SECRET, "GET", "/p?", 1, "nonce-0003", b"")

    def test_empty_body_hashes_the_empty_string(self):
        assert string_to_sign("POST", "/p", 1, "n" * 8, b"").endswith("\n" + EMPTY_SHA256)

    def test_lowercase_hex_and_method_is_uppercased(self):
        sig = sign(SECRET, "put", "/p", 1, "nonce-0004", b"x")
        assert sig == sig.lower() and len(sig) == 64
        assert sig == sign(SECRET, "PUT", "/p", 1, "nonce-0004", b"x")

    def test_utf8_secret_and_path(self):
        path = "/api/v1/partner/volunteer-hours/%E5%BF%97"
        assert sign("密钥", "PUT", path, 5, "nonce-0005", "志".encode()) == reference(
            "密钥", f"PUT\n{path}\n5\nnonce-0005\n{hashlib.sha256('志'.encode()).hexdigest()}"
        )


class TestSignedHeaders:
    def test_headers_carry_a_signature_over_their_own_values(self):
        h = signed_headers("pk_1", SECRET, "PUT", "/p?q=1", b"{}", now=1700000000.9, nonce="nonce-0006")
        assert (
            h["X-Partner-Key"] == "pk_1" and h["X-Timestamp"] == "1700000000" and h["X-Nonce"] == "nonce-0006"
        )
        assert h["X-Signature"] == sign(SECRET, "PUT", "/p?q=1", 1700000000, "nonce-0006", b"{}")

    def test_fresh_nonce_each_time(self):
        assert (
            signed_headers("k", SECRET, "GET", "/p")["X-Nonce"]
            != signed_headers("k", SECRET, "GET", "/p")["X-Nonce"]
        )

    def test_webhooks_have_no_key_header(self):
        assert "X-Partner-Key" not in signed_headers(None, SECRET, "POST", "/hook")


class TestSignatureMatches:
    @pytest.mark.parametrize("given", ["a" * 64, "A" * 64])
    def test_any_candidate_matches_case_insensitively(self, given):
        assert signature_matches(given, ["b" * 64, "a" * 64])

    def test_no_candidate_no_match(self):
        assert not signature_matches("a" * 64, ["b" * 64])
        assert not signature_matches("a" * 64, [])
