"""The regulator's dashboard, the public red list and /docs in a real browser (see conftest.py)."""

from __future__ import annotations

import re

import httpx

from tests.browser.conftest import RED_NAME, login

CANVAS_INK = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas) return -1;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) inked++;
  return inked;
}"""
SERIES = "(name) => window.dashboardCharts[name].getOption().series[0].data"


def no_policy_errors(page) -> None:
    problems = [
        text for text in page.console_errors if "Content Security Policy" in text or "Refused" in text
    ]
    assert problems == [], problems


def test_login_shows_the_cards_and_draws_the_charts(page, served):
    page.goto(f"{served.base}/admin/")
    assert page.is_visible("#login-form") and not page.is_visible("#app")
    page.fill("#username", "demo-admin")
    page.fill("#password", "wrong-password")
    page.click("#login-button")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "错误" in page.inner_text("#login-error")

    login(page, served.base)
    assert page.is_visible("#app")
    assert int(page.inner_text("[data-card='residents']")) >= 3
    assert int(page.inner_text("[data-card='cases_overdue']")) >= 1
    assert int(page.inner_text("[data-card='offers_pending']")) >= 1
    for chart in ("day", "tier", "region", "scenario"):
        assert page.evaluate(CANVAS_INK, f"#chart-{chart}") > 500, chart  # drawn, not a blank canvas
    per_day = page.evaluate(SERIES, "day")
    assert sum(v for v in per_day if isinstance(v, (int, float))) > 0
    tiers = page.evaluate(SERIES, "tier")
    assert sum(item["value"] for item in tiers) >= 3
    assert page.evaluate(SERIES, "scenario"), "the scenario chart has bars"
    # the statistics table is filled, with totals
    assert "信易游" in page.inner_text("#stats-rows")
    assert "合计" in page.inner_text("#stats-totals")
    no_policy_errors(page)


def test_an_overdue_case_comes_first_and_opens(page, served):
    login(page, served.base)
    first = page.locator("#case-rows tr").first
    assert "overdue" in (first.get_attribute("class") or "")
    assert "超期" in first.inner_text()
    first.locator("button[data-case]").click()
    page.wait_for_selector("#case-detail:not([hidden])")
    title = page.inner_text("#case-detail-title")
    assert "已超期" in title and "异议" in title
    assert "是否超期" in page.inner_text("#case-detail-body")
    # a token about to expire is refreshed before the next call, and the page keeps working
    before = page.evaluate("JSON.parse(sessionStorage.getItem('xinyi.admin.tokens')).access_token")
    page.evaluate(
        "(() => { const t = JSON.parse(sessionStorage.getItem('xinyi.admin.tokens')); t.expires_at = 0;"
        " sessionStorage.setItem('xinyi.admin.tokens', JSON.stringify(t)); })()"
    )
    with page.expect_response(lambda r: r.url.endswith("/api/v1/admin/auth/refresh") and r.status == 200):
        page.click("#case-filter button[type='submit']")
    page.wait_for_function(
        "(old) => JSON.parse(sessionStorage.getItem('xinyi.admin.tokens')).access_token !== old", arg=before
    )
    page.wait_for_selector("#case-rows tr.overdue")
    no_policy_errors(page)


def test_an_offer_pending_approval_is_approved(page, served):
    offer = served.pending_offer
    login(page, served.base)
    row = page.locator(f"tr[data-offer='{offer['id']}']")
    assert offer["label"] in row.inner_text()
    row.locator("button[data-approve]").click()
    page.wait_for_selector(f"tr[data-offer='{offer['id']}']", state="detached")
    assert "已批准" in page.inner_text("#notice")
    r = httpx.get(
        f"{served.base}/api/v1/admin/offers",
        params={"status": "active", "limit": 200},
        headers={"Authorization": f"Bearer {served.admin_token()}"},
    )
    assert offer["id"] in {o["id"] for o in r.json()["items"]}
    no_policy_errors(page)


def test_the_statistics_download_as_csv(page, served):
    login(page, served.base)
    page.select_option("#stats-form select[name='group_by']", "day")
    page.click("#stats-form button[type='submit']")
    page.wait_for_function(  # a function, not an expression: the page's CSP forbids eval
        "() => /\\d{4}-\\d{2}-\\d{2}/.test(document.querySelector('#stats-rows').innerText)"
    )
    with page.expect_download() as info:
        page.click("#csv-download")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    data = open(download.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM: Excel opens the Chinese labels
    header = data[3:].decode("utf-8").splitlines()[0]
    assert header.startswith("日期") and "核销笔数" in header and "是否抑制" in header
    no_policy_errors(page)


def test_the_public_red_list_shows_a_masked_name_and_no_id_number(page, served, tmp_path):
    page.goto(f"{served.base}/public/red-list")
    masked = RED_NAME[0] + "*" * (len(RED_NAME) - 1)
    assert masked in page.inner_text("table")
    page.screenshot(path=str(tmp_path / "red-list-unfiltered.png"), full_page=True)
    content = page.content()
    assert RED_NAME not in content
    assert served.red_id_number not in content and served.red_id_number[:14] not in content
    assert not re.search(r"\d{17}[\dXx]", content)
    page.fill("#region", "532900")
    page.click("form.filter button")
    page.wait_for_url(re.compile(r"region=532900"))
    assert "暂无公示记录" in page.inner_text("table")  # the provincial entry has no region
    no_policy_errors(page)


def test_the_docs_open_from_local_files(page, served):
    hosts = set()
    page.on("request", lambda req: hosts.add(re.sub(r"^\w+://([^/]+)/.*$", r"\1", req.url)))
    page.goto(f"{served.base}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "xinyi" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() > 50
    assert hosts <= {served.base.split("//")[1]}, hosts
    no_policy_errors(page)
