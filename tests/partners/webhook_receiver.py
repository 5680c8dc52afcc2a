"""A real HTTP/1.1 webhook receiver on 127.0.0.1 for the tests: records requests, answers scripted statuses."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from typing import Any

import orjson

from partners.signing import sign


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    def signature_ok(self, secret: str) -> bool:
        expected = sign(
            secret, self.method, self.target, self.headers["x-timestamp"], self.headers["x-nonce"], self.body
        )
        return self.headers.get("x-signature") == expected


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Receiver:
    """Answers ``script`` statuses in order, then ``default``; ``delay_s`` before answering."""

    script: list[int] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0
    port: int = field(default_factory=free_port)
    path: str = "/hooks/xinyi?tenant=yn"
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: asyncio.AbstractServer | None = None
        self._changed = asyncio.Condition()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def acknowledged(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, predicate: Any, timeout_s: float = 10.0) -> None:
        """Until ``predicate(self)`` holds (AssertionError after ``timeout_s``)."""

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        try:
            await asyncio.wait_for(until(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"the receiver got {len(self.requests)} requests: {self.requests}") from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                status = self.script.pop(0) if self.script else self.default
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok".encode()
                )
                await writer.drain()
                async with self._changed:
                    self.requests.append(Received(method, target, headers, body, status))
                    self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
