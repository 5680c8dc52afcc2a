"""/docs opens with no internet: Swagger UI from the app's own files, the page naming no other host."""

from __future__ import annotations

import re
import uuid

from tests.factories import started_client
from xinyi.app import create_app

URL = re.compile(r"""(?:https?:)?//([^/"'\s)]+)""")


async def test_the_docs_page_names_no_other_host_and_its_assets_answer(client):
    r = await client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert URL.findall(page) == [], URL.findall(page)  # no CDN, no other host: only paths on this server
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', page)
    assert "/docs/assets/swagger-ui-bundle.js" in assets and "/docs/assets/swagger-ui.css" in assets
    for path in assets:
        got = await client.get(path)
        assert got.status_code == 200, path
        assert len(got.content) > 0
    script = (await client.get("/docs/assets/docs.js")).text
    assert '"/docs/openapi.json"' in script and "validatorUrl: null" in script
    assert (await client.get("/docs/openapi.json")).status_code == 200
    assert (await client.get("/docs/assets/index.html")).status_code == 404  # only the files the page uses
    assert (await client.get("/docs/ui")).text == page  # the same page (sanic-ext serves it from our file)


async def test_docs_off_serves_neither_page_nor_assets(settings):
    off = settings.with_overrides(docs=False)
    async with started_client(create_app(off, name=f"x{uuid.uuid4().hex[:6]}")) as c:
        for path in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/openapi.json"):
            assert (await c.get(path)).status_code == 404, path
