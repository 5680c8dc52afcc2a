"""A local stand-in for the WeChat server API, spoken over real HTTP so wechatpy runs unchanged.

Used in ``dev`` and ``test`` (in-process, or ``xinyi wechat-sandbox --port P``). It answers the
calls the product makes, with WeChat's paths, parameters and errcodes:

- ``GET  cgi-bin/token``                     → an access token (40125 on a wrong appid/secret)
- ``GET  sns/jscode2session``                → login codes ``mock:<openid>:<anything>``, single use
                                               (40163 when reused, 40029 for any other code)
- ``POST wxa/business/getuserphonenumber``   → phone codes ``phone:<digits>`` (else 40029)
- ``POST cgi-bin/message/subscribe/send``    → recorded in ``sent_messages``
- ``POST wxa/getwxacodeunlimit``             → a PNG (a plain QR code of the scene, so tests can
                                               decode it; WeChat's own is a round "sun" code)

Calls that need an access token answer 40001 for an unknown or revoked one and 42001 for an
expired one, as WeChat does. Nothing secret is logged: no query strings, codes or bodies.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import qrcode

logger = logging.getLogger(__name__)

# The same development credentials ``server.settings`` falls back to outside ``prod``.
DEFAULT_APPID = "wxd0000000000000dev"
DEFAULT_SECRET = "sandbox-secret"

_LOGIN_CODE = re.compile(r"mock:([A-Za-z0-9_-]{1,64}):(.*)", re.DOTALL)
_PHONE_CODE = re.compile(r"phone:(\d{1,20})")
# WeChat allows these in a wxacode scene: letters, digits and !#$&'()*+,/:;=?@-._~
_SCENE = re.compile(r"[A-Za-z0-9!#$&'()*+,/:;=?@\-._~]{1,32}")
_MAX_BODY = 1_000_000


class _Reply(Exception):
    """Raised inside a route to answer with a WeChat errcode."""

    def __init__(self, errcode: int, errmsg: str):
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or 47001 as WeChat answers for a malformed body."""
        try:
            data = json.loads(self.body or b"{}")
        except (UnicodeDecodeError, ValueError):
            raise _Reply(47001, "data format error") from None
        if not isinstance(data, dict):
            raise _Reply(47001, "data format error")
        return data


@dataclass(frozen=True)
class _Response:
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    status: int = HTTPStatus.OK


def _json(payload: dict[str, Any]) -> _Response:
    return _Response(json.dumps(payload, ensure_ascii=False).encode())


