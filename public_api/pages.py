"""The public's HTML pages (/public/red-list, /public/black-list): server-rendered, in Chinese, no script.

The same data as the JSON routes (``/api/v1/public/...``), through the same cache, as a plain page
that works without JavaScript: a region filter form (GET) and links to the next page. Throttled per
client address like the JSON routes (``server.throttle.PUBLIC_PREFIXES``).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext.extensions.openapi import openapi

from public_api import service
from public_api.cache import conditional
from public_api.schemas import PublicListQuery
from server.errors import ValidationFailed
from server.http import parse_query
from server.static import html_page, page_csp, serve_file

bp = Blueprint("public_pages", url_prefix="/public")
STATIC = Path(__file__).resolve().parent / "static"
CSP = page_csp()

_TITLES = {"red": "守信红名单", "black": "失信黑名单"}
_CATEGORIES = {
    "tourism": "旅游市场",
    "transport": "交通运输",
    "rental": "租赁",
    "tax": "税务",
    "court_dishonest_debtor": "失信被执行人",
    "provincial": "省级平台",
}


def _category(code: str) -> str:
    return _CATEGORIES.get(code, code)


def _link(kind: str, **params: Any) -> str:
    shown = {k: v for k, v in params.items() if v not in (None, "")}
    return f"/public/{kind}-list" + (f"?{urlencode(shown)}" if shown else "")


def render_list(kind: str, data: dict[str, Any], *, region: str, error: str | None = None) -> str:
    """The page of one list: the filter form, the table, the pagination links."""
    title = _TITLES[kind]
    other = "black" if kind == "red" else "red"
    rows = "".join(
        "<tr>"
        f'<td class="name">{escape(item["name_masked"])}</td>'
        f"<td>{escape(_category(item['category']))}</td>"
        f"<td>{escape(item['title'])}</td>"
        f"<td>{escape(item['basis'])}</td>"
        f"<td>{escape(item['region'] or '—')}</td>"
        f"<td>{escape(str(item['decided_at']))}</td>"
        f"<td>{escape(str(item['publicity_until'] or '—'))}</td>"
        "</tr>"
        for item in data["items"]
    )
    if not rows:
        rows = '<tr><td colspan="7" class="empty">暂无公示记录</td></tr>'
    pages = [f'<a href="{escape(_link(kind, region=region))}">首页</a>']
    if data.get("next_cursor"):
        href = _link(kind, region=region, cursor=data["next_cursor"])
        pages.append(f'<a href="{escape(href)}" rel="next">下一页</a>')
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}公示 · 信易游</title>
<link rel="stylesheet" href="/public/assets/public.css">
</head>
<body>
<header>
<h1>信用信息公示 · {title}</h1>
<nav><a href="{_link(kind)}" aria-current="page">{title}</a>
<a href="{_link(other)}">{_TITLES[other]}</a></nav>
</header>
<main>
<form method="get" action="{_link(kind)}" class="filter">
<label for="region">地区代码</label>
<input id="region" name="region" value="{escape(region)}" inputmode="numeric" maxlength="6"
 placeholder="如 532900（大理州）" title="6 位行政区划代码（GB/T 2260），省、州市代码包含其下辖地区">
<button type="submit">筛选</button>
<a href="{_link(kind)}">清除</a>
</form>
{problem}
<table>
<caption>{title}（仅显示处于公示期、已生效的记录）</caption>
<thead><tr><th scope="col">姓名</th><th scope="col">类别</th><th scope="col">事由</th>
<th scope="col">认定依据</th><th scope="col">地区</th><th scope="col">认定日期</th>
<th scope="col">公示截止</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<nav class="pages">{" ".join(pages)}</nav>
</main>
<footer>
<p>姓名仅显示首字，不公开身份证号码。公示期满、信用修复完成、异议成立或依法撤销的记录即时撤下。</p>
<p>数据接口：<a href="/api/v1/public/{kind}-list">/api/v1/public/{kind}-list</a></p>
</footer>
</body>
</html>
"""


async def _page(request: Request, kind: service.ListKind) -> HTTPResponse:
    region = request.args.get("region", "")
    try:
        query = parse_query(request, PublicListQuery)
    except ValidationFailed as exc:
        fields = exc.details.get("fields", {})
        error = "地区代码应为 6 位行政区划代码，如 532900" if "region" in fields else "查询参数有误"
        empty: dict[str, Any] = {"items": [], "next_cursor": None}
        return html_page(render_list(kind, empty, region=region, error=error), csp=CSP, status=422)
    data = await service.list_page(request, kind, query)
    body = render_list(kind, data, region=query.region or "").encode()
    return conditional(
        request, body, content_type="text/html; charset=utf-8", headers={"Content-Security-Policy": CSP}
    )


@bp.get("/red-list")
@openapi.exclude()  # a page for people; its data is /api/v1/public/red-list
async def red_list_page(request: Request) -> HTTPResponse:
    return await _page(request, "red")


@bp.get("/black-list")
@openapi.exclude()
async def black_list_page(request: Request) -> HTTPResponse:
    return await _page(request, "black")


@bp.get("/assets/<name:path>")
@openapi.exclude()
async def asset(request: Request, name: str) -> HTTPResponse:
    return serve_file(request, STATIC, name)
