"""CSV answers that a spreadsheet opens as they are: UTF-8 with a BOM (Excel reads the Chinese labels), a header row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from sanic.response import HTTPResponse
from sanic_ext.extensions.openapi.builders import OperationStore

CSV_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A value as a cell; text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The header and the rows as CSV (RFC 4180, CRLF line ends), UTF-8 with a BOM."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue().encode("utf-8")


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], *, filename: str) -> HTTPResponse:
    """``text/csv; charset=utf-8`` with a BOM and a header row, offered as a download named ``filename``."""
    return HTTPResponse(
        csv_bytes(header, rows),
        status=200,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        content_type=CSV_TYPE,
    )


CSV_SCHEMA = {"type": "string", "description": "UTF-8 with a BOM, a header row, one row per cell"}


def also_csv(handler: Any) -> Any:
    """Document the 200 answer's CSV form (``?format=csv``) beside its JSON one; apply it above ``documented``."""
    content = OperationStore()[handler].responses["200"].setdefault("content", {})
    content["text/csv"] = {"schema": CSV_SCHEMA}
    return handler
