"""The regulator's dashboard page (/admin/): static files shipped with the package (``admin/static``).

The page logs in with a regulator account and calls /api/v1/admin itself; everything it loads
(its script, its style, ECharts under ``vendor/``) is served from here, so it works with no internet.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import redirect
from sanic_ext.extensions.openapi import openapi

from server.static import page_csp, serve_file

bp = Blueprint("admin_dashboard", url_prefix="/admin")
STATIC = Path(__file__).resolve().parent / "static"
CSP = page_csp(scripts=True, connect=True)


@bp.get("", strict_slashes=True)
@openapi.exclude()  # a page for people, not an operation of the API
async def dashboard_redirect(request: Request) -> HTTPResponse:
    return redirect("/admin/", status=301)


def _page(request: Request) -> HTTPResponse:
    response = serve_file(request, STATIC, "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-cache"  # a new release's page is seen at once
    return response


@bp.get("/", strict_slashes=True)
@openapi.exclude()
async def dashboard(request: Request) -> HTTPResponse:
    return _page(request)


@bp.get("/assets/<name:path>")
@openapi.exclude()
async def asset(request: Request, name: str) -> HTTPResponse:
    if name == "index.html":
        return _page(request)
    return serve_file(request, STATIC, name)
