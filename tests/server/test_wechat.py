"""server.wechat against a real WeChatSandbox over HTTP: wechatpy runs unchanged in between."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import uuid
from collections.abc import Iterator

import fakeredis
import pytest
import redis
import requests
import zxingcpp
from PIL import Image
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from server.wechat import WeChat, WeChatCodeInvalid, WeChatError, WeChatPhoneCodeInvalid, WeChatSession
from server.wechat_sandbox import WeChatSandbox

pytestmark = pytest.mark.anyio

APPID = "wxtest0000000000"
SECRET = "test-secret"
REAL_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[WeChatSandbox]:
    with WeChatSandbox(appid=APPID, secret=SECRET) as running:
        yield running


def make_wechat(sandbox: WeChatSandbox, storage: SessionStorage | None = None) -> WeChat:
    return WeChat(
        appid=sandbox.appid,
        secret=sandbox.secret,
        api_base=sandbox.base_url,
        session_storage=storage if storage is not None else MemoryStorage(),
        timeout_s=2.0,
    )


@pytest.fixture
def wechat(sandbox: WeChatSandbox) -> WeChat:
    return make_wechat(sandbox)


class TestCodeToSession:
    async def test_mock_code_gives_its_openid_and_a_session_key(self, wechat: WeChat) -> None:
        session = await wechat.code_to_session("mock:o_resident-1:abc")
        assert isinstance(session, WeChatSession)
        assert session.openid == "o_resident-1"
        assert session.session_key and session.unionid is None
        assert session.session_key not in repr(session)

    async def test_login_needs_no_access_token(self, sandbox: WeChatSandbox, wechat: WeChat) -> None:
        await wechat.code_to_session("mock:o_1:x")
        assert sandbox.tokens_issued == 0

    async def test_reused_code_is_invalid(self, wechat: WeChat) -> None:
        await wechat.code_to_session("mock:o_1:once")
        with pytest.raises(WeChatCodeInvalid) as caught:
            await wechat.code_to_session("mock:o_1:once")
        assert caught.value.status_code == 401 and caught.value.code == "WECHAT_CODE_INVALID"

    @pytest.mark.parametrize("code", ["garbage", "mock::x", "mock:bad openid:x", "mock:" + "o" * 65 + ":x"])
    async def test_other_codes_are_invalid(self, wechat: WeChat, code: str) -> None:
        with pytest.raises(WeChatCodeInvalid):
            await wechat.code_to_session(code)

    async def test_wrong_secret_is_unavailable_not_a_bad_code(self, sandbox: WeChatSandbox) -> None:
        wechat = WeChat(
            appid=APPID, secret="wrong", api_base=sandbox.base_url, session_storage=MemoryStorage()
        )
        with pytest.raises(WeChatError) as caught:
            await wechat.code_to_session("mock:o_1:x")
        assert caught.value.errcode == 40125 and caught.value.status_code == 502


class TestPhoneNumber:
    async def test_phone_code_gives_the_pure_number(self, wechat: WeChat) -> None:
        assert await wechat.phone_number("phone:13800138000") == "13800138000"

    @pytest.mark.parametrize("code", ["13800138000", "phone:", "phone:138-0013"])
    async def test_other_codes_are_invalid(self, wechat: WeChat, code: str) -> None:
        with pytest.raises(WeChatPhoneCodeInvalid) as caught:
            await wechat.phone_number(code)
        assert caught.value.status_code == 422 and caught.value.code == "PHONE_CODE_INVALID"


class TestSubscribeMessage:
    async def test_message_is_recorded(self, sandbox: WeChatSandbox, wechat: WeChat) -> None:
        data = {"thing1": {"value": "积分已更新"}, "number2": {"value": "720"}}
        await wechat.send_subscribe_message(
            openid="o_1", template_id="tmpl-score", data=data, page="pages/score/index"
        )
        assert sandbox.sent_messages == [
            {"touser": "o_1", "template_id": "tmpl-score", "data": data, "page": "pages/score/index"}
        ]

    async def test_missing_template_is_a_wechat_error(self, sandbox: WeChatSandbox, wechat: WeChat) -> None:
        with pytest.raises(WeChatError) as caught:
            await wechat.send_subscribe_message(openid="o_1", template_id="", data={})
        assert caught.value.errcode == 47003
        assert sandbox.sent_messages == []


class TestWxacode:
    async def test_png_decodes_to_the_scene(self, wechat: WeChat) -> None:
        png = await wechat.wxacode_unlimited(scene="store=42&t=a1", page="pages/pass/index", width=430)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and 280 <= image.width <= 1280
        assert [barcode.text for barcode in zxingcpp.read_barcodes(image)] == ["store=42&t=a1"]

    @pytest.mark.parametrize(("scene", "errcode"), [("", 41030), ("s" * 33, 40169)])
    async def test_bad_scene_is_a_wechat_error(self, wechat: WeChat, scene: str, errcode: int) -> None:
        with pytest.raises(WeChatError) as caught:
            await wechat.wxacode_unlimited(scene=scene)
        assert caught.value.errcode == errcode


class TestAccessToken:
    async def test_fetched_once_and_reused_across_calls(self, sandbox: WeChatSandbox, wechat: WeChat) -> None:
        await wechat.phone_number("phone:13800138000")
        await wechat.send_subscribe_message(openid="o_1", template_id="t", data={})
        await wechat.wxacode_unlimited(scene="s")
        assert sandbox.tokens_issued == 1

    async def test_shared_across_instances_through_fake_redis(self, sandbox: WeChatSandbox) -> None:
        storage = RedisStorage(fakeredis.FakeRedis())
        await self._assert_shared(sandbox, storage)
        assert storage.redis.ttl(f"wechatpy:{APPID}_access_token") > 7200 - 400

    async def test_shared_across_instances_through_real_redis(self) -> None:
        client = redis.Redis.from_url(REAL_REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2.0)
        try:
            client.ping()
        except redis.ConnectionError:
            client.close()
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"no Redis at {REAL_REDIS_URL}")
        appid = f"wxtest{uuid.uuid4().hex[:12]}"  # a key of its own in a shared database
        storage = RedisStorage(client, prefix="xinyi-test")
        try:
            with WeChatSandbox(appid=appid, secret=SECRET) as sandbox:
                await self._assert_shared(sandbox, storage)
        finally:
            storage.delete(f"{appid}_access_token")
            client.close()

    async def _assert_shared(self, sandbox: WeChatSandbox, storage: SessionStorage) -> None:
        first, second = make_wechat(sandbox, storage), make_wechat(sandbox, storage)
        await first.phone_number("phone:13800138000")
        await second.phone_number("phone:13900139000")
        await second.send_subscribe_message(openid="o_1", template_id="t", data={})
        await first.wxacode_unlimited(scene="s")
        assert sandbox.tokens_issued == 1

    async def test_revoked_token_is_refreshed_transparently(
        self, sandbox: WeChatSandbox, wechat: WeChat
    ) -> None:
        await wechat.phone_number("phone:13800138000")
        sandbox.revoke_tokens()
        assert await wechat.phone_number("phone:13800138001") == "13800138001"
        await wechat.send_subscribe_message(openid="o_1", template_id="t", data={})
        assert sandbox.tokens_issued == 2

    async def test_expired_token_is_refreshed_once_then_gives_up(self) -> None:
        with WeChatSandbox(appid=APPID, secret=SECRET, token_ttl_s=0) as sandbox:  # born expired
            with pytest.raises(WeChatError) as caught:
                await make_wechat(sandbox).phone_number("phone:13800138000")
        assert caught.value.errcode == 42001
        assert sandbox.tokens_issued == 2

    async def test_concurrent_calls_fetch_one_token_and_refresh_it_once(
        self, sandbox: WeChatSandbox, wechat: WeChat
    ) -> None:
        phones = [f"1380013800{i}" for i in range(8)]
        assert await asyncio.gather(*(wechat.phone_number(f"phone:{p}") for p in phones)) == phones
        sandbox.revoke_tokens()
        assert await asyncio.gather(*(wechat.phone_number(f"phone:{p}") for p in phones)) == phones
        assert sandbox.tokens_issued == 2

    async def test_wrong_secret_is_a_wechat_error(self, sandbox: WeChatSandbox) -> None:
        wechat = WeChat(
            appid=APPID, secret="nope", api_base=sandbox.base_url, session_storage=MemoryStorage()
        )
        with pytest.raises(WeChatError) as caught:
            await wechat.phone_number("phone:13800138000")
        assert caught.value.errcode == 40125


class TestLogging:
    async def test_no_codes_keys_phones_or_secrets_in_logs(
        self, caplog: pytest.LogCaptureFixture, sandbox: WeChatSandbox, wechat: WeChat
    ) -> None:
        for name in ("server", "wechatpy"):
            caplog.set_level(logging.DEBUG, logger=name)
        session = await wechat.code_to_session("mock:o_1:login-code")
        with pytest.raises(WeChatCodeInvalid):
            await wechat.code_to_session("mock:o_1:login-code")
        await wechat.phone_number("phone:13800138000")
        sandbox.revoke_tokens()
        await wechat.send_subscribe_message(openid="o_1", template_id="t", data={})
        assert caplog.records  # the calls did log something
        for secret in ("login-code", session.session_key, "13800138000", SECRET, "access_token="):
            assert secret not in caplog.text


class TestTransport:
    async def test_stopped_sandbox_is_a_wechat_error(self, sandbox: WeChatSandbox, wechat: WeChat) -> None:
        sandbox.stop()
        with pytest.raises(WeChatError) as caught:
            await wechat.code_to_session("mock:o_1:x")
        assert caught.value.status_code == 502 and caught.value.code == "WECHAT_UNAVAILABLE"
        assert caught.value.__cause__ is None  # requests' message carries the URL with the secret
        with pytest.raises(WeChatError):
            await wechat.phone_number("phone:13800138000")

    def test_unknown_path_is_a_404(self, sandbox: WeChatSandbox) -> None:
        response = requests.get(sandbox.base_url + "cgi-bin/nope", timeout=2)
        assert response.status_code == 404 and response.json()["errcode"] == 40066

    def test_sandbox_checks_token_credentials(self, sandbox: WeChatSandbox) -> None:
        params = {"grant_type": "client_credential", "appid": APPID, "secret": "x"}
        answer = requests.get(sandbox.base_url + "cgi-bin/token", params=params, timeout=2).json()
        assert answer == {"errcode": 40125, "errmsg": "invalid appsecret"}
        params["secret"] = SECRET
        answer = requests.get(sandbox.base_url + "cgi-bin/token", params=params, timeout=2).json()
        assert answer["expires_in"] == 7200 and answer["access_token"]
        assert sandbox.tokens_issued == 1