class WeChatSandbox:
    """A threaded HTTP server answering a subset of WeChat's API; state is inspectable by tests."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        *,
        token_ttl_s: int = 7200,
    ):
        self.host = host
        self.port = port
        self.appid = appid
        self.secret = secret
        self.token_ttl_s = token_ttl_s
        self.tokens_issued = 0
        self.sent_messages: list[dict[str, Any]] = []
        self._tokens: dict[str, float] = {}  # access token → monotonic expiry
        self._used_codes: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[tuple[str, str], Callable[[_Request], _Response]] = {
            ("GET", "/cgi-bin/token"): self._token,
            ("GET", "/sns/jscode2session"): self._jscode2session,
            ("POST", "/wxa/business/getuserphonenumber"): self._phone_number,
            ("POST", "/cgi-bin/message/subscribe/send"): self._subscribe_send,
            ("POST", "/wxa/getwxacodeunlimit"): self._wxacode_unlimit,
        }

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Bind and serve in a daemon thread; return the base URL (ends with ``/``)."""
        if self._server is not None:
            raise RuntimeError("the WeChat sandbox is already running")
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wechat-sandbox", daemon=True
        )
        self._thread.start()
        logger.info("WeChat sandbox listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """``http://host:port/``, the value for ``WECHAT_API_BASE``."""
        if self._server is None:
            raise RuntimeError("the WeChat sandbox is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def __enter__(self) -> WeChatSandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test controls ---------------------------------------------------------------------------

    def revoke_tokens(self) -> None:
        """Forget every issued access token, as if WeChat had expired them all (next use: 40001)."""
        with self._lock:
            self._tokens.clear()

    def _dispatch(self, request: _Request) -> _Response:
        """Route one request; WeChat answers errors as HTTP 200 with an errcode."""
        route = self._routes.get((request.method, request.path))
        if route is None:
            return _Response(
                json.dumps({"errcode": 40066, "errmsg": "invalid url"}).encode(), status=HTTPStatus.NOT_FOUND
            )
        try:
            return route(request)
        except _Reply as reply:
            return _json({"errcode": reply.errcode, "errmsg": reply.errmsg})

    # -- checks ----------------------------------------------------------------------------------

    def _check_app(self, query: dict[str, str]) -> None:
        if query.get("appid") != self.appid or query.get("secret") != self.secret:
            raise _Reply(40125, "invalid appsecret")

    def _check_token(self, query: dict[str, str]) -> None:
        token = query.get("access_token")
        if not token:
            raise _Reply(41001, "access_token missing")
        with self._lock:
            expires_at = self._tokens.get(token)
        if expires_at is None:
            raise _Reply(40001, "invalid credential, access_token is invalid or not latest")
        if expires_at <= time.monotonic():
            raise _Reply(42001, "access_token expired")

    # -- routes ----------------------------------------------------------------------------------

    def _token(self, request: _Request) -> _Response:
        if request.query.get("grant_type") != "client_credential":
            raise _Reply(40002, "invalid grant_type")
        self._check_app(request.query)
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
            self.tokens_issued += 1
        return _json({"access_token": token, "expires_in": self.token_ttl_s})

    def _jscode2session(self, request: _Request) -> _Response:
        if request.query.get("grant_type") != "authorization_code":
            raise _Reply(40002, "invalid grant_type")
        self._check_app(request.query)
        code = request.query.get("js_code", "")
        if not code:
            raise _Reply(41008, "missing code")
        match = _LOGIN_CODE.fullmatch(code)
        if match is None:
            raise _Reply(40029, "invalid code")
        with self._lock:
            if code in self._used_codes:
                raise _Reply(40163, "code been used")
            self._used_codes.add(code)
        session_key = base64.b64encode(secrets.token_bytes(16)).decode()
        return _json({"openid": match.group(1), "session_key": session_key})

    def _phone_number(self, request: _Request) -> _Response:
        self._check_token(request.query)
        code = request.json().get("code")
        match = _PHONE_CODE.fullmatch(code) if isinstance(code, str) else None
        if match is None:
            raise _Reply(40029, "invalid code")
        phone = match.group(1)
        return _json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": int(time.time()), "appid": self.appid},
                },
            }
        )

    def _subscribe_send(self, request: _Request) -> _Response:
        self._check_token(request.query)
        message = request.json()
        for name in ("touser", "template_id"):
            if not isinstance(message.get(name), str) or not message[name]:
                raise _Reply(47003, f"argument invalid! data.{name} is empty")
        with self._lock:
            self.sent_messages.append(message)
        return _json({"errcode": 0, "errmsg": "ok", "msgid": secrets.randbelow(2**53)})

    def _wxacode_unlimit(self, request: _Request) -> _Response:
        self._check_token(request.query)
        body = request.json()
        scene, page = body.get("scene"), body.get("page")
        if not isinstance(scene, str) or not scene:
            raise _Reply(41030, "invalid scene")
        if not _SCENE.fullmatch(scene):
            raise _Reply(40169, "invalid length for scene, or the data is not json string")
        if page is not None and (not isinstance(page, str) or not page or page.startswith("/")):
            raise _Reply(41030, "invalid page")  # WeChat wants "pages/x/y", no leading slash
        width = body.get("width", 430)
        width = min(max(width if isinstance(width, int) else 430, 280), 1280)
        return _Response(_qr_png(scene, width), content_type="image/png")


def _qr_png(text: str, width: int) -> bytes:
    """A QR code of ``text`` as PNG, about ``width`` pixels wide."""
    code = qrcode.QRCode(border=4, error_correction=qrcode.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    modules = code.modules_count + 2 * code.border
    code.box_size = max(1, width // modules)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def _make_handler(sandbox: WeChatSandbox) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``sandbox`` (HTTP/1.0: one request per connection)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "WeChatSandbox/1.0"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                return
            body = self.rfile.read(length) if length else b""
            query = {name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()}
            response = sandbox._dispatch(_Request(method, url.path, query, body))
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # The path only: query strings carry the app secret, login codes and access tokens.
            logger.debug("%s %s → %s", self.command, urlsplit(self.path).path, code)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("WeChat sandbox: " + format, *args)

    return Handler


def serve_forever(
    host: str = "127.0.0.1", port: int = 8081, *, appid: str = DEFAULT_APPID, secret: str = DEFAULT_SECRET
) -> None:
    """Run the sandbox in the foreground until interrupted (``xinyi wechat-sandbox``)."""
    sandbox = WeChatSandbox(host, port, appid, secret)
    base_url = sandbox.start()
    print(f"WeChat sandbox on {base_url} (appid {appid}); set WECHAT_API_BASE={base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
