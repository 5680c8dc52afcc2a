"""The app's async door to WeChat: wechatpy (blocking, ``requests``) run in worker threads.

``api_base`` is WeChat's host in ``prod`` and the sandbox (``server.wechat_sandbox``) in dev and
test; both speak the same HTTP API. The access token lives in the given wechatpy
``SessionStorage`` under wechatpy's key (``<appid>_access_token``): in production a
``RedisStorage`` over a sync ``redis.Redis``, so every worker shares one token.

Why not plain wechatpy defaults:

- ``WeChatClient.fetch_access_token`` hard-codes ``https://api.weixin.qq.com`` and sends no
  timeout; ``_Client`` overrides it.
- wechatpy's own retry on 40001/42001 recurses without a bound and refetches the token in every
  thread that sees the error; here the retry happens once, and only the first thread refetches.
- wechatpy appends ``access_token`` to every call whose ``params`` is a dict, so its
  ``code_to_session`` would fetch an access token (``cgi-bin/token``, IP-whitelisted in
  production) just to log a resident in. jscode2session needs none; ``code_to_session`` passes
  its parameters as a list, which wechatpy leaves alone.

Never log codes, session keys or phone numbers; errors are logged by errcode only, and
transport errors by class name (``requests`` messages include the URL, with the secret in it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from server.errors import AppError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# invalid credential / invalid access_token / access_token expired: fetch a new token and retry once
_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
_CODE_INVALID_ERRCODES = (40029, 40163)  # invalid code, code been used
_TOKEN_MARGIN_S = 300  # drop the cached token this long before WeChat says it expires
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


class WeChatError(AppError):
    """WeChat could not be reached or answered an error the caller cannot fix; ``errcode`` if any."""

    status_code = 502
    code = "WECHAT_UNAVAILABLE"
    message = "WeChat is unavailable; try again shortly."

    def __init__(self, message: str | None = None, *, errcode: int | None = None):
        super().__init__(message)
        self.errcode = errcode


class WeChatCodeInvalid(AppError):
    """The ``wx.login`` code is unknown, expired or already used."""

    status_code = 401
    code = "WECHAT_CODE_INVALID"
    message = "The WeChat login code is invalid or has already been used."


class WeChatPhoneCodeInvalid(AppError):
    """The ``getPhoneNumber`` code is unknown, expired or already used."""

    status_code = 422
    code = "PHONE_CODE_INVALID"
    message = "The phone number code is invalid or has expired."


@dataclass(frozen=True)
class WeChatSession:
    """What jscode2session answers for a login code."""

    openid: str
    session_key: str
    unionid: str | None

    def __repr__(self) -> str:
        return f"WeChatSession(openid={self.openid!r}, session_key='***', unionid={self.unionid!r})"


class _Client(WeChatClient):
    """wechatpy's client aimed at ``api_base``, with a shared token that is refreshed under a lock."""

    def __init__(self, appid: str, secret: str, *, api_base: str, session: SessionStorage, timeout: float):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base + "cgi-bin/"
        self.wxa.API_BASE_URL = api_base
        self._token_url = api_base + "cgi-bin/token"
        self._token_lock = threading.Lock()

    @property
    def access_token(self) -> str:
        """The cached token, fetched when the storage has none (its TTL ends it before WeChat does)."""
        token = self.session.get(self.access_token_key)
        return token if token else self.refresh_access_token(stale=None)

    def refresh_access_token(self, *, stale: str | None) -> str:
        """Fetch a new token unless another thread has already replaced ``stale``; return the current one."""
        with self._token_lock:
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return current
            return self.fetch_access_token()["access_token"]

    def fetch_access_token(self) -> dict[str, Any]:
        """GET cgi-bin/token at ``api_base`` with the timeout, and store the token with a TTL."""
        response = self._http.get(
            self._token_url,
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        response.raise_for_status()
        result = response.json()
        if not isinstance(result, dict) or result.get("errcode") or not result.get("access_token"):
            errcode = result.get("errcode") if isinstance(result, dict) else None
            errmsg = result.get("errmsg") if isinstance(result, dict) else None
            raise WeChatClientException(errcode, errmsg or "no access_token", client=self, response=response)
        expires_in = int(result.get("expires_in") or 7200)
        ttl = max(1, expires_in - min(_TOKEN_MARGIN_S, expires_in // 2))
        self.session.set(self.access_token_key, result["access_token"], ttl)
        self.expires_at = int(time.time()) + expires_in
        logger.info("Fetched a WeChat access token (expires in %ss)", expires_in)
        return result


class WeChat:
    """Login, phone number, subscribe messages and wxacodes, async over wechatpy."""

    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        api_base: str,
        session_storage: SessionStorage,
        timeout_s: float = 5.0,
    ):
        api_base = api_base if api_base.endswith("/") else api_base + "/"
        self._client = _Client(appid, secret, api_base=api_base, session=session_storage, timeout=timeout_s)

    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a ``wx.login`` code for the resident's openid and session key."""
        params = [
            ("appid", self._client.appid),
            ("secret", self._client.secret),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ]
        result = await self._call(
            "jscode2session",
            lambda: self._client.wxa._get("sns/jscode2session", params=params),
            needs_token=False,
            refusals=dict.fromkeys(_CODE_INVALID_ERRCODES, WeChatCodeInvalid),
        )
        openid = result.get("openid") if isinstance(result, dict) else None
        session_key = result.get("session_key") if isinstance(result, dict) else None
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str):
            logger.warning("WeChat jscode2session answered without an openid or session_key")
            raise WeChatError()
        unionid = result.get("unionid")
        return WeChatSession(openid=openid, session_key=session_key, unionid=unionid or None)

    async def phone_number(self, code: str) -> str:
        """The pure phone number (no country code) behind a ``getPhoneNumber`` code."""
        result = await self._call(
            "getuserphonenumber",
            lambda: self._client.wxa._post("wxa/business/getuserphonenumber", data={"code": code}),
            refusals=dict.fromkeys(_CODE_INVALID_ERRCODES, WeChatPhoneCodeInvalid),
        )
        phone_info = result.get("phone_info") if isinstance(result, dict) else None
        phone = phone_info.get("purePhoneNumber") if isinstance(phone_info, dict) else None
        if not isinstance(phone, str) or not phone:
            logger.warning("WeChat getuserphonenumber answered without a phone number")
            raise WeChatError()
        return phone

    async def send_subscribe_message(
        self, *, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> None:
        """Send a mini-program subscribe message; a refusal (e.g. 43101, not subscribed) is a WeChatError."""
        await self._call(
            "subscribe/send",
            lambda: self._client.wxa.send_subscribe_message(openid, template_id, data, page=page),
        )

    async def wxacode_unlimited(self, *, scene: str, page: str | None = None, width: int = 430) -> bytes:
        """A mini-program code image for ``scene`` (at most 32 characters), as the image bytes (PNG)."""
        response = await self._call(
            "getwxacodeunlimit",
            lambda: self._client.wxa.get_wxa_code_unlimited(scene, width=width, page=page),
        )
        # wechatpy hands back the raw ``requests.Response`` when the body is not JSON: the image.
        content = response.content if isinstance(response, requests.Response) else b""
        if not content.startswith(_IMAGE_MAGIC):
            logger.warning("WeChat getwxacodeunlimit answered without an image")
            raise WeChatError()
        return content

    async def _call(
        self,
        operation: str,
        request: Callable[[], T],
        *,
        needs_token: bool = True,
        refusals: Mapping[int, type[AppError]] | None = None,
    ) -> T:
        """Run ``request`` in a thread; map wechatpy and ``requests`` failures to AppErrors."""
        try:
            return await asyncio.to_thread(self._call_blocking, request, needs_token)
        except WeChatClientException as exc:
            refusal = (refusals or {}).get(exc.errcode) if exc.errcode is not None else None
            if refusal is not None:
                logger.info("WeChat %s refused the code (errcode %s)", operation, exc.errcode)
                raise refusal() from None
            logger.warning("WeChat %s failed: errcode %s (%s)", operation, exc.errcode, exc.errmsg)
            raise WeChatError(errcode=exc.errcode) from None
        except requests.RequestException as exc:
            logger.warning("WeChat %s failed: %s", operation, type(exc).__name__)
            raise WeChatError() from None

    def _call_blocking(self, request: Callable[[], T], needs_token: bool) -> T:
        """Call once; if WeChat rejects the access token, refresh it and call once more."""
        if not needs_token:
            return request()
        token = self._client.access_token
        try:
            return request()
        except WeChatClientException as exc:
            if exc.errcode not in _TOKEN_ERRCODES:
                raise
            logger.info("WeChat rejected the access token (errcode %s); fetching a new one", exc.errcode)
        self._client.refresh_access_token(stale=token)
        return request()
