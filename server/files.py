"""Files in and out of routes: a bounded ``multipart/form-data`` upload, and a stored file given back.

The app's body limit (``REQUEST_MAX_SIZE``, 1 MB by default) holds for every route but a
streaming one (``@bp.post(..., stream=True)``): Sanic lifts its limit for such a route and the
frame's ``_body_limit`` middleware leaves it alone, so the route reads its own body with
``read_upload``, after authentication, refusing it past its own limit. Nothing else changes
for the rest of the API: a 6 MB JSON body to any other route is still 413 ``PAYLOAD_TOO_LARGE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sanic import Request
from sanic.headers import parse_content_header
from sanic.response import HTTPResponse

from server.errors import AppError, ValidationFailed

MULTIPART_SLACK = 64 * 1024  # the multipart framing around the file: boundaries, part headers, a few fields


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its bytes and the name the client gave it (never trusted, never used as a path)."""

    data: bytes
    filename: str


async def read_upload(request: Request, *, part: str, max_bytes: int, too_large: type[AppError]) -> Upload:
    """The one file part ``part`` of a streaming route's ``multipart/form-data`` body.

    ``too_large`` is raised as soon as the declared length, or what has arrived so far, passes
    ``max_bytes`` plus the multipart framing (the rest is not read), or when the file itself is
    larger than ``max_bytes``; 422 ``VALIDATION_ERROR`` when the body is not one file part named ``part``.
    """
    missing = ValidationFailed({part: f"a multipart/form-data body with one file part named {part!r}"})
    media_type, params = parse_content_header(request.headers.get("content-type", ""))
    if media_type != "multipart/form-data" or not params.get("boundary"):
        raise missing
    limit = max_bytes + MULTIPART_SLACK
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large()
    stream: Any = request.stream  # Sanic types a stream without its reader; HTTP/1 and ASGI streams have one
    chunks: list[bytes] = []
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise too_large()
        chunks.append(chunk)
    request.body = b"".join(chunks)  # what Sanic's multipart parser (request.files) reads
    files = request.files.getlist(part) if request.files else []
    if len(files) != 1:
        raise missing
    if len(files[0].body) > max_bytes:
        raise too_large()
    return Upload(data=files[0].body, filename=files[0].name or "")


def stored_file(data: bytes, *, content_type: str, filename: str, inline: bool) -> HTTPResponse:
    """A stored file given back: its stored type, inline (images) or as a download, never run as a page.

    The frame adds ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store``; the policy
    here also sandboxes the file, so a PDF or an image a browser opens cannot run script.
    """
    disposition = "inline" if inline else "attachment"
    return HTTPResponse(
        data,
        status=200,
        content_type=content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
