"""``/docs``: Swagger UI served from the app's own files, so the API's documentation opens on a network
with no internet (a government intranet) as well as anywhere else.

Swagger UI comes from the ``swagger-ui-bundle`` package (its files are installed with it); the page,
its start-up script and style are ours (``server/docs_assets``). The page points at
``/docs/openapi.json`` (sanic-ext's, which keeps serving the spec) and names no other host. With
``DOCS=0`` neither the page nor the spec is served.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, HTTPResponse, Request, Sanic
from sanic_ext.extensions.openapi import openapi
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # ships no type marker

from server.errors import NotFound
from server.static import page_csp, serve_file

OWN = Path(__file__).resolve().parent / "docs_assets"
SWAGGER_UI = Path(str(swagger_ui_path))
# the files of the package the page uses (and their source maps, for a browser's developer tools)
SWAGGER_FILES = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "swagger-ui.css",
        "swagger-ui.css.map",
        "favicon-32x32.png",
    }
)
CSP = page_csp(scripts=True, connect=True)

PAGE_FILE = OWN / "docs.html"
# sanic-ext serves the page (its "redoc" slot, pointed at our file: it then also answers /docs, whose
# route name its start-up banner needs); Swagger UI's own slot is off, it would fetch from a CDN
PAGES = frozenset({"/docs", "/docs/", "/docs/ui"})


def configure(app: Sanic, *, enabled: bool) -> None:
    """sanic-ext's OpenAPI settings: the spec at /docs/openapi.json, our page at /docs; nothing with DOCS=0."""
    config = app.config
    config.OAS = enabled
    config.OAS_URL_PREFIX = "/docs"
    config.OAS_URI_TO_JSON = "/openapi.json"
    config.OAS_UI_SWAGGER = False
    config.OAS_UI_REDOC = True
    config.OAS_UI_DEFAULT = "redoc"
    config.OAS_URI_TO_REDOC = "/ui"
    config.OAS_PATH_TO_REDOC_HTML = str(PAGE_FILE)
    if enabled:
        app.blueprint(bp)


def page_policy(path: str) -> str | None:
    """The policy of the docs page (its own scripts, styles and the spec), None for any other path."""
    return CSP if path in PAGES else None


bp = Blueprint("docs_ui", url_prefix="/docs")


@bp.get("/assets/<name:path>")
@openapi.exclude()
async def asset(request: Request, name: str) -> HTTPResponse:
    if name in SWAGGER_FILES:
        return serve_file(request, SWAGGER_UI, name)
    if name in ("docs.js", "docs.css"):
        return serve_file(request, OWN, name)
    raise NotFound("No such file.")
