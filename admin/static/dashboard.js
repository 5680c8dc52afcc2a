/* 监管工作台: the regulator's dashboard. Plain JavaScript, no build step; ECharts is shipped with the page
 * (/admin/assets/vendor/echarts.min.js). Tokens live in sessionStorage (gone when the tab closes) and are
 * refreshed before they expire or once after a 401. Every call goes to this server's /api/v1/admin. */
(function () {
  "use strict";

  var API = "/api/v1/admin";
  var STORE = "xinyi.admin.tokens";
  var KINDS = { objection: "异议", repair: "信用修复", self_report: "自主申报", breach: "违约", list_notice: "名单告知", charge_dispute: "费用争议" };
  var SCENARIOS = { travel: "信易游", transport: "信易行", rental: "信易租", approval: "信易批", loan: "信易贷" };
  var TIERS = ["restricted", "C", "B", "A", "AA", "AAA"];
  var TIER_LABELS = { restricted: "受限", C: "C", B: "B", A: "A", AA: "AA", AAA: "AAA" };
  var SIGNALS = { scan_burst: "扫码激增", refusal_spike: "拒绝率异常", impossible_travel: "不可能行程", redemption_pattern: "异常核销", offline_duplicate: "离线重复" };
  var STATUSES = { open: "待处理", under_review: "审核中", upheld: "成立", rejected: "驳回", approved: "通过", assigned: "已指派", pending: "待处理", decided: "已决定" };
  var OFFER_TYPES = { percent_off: "折扣", amount_off: "立减", deposit_waiver: "免押金", priority_lane: "优先通道", express_checkout: "快速结账", free_ride: "免费乘车" };

  var charts = {};
  window.dashboardCharts = charts; // the browser tests read the drawn series here

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function fill(tbody, rows, cols, emptyText) {
    tbody.textContent = "";
    if (!rows.length) { tbody.appendChild(el("tr", {}, [el("td", { colspan: String(cols), className: "empty", text: emptyText })])); return; }
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function when(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }
  function day(iso) { return iso ? String(iso).slice(0, 10) : "—"; }
  function yuan(fen) { return fen === null || fen === undefined ? "—" : (fen / 100).toFixed(2); }
  function num(v) { return v === null || v === undefined ? "—" : String(v); }
  function notice(text) { var n = $("notice"); n.textContent = text; n.hidden = !text; }

  // --- tokens -------------------------------------------------------------------------------------
  function tokens() { try { return JSON.parse(sessionStorage.getItem(STORE)); } catch (e) { return null; } }
  function keep(pair) {
    pair.expires_at = Date.now() + (pair.expires_in || 900) * 1000;
    sessionStorage.setItem(STORE, JSON.stringify(pair));
  }
  function forget() { sessionStorage.removeItem(STORE); sessionStorage.removeItem(STORE + ".user"); }
  function claims() {
    var t = tokens();
    if (!t) return {};
    try { return JSON.parse(atob(t.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch (e) { return {}; }
  }

  var refreshing = null;
  function refresh() {
    var t = tokens();
    if (!t) return Promise.reject(new Error("no tokens"));
    if (!refreshing) {
      refreshing = fetch(API + "/auth/refresh", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: t.refresh_token })
      }).then(function (r) {
        if (!r.ok) throw new Error("refresh refused");
        return r.json();
      }).then(function (pair) { keep(pair); }).finally(function () { refreshing = null; });
    }
    return refreshing;
  }

  // One call to the admin API with the token; refreshed first when about to expire, retried once after a 401.
  function call(path, options, retried) {
    var t = tokens();
    if (!t) { showLogin("请先登录"); return Promise.reject(new Error("not logged in")); }
    var ready = t.expires_at - Date.now() < 30000 ? refresh().catch(function () {}) : Promise.resolve();
    return ready.then(function () {
      var opts = Object.assign({}, options || {});
      opts.headers = Object.assign({ Authorization: "Bearer " + tokens().access_token }, opts.headers || {});
      return fetch(API + path, opts);
    }).then(function (r) {
      if (r.status === 401 && !retried) {
        return refresh().then(function () { return call(path, options, true); }, function () {
          forget(); showLogin("登录已过期，请重新登录"); throw new Error("expired");
        });
      }
      return r;
    });
  }
  function getJSON(path) {
    return call(path).then(function (r) {
      if (!r.ok) throw new Error(path + " → " + r.status);
      return r.json();
    });
  }
  function postJSON(path, body) {
    return call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) throw new Error((data.error && data.error.message) || String(r.status));
          return data;
        });
      });
  }

  // --- login --------------------------------------------------------------------------------------
  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    var err = $("login-error");
    err.textContent = message || "";
    err.hidden = !message;
  }
  function showApp() {
    $("login").hidden = true;
    $("app").hidden = false;
    var c = claims();
    $("who").textContent = "当前用户：" + (c.username || sessionStorage.getItem(STORE + ".user") || "监管人员");
    loadAll();
  }
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var button = $("login-button");
    button.disabled = true;
    fetch(API + "/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value })
    }).then(function (r) {
      return r.json().then(function (data) {
        if (r.status === 429) throw new Error("尝试次数过多，请稍后再试");
        if (!r.ok) throw new Error("用户名或密码错误");
        keep(data);
        sessionStorage.setItem(STORE + ".user", $("username").value);
        $("password").value = "";
        showApp();
      });
    }).catch(function (e) { showLogin(e.message); }).finally(function () { button.disabled = false; });
  });
  $("logout").addEventListener("click", function () { forget(); showLogin(""); });

  // --- overview and charts ------------------------------------------------------------------------
  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init($("chart-" + id), null, { renderer: "canvas" });
    return charts[id];
  }
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });

  function barOption(names, values, color) {
    return {
      animation: false, color: [color], tooltip: { trigger: "axis" }, grid: { left: 48, right: 16, top: 16, bottom: 56 },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", name: "核销笔数", data: values, barMaxWidth: 40 }]
    };
  }

  function loadOverview() {
    return getJSON("/overview").then(function (o) {
      document.querySelectorAll("[data-card]").forEach(function (node) { node.textContent = num(o[node.getAttribute("data-card")]); });
      var data = TIERS.filter(function (t) { return o.tiers && o.tiers[t]; }).map(function (t) { return { name: TIER_LABELS[t], value: o.tiers[t] }; });
      chart("tier").setOption({
        animation: false, tooltip: { trigger: "item" }, legend: { bottom: 0 },
        color: ["#b42318", "#f79009", "#fdb022", "#12b76a", "#0b5cad", "#6941c6"],
        series: [{ type: "pie", name: "信用等级", radius: ["35%", "65%"], data: data, label: { formatter: "{b}: {c}" } }]
      });
    });
  }

  function stats(params) {
    var q = new URLSearchParams(params);
    return getJSON("/stats?" + q.toString());
  }
  function keyLabel(key) {
    var parts = [];
    if ("day" in key) parts.push(key.day || "—");
    if ("region" in key) parts.push(key.region_name || key.region || "未知地区");
    if ("merchant" in key) parts.push(key.merchant_name || key.merchant || "—");
    if ("offer" in key) parts.push(key.offer_label || key.offer || "（扫码，无优惠）");
    if ("scenario" in key) parts.push(key.scenario_label || SCENARIOS[key.scenario] || key.scenario || "（扫码，无场景）");
    if ("tier" in key) parts.push(TIER_LABELS[key.tier] || key.tier || "—");
    return parts.join(" / ");
  }

  function loadCharts() {
    var byDay = stats({ group_by: "day" }).then(function (s) {
      $("chart-window").textContent = s.from + " 至 " + s.to;
      // every day of the window: a day with no cell had no activity (0); a suppressed one stays a gap (null)
      var byDay = {};
      s.items.forEach(function (i) { byDay[i.key.day] = i.redemptions; });
      var days = [];
      for (var d = new Date(s.from + "T00:00:00Z"); d <= new Date(s.to + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + 1)) {
        days.push(d.toISOString().slice(0, 10));
      }
      chart("day").setOption({
        animation: false, color: ["#0b5cad"], tooltip: { trigger: "axis" }, grid: { left: 48, right: 16, top: 16, bottom: 32 },
        xAxis: { type: "category", data: days.map(function (x) { return x.slice(5); }) },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: "line", name: "核销笔数", data: days.map(function (x) { return x in byDay ? byDay[x] : 0; }), connectNulls: false, symbolSize: 4, areaStyle: { opacity: 0.15 } }]
      });
    });
    var byRegion = stats({ group_by: "region" }).then(function (s) {
      var items = s.items.filter(function (i) { return !i.suppressed && i.redemptions; });
      chart("region").setOption(barOption(items.map(function (i) { return keyLabel(i.key); }), items.map(function (i) { return i.redemptions; }), "#12b76a"));
    });
    var byScenario = stats({ group_by: "scenario" }).then(function (s) {
      var items = s.items.filter(function (i) { return !i.suppressed && i.key.scenario; });
      chart("scenario").setOption(barOption(items.map(function (i) { return keyLabel(i.key); }), items.map(function (i) { return i.redemptions; }), "#6941c6"));
    });
    return Promise.all([byDay, byRegion, byScenario]);
  }

  // --- cases --------------------------------------------------------------------------------------
  function loadCases() {
    var form = $("case-filter");
    var q = new URLSearchParams({ limit: "50" });
    if (form.kind.value) q.set("kind", form.kind.value);
    if (form.overdue.checked) q.set("overdue", "true");
    return getJSON("/cases?" + q.toString()).then(function (page) {
      fill($("case-rows"), page.items.map(function (c) {
        var open = el("button", { type: "button", className: "secondary", "data-case": c.kind + "/" + c.id, text: "查看" });
        open.addEventListener("click", function () { openCase(c.kind, c.id); });
        var due = el("td", {}, [when(c.due_at)]);
        if (c.overdue) due.appendChild(el("span", { className: "badge", text: "超期" }));
        return el("tr", { className: c.overdue ? "overdue" : "" }, [
          el("td", { text: KINDS[c.kind] || c.kind }), el("td", { text: c.title || c.summary || "" }),
          el("td", { text: when(c.opened_at) }), due, el("td", { text: STATUSES[c.status] || c.status }),
          el("td", { text: c.assignee_name || (c.assignee ? c.assignee.slice(0, 8) : "未指派") }), el("td", {}, [open])
        ]);
      }), 7, "暂无案件");
    });
  }
  $("case-filter").addEventListener("submit", function (ev) { ev.preventDefault(); loadCases().catch(fail); });
  $("case-close").addEventListener("click", function () { $("case-detail").hidden = true; });

  var DETAIL_LABELS = {
    target: "异议对象", record_id: "信用记录编号", reason: "理由", attachment_ids: "附件", decided_at: "决定时间",
    note: "处理意见", correction: "更正", resident_id: "居民编号", events: "办理记录", commitment: "信用承诺",
    category: "类别", title: "标题", description: "说明", occurred_at: "发生日期", kind: "类型", basis: "认定依据",
    severity: "严重程度", state: "名单状态", amount_fen: "金额（分）", merchant_id: "商户编号", order_id: "订单编号",
    points: "加分", record_status: "记录状态", publicity_until: "公示截止", objection_until: "异议截止"
  };
  var SHOWN_ABOVE = { id: 1, status: 1, due_at: 1, overdue: 1, created_at: 1, opened_at: 1, assignee: 1 };
  var ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
  function describe(value) {
    if (value === null || value === undefined || value === "") return "—";
    if (Array.isArray(value)) return value.length ? value.map(describe).join("；") : "无";
    if (typeof value === "object") {
      if ("to" in value && "at" in value) { // one step of the case
        return when(value.at) + " " + (STATUSES[value.from] || value.from || "—") + " → " + (STATUSES[value.to] || value.to) + (value.reason ? "（" + value.reason + "）" : "");
      }
      return Object.keys(value).map(function (k) { return (DETAIL_LABELS[k] || k) + "：" + describe(value[k]); }).join("，");
    }
    if (typeof value === "boolean") return value ? "是" : "否";
    if (typeof value === "string" && ISO_TIME.test(value)) return when(value);
    return String(value);
  }
  function openCase(kind, id) {
    return getJSON("/cases/" + encodeURIComponent(kind) + "/" + encodeURIComponent(id)).then(function (c) {
      $("case-detail-title").textContent = (KINDS[c.kind] || c.kind) + "：" + (c.title || "") + (c.overdue ? "（已超期）" : "");
      var dl = $("case-detail-body");
      dl.textContent = "";
      var rows = [["案件编号", c.id], ["状态", STATUSES[c.status] || c.status], ["受理时间", when(c.opened_at)],
        ["办理期限", when(c.due_at)], ["是否超期", c.overdue ? "是" : "否"], ["承办人", c.assignee_name || "未指派"]];
      Object.keys(c.details || {}).forEach(function (k) {
        if (!SHOWN_ABOVE[k]) rows.push([DETAIL_LABELS[k] || k, describe(c.details[k])]);
      });
      rows.forEach(function (r) { dl.appendChild(el("dt", { text: r[0] })); dl.appendChild(el("dd", { text: r[1] })); });
      var me = claims().sub;
      if (me) {
        var assign = el("button", { type: "button", className: "secondary", text: "指派给我" });
        assign.addEventListener("click", function () {
          postJSON("/cases/" + encodeURIComponent(kind) + "/" + encodeURIComponent(id) + "/assign", { admin_id: me })
            .then(function () { notice("已指派给我"); return Promise.all([openCase(kind, id), loadCases()]); }).catch(fail);
        });
        dl.appendChild(el("dt", { text: "操作" }));
        dl.appendChild(el("dd", {}, [assign]));
      }
      $("case-detail").hidden = false;
      $("case-detail").scrollIntoView({ block: "nearest" });
    }).catch(fail);
  }

  // --- signals ------------------------------------------------------------------------------------
  function loadSignals() {
    return getJSON("/signals?limit=50").then(function (page) {
      fill($("signal-rows"), page.items.map(function (s) {
        var detail = s.detail && typeof s.detail === "object"
          ? Object.keys(s.detail).map(function (k) { return k + "=" + describe(s.detail[k]); }).join("，") : describe(s.detail);
        return el("tr", {}, [
          el("td", { text: SIGNALS[s.kind] || s.kind }), el("td", { text: s.store_id ? String(s.store_id).slice(0, 8) : "—" }),
          el("td", { text: when(s.window_start) + " — " + when(s.window_end) }), el("td", { className: "num", text: num(s.count) }),
          el("td", { text: detail })
        ]);
      }), 5, "暂无风险信号");
    }, function () { fill($("signal-rows"), [], 5, "风险信号暂不可用"); });
  }

  // --- offers pending approval ----------------------------------------------------------------------
  function loadOffers() {
    return getJSON("/offers?status=pending_approval&limit=50").then(function (page) {
      fill($("offer-rows"), page.items.map(function (o) {
        var approve = el("button", { type: "button", "data-approve": o.id, text: "批准" });
        var note = el("input", { placeholder: "驳回理由", "aria-label": "驳回理由", maxlength: "500" });
        var reject = el("button", { type: "button", className: "danger", "data-reject": o.id, text: "驳回" });
        approve.addEventListener("click", function () {
          approve.disabled = true;
          postJSON("/offers/" + o.id + "/approve").then(function () {
            notice("已批准：" + o.label); return Promise.all([loadOffers(), loadOverview()]);
          }).catch(fail).finally(function () { approve.disabled = false; });
        });
        reject.addEventListener("click", function () {
          if (!note.value.trim()) { note.focus(); notice("请填写驳回理由"); return; }
          postJSON("/offers/" + o.id + "/reject", { note: note.value.trim() }).then(function () {
            notice("已驳回：" + o.label); return Promise.all([loadOffers(), loadOverview()]);
          }).catch(fail);
        });
        return el("tr", { "data-offer": o.id }, [
          el("td", { text: o.label }), el("td", { text: SCENARIOS[o.scenario] || o.scenario }),
          el("td", { text: OFFER_TYPES[o.type] || o.type }), el("td", { text: o.min_tier }),
          el("td", { text: day(o.valid_from) + " 至 " + day(o.valid_until) }),
          el("td", {}, [el("div", { className: "actions" }, [approve, note, reject])])
        ]);
      }), 6, "暂无待审批优惠");
    });
  }

  // --- statistics table and CSV ---------------------------------------------------------------------
  function statsParams() {
    var form = $("stats-form");
    var p = { group_by: form.group_by.value };
    if (form.from.value) p.from = form.from.value;
    if (form.to.value) p.to = form.to.value;
    return p;
  }
  function loadStats() {
    return stats(statsParams()).then(function (s) {
      $("min-cell").textContent = s.min_cell;
      fill($("stats-rows"), s.items.map(function (i) {
        var label = keyLabel(i.key) + (i.suppressed ? "（已抑制）" : "");
        return el("tr", {}, [el("td", { text: label }), el("td", { className: "num", text: num(i.scans_accepted) }),
          el("td", { className: "num", text: num(i.scans_refused) }), el("td", { className: "num", text: num(i.redemptions) }),
          el("td", { className: "num", text: num(i.residents) }), el("td", { className: "num", text: yuan(i.discount_fen) }),
          el("td", { className: "num", text: yuan(i.deposit_waived_fen) })]);
      }), 7, "所选期间暂无数据");
      var t = s.totals, foot = $("stats-totals");
      foot.textContent = "";
      foot.appendChild(el("tr", {}, [el("td", { text: "合计（未抑制单元格）" }), el("td", { className: "num", text: num(t.scans_accepted) }),
        el("td", { className: "num", text: num(t.scans_refused) }), el("td", { className: "num", text: num(t.redemptions) }),
        el("td", { className: "num", text: num(t.residents) }), el("td", { className: "num", text: yuan(t.discount_fen) }),
        el("td", { className: "num", text: yuan(t.deposit_waived_fen) })]));
    });
  }
  $("stats-form").addEventListener("submit", function (ev) { ev.preventDefault(); loadStats().catch(fail); });
  $("csv-download").addEventListener("click", function () {
    var p = statsParams();
    p.format = "csv";
    call("/stats?" + new URLSearchParams(p).toString()).then(function (r) {
      if (!r.ok) throw new Error("下载失败（" + r.status + "）");
      var disposition = r.headers.get("Content-Disposition") || "";
      var match = /filename="?([^";]+)"?/.exec(disposition);
      var name = match ? match[1] : "stats.csv";
      return r.blob().then(function (blob) {
        var url = URL.createObjectURL(blob);
        var a = el("a", { href: url, download: name });
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      });
    }).catch(fail);
  });

  function fail(e) { if (e && e.message !== "expired" && e.message !== "not logged in") notice("出错了：" + e.message); }

  function loadAll() {
    notice("");
    var parts = [loadOverview(), loadCharts(), loadCases(), loadSignals(), loadOffers(), loadStats()];
    return Promise.all(parts.map(function (p) { return p.catch(fail); })).then(function () {
      document.body.setAttribute("data-loaded", "true");
    });
  }

  if (tokens()) showApp(); else showLogin("");
})();
