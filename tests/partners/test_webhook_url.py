"""Webhook URL checks: shape everywhere, https and public addresses only in prod (SSRF)."""

from __future__ import annotations

import ipaddress

import pytest

from partners.webhook_url import WebhookUrlRejected, check_webhook_url, is_public_address, webhook_url_problem


def resolver(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def failing_resolver(host: str, port: int) -> list[str]:
    raise OSError("Name or service not known")


class TestShape:
    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:8080/hook", "https://hooks.example.com/x?y=1", "http://localhost/h"]
    )
    def test_http_and_https_are_fine_outside_prod(self, url):
        assert webhook_url_problem(url, https_only=False) is None

    @pytest.mark.parametrize(
        "url",
        [
            "",
            "ftp://example.com/h",
            "example.com/h",
            "https:///nohost",
            "https://user:pw@example.com/h",
            "https://example.com/h#frag",
            "https://example.com/a b",
            "https://example.com:99999/h",
            "javascript:alert(1)",
            "https://example.com/" + "a" * 2048,
        ],
    )
    def test_bad_shapes_are_refused(self, url):
        assert webhook_url_problem(url, https_only=False)

    def test_https_only_in_prod(self):
        assert webhook_url_problem("http://example.com/h", https_only=True) == "must be an https URL"


class TestPublicAddress:
    @pytest.mark.parametrize(
        "ip",
        [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ],
    )
    def test_internal_addresses_are_not_public(self, ip):
        assert not is_public_address(ipaddress.ip_address(ip))

    @pytest.mark.parametrize("ip", ["1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
    def test_global_addresses_are_public(self, ip):
        assert is_public_address(ipaddress.ip_address(ip))


class TestCheck:
    async def test_outside_prod_anything_well_formed_passes_without_resolving(self):
        assert await check_webhook_url("http://127.0.0.1:9/hook", prod=False, resolve=failing_resolver) == []

    async def test_prod_accepts_a_host_that_resolves_to_public_addresses_only(self):
        got = await check_webhook_url(
            "https://hooks.example.com/h", prod=True, resolve=resolver("93.184.216.34", "2606:2800::1")
        )
        assert [str(a) for a in got] == ["93.184.216.34", "2606:2800::1"]

    @pytest.mark.parametrize(
        "addresses", [("127.0.0.1",), ("93.184.216.34", "10.0.0.5"), ("169.254.169.254",), ("::1",)]
    )
    async def test_prod_refuses_any_internal_address(self, addresses):
        with pytest.raises(WebhookUrlRejected, match="loopback, private"):
            await check_webhook_url("https://rebind.example.com/h", prod=True, resolve=resolver(*addresses))

    @pytest.mark.parametrize(
        "url",
        ["https://127.0.0.1/h", "https://[::1]/h", "https://10.0.0.1/h", "https://169.254.169.254/latest"],
    )
    async def test_prod_refuses_literal_internal_ips_with_the_system_resolver(self, url):
        with pytest.raises(WebhookUrlRejected):
            await check_webhook_url(url, prod=True)

    async def test_prod_refuses_http(self):
        with pytest.raises(WebhookUrlRejected, match="https"):
            await check_webhook_url(
                "http://hooks.example.com/h", prod=True, resolve=resolver("93.184.216.34")
            )

    async def test_prod_refuses_a_host_that_does_not_resolve(self):
        with pytest.raises(WebhookUrlRejected, match="does not resolve"):
            await check_webhook_url("https://nowhere.invalid/h", prod=True, resolve=failing_resolver)
        with pytest.raises(WebhookUrlRejected, match="does not resolve"):
            await check_webhook_url("https://nowhere.invalid/h", prod=True, resolve=resolver())
