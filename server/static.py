"""Files shipped with the project (a page's scripts, styles, images) and the pages' security policy.

``serve_file(root, name)`` answers one file under ``root``: the name is checked (no ``..``, no hidden
files, only the types below) and must resolve inside ``root``, else 404. Files are read once per
process (they are part of the installed package and do not change while it runs), with an ``ETag``
and a ``Cache-Control`` that lets browsers keep them for an hour.

``page_csp(...)``: the ``Content-Security-Policy`` of an HTML page of the app (the public lists, the
dashboard, /docs): its own scripts and styles only (``'self'``), no inline script, nothing from
another host. The frame gives everything else ``default-src 'none'`` (``server.app``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from sanic import Request
from sanic.response import HTTPResponse

from server.errors import NotFound

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
ASSET_MAX_AGE_S = 3600
_NAME = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def page_csp(*, scripts: bool = False, connect: bool = False, inline_styles: bool = False) -> str:
    """A page's policy: its own styles, images (and scripts, and calls to its own origin) only."""
    parts = [
        "default-src 'none'",
        "style-src 'self'" + (" 'unsafe-inline'" if inline_styles else ""),
        "img-src 'self' data:",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    if scripts:
        parts.append("script-src 'self'")
    if connect:
        parts.append("connect-src 'self'")
    return "; ".join(parts)


def html_page(
    body: str, *, csp: str, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """An HTML document with its policy (and nothing cached unless ``headers`` say otherwise)."""
    return HTTPResponse(
        body.encode(),
        status=status,
        headers={"Content-Security-Policy": csp, **(headers or {})},
        content_type="text/html; charset=utf-8",
    )


@functools.lru_cache(maxsize=64)
def _read(path: Path) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def serve_file(request: Request, root: Path, name: str, *, max_age: int = ASSET_MAX_AGE_S) -> HTTPResponse:
    """The file ``name`` under ``root`` (304 when the browser has it), else 404 ``NOT_FOUND``."""
    suffix = Path(name).suffix.lower()
    if not _NAME.match(name) or ".." in name or suffix not in CONTENT_TYPES:
        raise NotFound("No such file.")
    base = root.resolve()
    path = (base / name).resolve()
    if base not in path.parents or not path.is_file():
        raise NotFound("No such file.")
    data, etag = _read(path)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if request.headers.get("if-none-match") == etag:
        return HTTPResponse(status=304, headers=headers)
    return HTTPResponse(data, headers=headers, content_type=CONTENT_TYPES[suffix])
