"""Where a partner's webhooks may go: the URL shape, and in prod no internal addresses (SSRF).

Checked when an admin sets the URL and again before every delivery (DNS can change between the
two), so the server can never be turned into a proxy onto its own network: loopback, private,
link-local (cloud metadata at 169.254.169.254), shared, multicast and reserved ranges are refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

MAX_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class WebhookUrlRejected(ValueError):
    """The URL may not receive webhooks; ``str(exc)`` says why."""


def webhook_url_problem(url: str, *, https_only: bool) -> str | None:
    """Why ``url`` is not an acceptable webhook URL by its shape alone, or None."""
    if not isinstance(url, str) or not url:
        return "must be a URL"
    if len(url) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    allowed = ("https",) if https_only else ("http", "https")
    if parts.scheme not in allowed:
        return "must be an https URL" if https_only else "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@)"
    if parts.fragment:
        return "must not have a #fragment"
    return None


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address (an IPv4-mapped IPv6 one is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_webhook_url(
    url: str, *, prod: bool, resolve: Resolver | None = None, timeout_s: float = 5.0
) -> list[IPAddress]:
    """Raise ``WebhookUrlRejected`` unless ``url`` may receive webhooks.

    In ``prod`` the URL must be https and every address its host resolves to must be public.
    Returns those addresses (empty outside prod, where http://127.0.0.1 receivers are fine), so
    a deliverer can connect to an address it checked rather than resolve a second time.
    """
    if why := webhook_url_problem(url, https_only=prod):
        raise WebhookUrlRejected(why)
    if not prod:
        return []
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        raw = await asyncio.wait_for(
            (resolve or _system_resolver)(host, parts.port or 443), timeout=timeout_s
        )
    except (OSError, TimeoutError, UnicodeError):
        raise WebhookUrlRejected("the host does not resolve") from None
    addresses: list[IPAddress] = []
    for item in raw:
        try:
            addresses.append(ipaddress.ip_address(item.split("%", 1)[0]))
        except ValueError:
            raise WebhookUrlRejected("the host resolves to an unusable address") from None
    if not addresses:
        raise WebhookUrlRejected("the host does not resolve")
    if not all(is_public_address(a) for a in addresses):
        raise WebhookUrlRejected("must not point to a loopback, private, link-local or reserved address")
    return addresses
