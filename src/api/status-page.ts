/**
 * The status page served at `/` of the query API: one self-contained HTML
 * document (inline CSS and script, nothing fetched from elsewhere, so it works
 * offline) that polls `GET /v1/status` every 2 s and draws the snapshot
 * timeline, readiness per partition, throughput and lag per topology, dead
 * letters, and looks users up through `/v1/users/{id}/vector` and
 * `/candidates`. Every value from the server is inserted as text, never as
 * markup (ids come from users and the control log).
 */
export const STATUS_PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vectors · status</title>
<style>
  :root { --bg:#f5f6f8; --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e3e6ec; --ok:#1f9d55; --warn:#d99a06; --bad:#d64545; --idle:#c4c9d4; --accent:#3b6fd8; --accent2:#8a4fd8; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:center; gap:12px; padding:14px 24px; background:var(--ink); color:#fff; }
  header h1 { font-size:18px; margin:0; font-weight:600; letter-spacing:.2px; }
  header .where { color:#aab2c5; font-size:13px; }
  header .spacer { flex:1; }
  .badge { display:inline-block; padding:3px 10px; border-radius:999px; font-size:12px; font-weight:600; }
  .badge.ok { background:var(--ok); color:#fff; } .badge.bad { background:var(--bad); color:#fff; } .badge.idle { background:var(--idle); color:var(--ink); }
  main { padding:18px 24px 32px; display:grid; gap:16px; grid-template-columns: repeat(12, 1fr); max-width:1400px; margin:0 auto; }
  section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; min-width:0; }
  section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted); margin:0 0 10px; font-weight:600; }
  .span3 { grid-column: span 3; } .span4 { grid-column: span 4; } .span5 { grid-column: span 5; } .span6 { grid-column: span 6; } .span7 { grid-column: span 7; } .span8 { grid-column: span 8; } .span12 { grid-column: span 12; }
  @media (max-width: 900px) { .span3, .span4, .span5, .span6, .span7, .span8 { grid-column: span 12; } }
  .big { font-size:28px; font-weight:650; line-height:1.1; word-break:break-all; }
  .muted { color:var(--muted); }
  .small { font-size:12px; }
  .problems { margin:8px 0 0; padding-left:18px; color:var(--bad); }
  .problems:empty { display:none; }
  table { border-collapse:collapse; width:100%; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:middle; }
  th { font-size:12px; color:var(--muted); font-weight:600; }
  td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
  .grid { display:flex; flex-wrap:wrap; gap:4px; }
  .cell { width:30px; height:26px; border-radius:5px; display:flex; align-items:center; justify-content:center; font-size:11px; font-weight:600; color:#fff; }
  .cell.READY { background:var(--ok); } .cell.LOADING { background:var(--warn); } .cell.FAILED { background:var(--bad); } .cell.MISSING { background:var(--idle); color:var(--ink); }
  .rrow { display:flex; gap:10px; align-items:center; margin:6px 0; }
  .rrow .name { width:150px; font-size:12px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
  .legend { display:flex; gap:12px; flex-wrap:wrap; font-size:12px; color:var(--muted); margin-top:8px; }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
  form { display:flex; gap:8px; flex-wrap:wrap; align-items:center; }
  input { font:inherit; padding:6px 10px; border:1px solid var(--line); border-radius:6px; }
  input[name=user] { width:220px; } input[name=k] { width:70px; }
  button { font:inherit; padding:6px 14px; border:0; border-radius:6px; background:var(--accent); color:#fff; cursor:pointer; }
  .error { color:var(--bad); }
  .bar { height:8px; background:var(--accent); border-radius:4px; }
  .kv { display:grid; grid-template-columns: auto 1fr; gap:2px 12px; font-size:13px; }
  .kv dt { color:var(--muted); } .kv dd { margin:0; word-break:break-all; }
  svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
  .spark { position:relative; }
  .spark svg { display:block; width:100%; height:46px; }
  .spark .max { display:block; text-align:right; font-size:10px; color:var(--muted); margin-top:2px; }
  .topo { display:grid; grid-template-columns: 1.2fr 1fr 1fr 1fr; gap:12px; align-items:center; padding:8px 0; border-bottom:1px solid var(--line); }
  .topo:last-child { border-bottom:0; }
  .topo .label { font-weight:600; word-break:break-all; }
  .metric .v { font-size:20px; font-weight:650; font-variant-numeric: tabular-nums; }
  .lookup-out { display:grid; grid-template-columns: 1fr 1fr; gap:16px; margin-top:12px; }
  @media (max-width: 900px) { .lookup-out { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>vectors</h1>
  <span class="where" id="where">connecting…</span>
  <span class="spacer"></span>
  <span class="small" id="updated" style="color:#aab2c5"></span>
  <span class="badge idle" id="ready-badge" data-testid="ready">…</span>
</header>
<main>
  <section class="span4">
    <h2>Active snapshot</h2>
    <div class="big" id="active-snapshot" data-testid="active-snapshot">—</div>
    <div class="muted small" id="active-detail"></div>
    <ul class="problems" id="problems"></ul>
  </section>
  <section class="span4">
    <h2>Events / s</h2>
    <div class="big"><span id="events-rate" data-testid="events-rate">0</span> <span class="muted small" id="events-of"></span></div>
    <div class="spark" id="events-spark"></div>
  </section>
  <section class="span4">
    <h2>Consumer lag · dead letters</h2>
    <div class="big"><span id="lag-total" data-testid="lag">0</span> <span class="muted small">records behind</span> · <span id="dlq-total" data-testid="dlq">0</span> <span class="muted small">in DLQ</span></div>
    <div class="spark" id="lag-spark"></div>
  </section>
  <section class="span12">
    <h2>Snapshot timeline</h2>
    <svg id="timeline" data-testid="timeline" width="100%" height="60"></svg>
    <div class="legend" id="timeline-legend"></div>
  </section>
  <section class="span5">
    <h2>Readiness per partition</h2>
    <div id="readiness" data-testid="readiness"><span class="muted">no active or staged snapshot</span></div>
    <div class="legend"><span><i style="background:var(--ok)"></i>READY</span><span><i style="background:var(--warn)"></i>LOADING</span><span><i style="background:var(--bad)"></i>FAILED</span><span><i style="background:var(--idle)"></i>no report</span></div>
    <h2 style="margin-top:16px">This instance</h2>
    <div id="tasks" class="small" data-testid="tasks"></div>
  </section>
  <section class="span7">
    <h2>Topologies</h2>
    <div id="topologies" data-testid="topologies"><span class="muted">no metrics yet</span></div>
  </section>
  <section class="span12">
    <h2>User lookup</h2>
    <form id="lookup" data-testid="lookup">
      <input name="user" placeholder="user id" autocomplete="off" required>
      <label class="muted small">k <input name="k" type="number" min="1" max="1000" value="10"></label>
      <button type="submit">Look up</button>
      <span class="small muted" id="lookup-note"></span>
    </form>
    <div id="lookup-result" data-testid="lookup-result"></div>
  </section>
</main>
<script>
"use strict";
var POLL_MS = 2000;
var PHASE_COLORS = { STAGED: "#d99a06", ACTIVE: "#1f9d55", READY: "#3b6fd8", FAILED: "#d64545", ROLLED_BACK: "#8a4fd8", RETIRED: "#c4c9d4" };
var SVGNS = "http://www.w3.org/2000/svg";

function $(id) { return document.getElementById(id); }
function h(tag, attrs) {
  var el = document.createElement(tag);
  for (var k in attrs || {}) { if (k === "text") el.textContent = attrs[k]; else el.setAttribute(k, attrs[k]); }
  for (var i = 2; i < arguments.length; i++) { var c = arguments[i]; if (c != null) el.append(c); }
  return el;
}
function s(tag, attrs) {
  var el = document.createElementNS(SVGNS, tag);
  for (var k in attrs || {}) { if (k === "text") el.textContent = attrs[k]; else el.setAttribute(k, attrs[k]); }
  for (var i = 2; i < arguments.length; i++) { var c = arguments[i]; if (c != null) el.append(c); }
  return el;
}
function fmt(n) {
  if (n == null || !isFinite(n)) return "—";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Math.abs(n) >= 100 || Number.isInteger(n) ? String(Math.round(n)) : n.toFixed(1);
}
function clock(ms) { return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }); }

/** Draws values (oldest first) as a filled line into box (a div.spark), scaled to their maximum, which is labelled. */
function sparkline(box, values, color, spanS) {
  var W = 300, H = 46, n = values.length;
  var svg = s("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none" });
  var max = Math.max.apply(null, values.concat([1]));
  if (n >= 2) {
    var pts = values.map(function (v, i) { return (i * W / (n - 1)).toFixed(1) + "," + (H - 3 - (v / max) * (H - 8)).toFixed(1); });
    svg.append(s("polygon", { points: "0," + H + " " + pts.join(" ") + " " + W + "," + H, fill: color, "fill-opacity": "0.12" }));
    svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": "2", "vector-effect": "non-scaling-stroke" }));
  }
  box.replaceChildren(svg, h("span", { class: "max", text: n >= 2 ? "max " + fmt(max) + " · last " + fmt(spanS) + " s" : "collecting…" }));
}

/** Seconds the longest of the topologies' series covers. */
function spanOf(topologies) {
  return topologies.reduce(function (a, t) { return Math.max(a, t.series.length > 1 ? (t.series[t.series.length - 1].at - t.series[0].at) / 1000 : 0); }, 0);
}

/** Sums the per-topology series point by point (they share sample times). */
function summed(topologies, key) {
  var out = [];
  topologies.forEach(function (t) {
    var series = t.series, off = out.length - series.length;
    if (off < 0) { out = new Array(-off).fill(0).concat(out); off = 0; }
    series.forEach(function (p, i) { out[off + i] += p[key]; });
  });
  return out;
}

function renderHeader(st) {
  var inst = st.instance;
  $("where").textContent = inst.topology + " · " + (inst.url || "") + " · " + inst.instanceId;
  var b = $("ready-badge");
  b.textContent = inst.ready ? "ready" : "not ready";
  b.className = "badge " + (inst.ready ? "ok" : "bad");
  $("problems").replaceChildren.apply($("problems"), inst.problems.map(function (p) { return h("li", { text: p }); }));
  $("updated").textContent = "updated " + clock(st.generatedAt);
}

function renderActive(st) {
  $("active-snapshot").textContent = st.active || "none";
  var snap = st.snapshots.filter(function (x) { return x.id === st.active; })[0];
  var parts = [];
  if (snap) parts.push((snap.model || "?") + " · " + fmt(snap.count) + " entities · " + snap.dims + " dims" + (snap.loadedHere ? "" : " · not loaded here"));
  if (st.previous) parts.push("previous: " + st.previous);
  $("active-detail").textContent = parts.join(" — ");
}

function renderRates(st) {
  var rate = st.topologies.reduce(function (a, t) { return a + (t.topology === st.instance.topology ? t.eventsPerSecond : 0); }, 0);
  var mine = st.topologies.filter(function (t) { return t.topology === st.instance.topology; });
  $("events-rate").textContent = fmt(rate);
  $("events-of").textContent = "into " + st.instance.topology;
  sparkline($("events-spark"), summed(mine, "eventsPerSecond"), "#3b6fd8", spanOf(mine));
  $("lag-total").textContent = fmt(st.topologies.reduce(function (a, t) { return a + t.lag; }, 0));
  $("dlq-total").textContent = fmt(st.topologies.reduce(function (a, t) { return a + t.dlq.total; }, 0));
  sparkline($("lag-spark"), summed(st.topologies, "lag"), "#d99a06", spanOf(st.topologies));
}

function renderTimeline(st) {
  var svg = $("timeline");
  svg.replaceChildren();
  var snaps = st.snapshots;
  var rowH = 26, top = 6, left = 150, right = 10;
  var width = svg.getBoundingClientRect().width || 900;
  var height = top + Math.max(1, snaps.length) * rowH + 22;
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  if (!snaps.length) { svg.append(s("text", { x: 4, y: 20, text: "no snapshot published yet (vectors publish FILE --snapshot-id ID)" })); return; }
  var now = st.generatedAt;
  var t0 = Math.min.apply(null, snaps.map(function (x) { return x.history[0].at; }));
  // The axis covers the whole history (at least 10 s), with a little room before the first change.
  var span = Math.max(now - t0, 10000);
  t0 = now - span * 1.05;
  function X(t) { return left + (t - t0) / (now - t0) * (width - left - right); }
  for (var i = 0; i <= 4; i++) {
    var t = t0 + (now - t0) * i / 4, x = X(t);
    svg.append(s("line", { x1: x, x2: x, y1: top, y2: height - 18, stroke: "#e3e6ec" }));
    svg.append(s("text", { x: x, y: height - 5, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", text: clock(t) }));
  }
  snaps.forEach(function (snap, r) {
    var y = top + r * rowH;
    var name = snap.id.length > 24 ? snap.id.slice(0, 11) + "…" + snap.id.slice(-11) : snap.id;
    var label = s("text", { x: 0, y: y + 16, text: name + (snap.id === st.active ? " ★" : "") }, s("title", { text: snap.id }));
    if (snap.id === st.active) label.setAttribute("style", "fill:#1d2330;font-weight:600");
    svg.append(label);
    snap.history.forEach(function (step, j) {
      var end = j + 1 < snap.history.length ? snap.history[j + 1].at : now;
      var x1 = X(step.at), x2 = Math.max(X(end), x1 + 3);
      var rect = s("rect", { x: x1, y: y + 4, width: x2 - x1, height: rowH - 9, rx: 3, fill: PHASE_COLORS[step.phase] || "#999" });
      rect.append(s("title", { text: snap.id + ": " + step.phase + " from " + clock(step.at) + (snap.reason && j === snap.history.length - 1 ? " (" + snap.reason + ")" : "") }));
      svg.append(rect);
      if (x2 - x1 > 60) svg.append(s("text", { x: x1 + 6, y: y + 16, style: "fill:#fff;font-weight:600", text: step.phase }));
    });
  });
  var legend = $("timeline-legend");
  legend.replaceChildren.apply(legend, Object.keys(PHASE_COLORS).map(function (p) { var i = h("i"); i.style.background = PHASE_COLORS[p]; return h("span", {}, i, p); }));
}

function renderReadiness(st) {
  var box = $("readiness");
  if (!st.readiness.length) { box.replaceChildren(h("span", { class: "muted", text: "no active or staged snapshot" })); }
  else box.replaceChildren.apply(box, st.readiness.map(function (r) {
    var total = 0, ready = 0;
    var rows = r.topologies.map(function (t) {
      var cells = t.partitions.map(function (p) {
        total++; if (p.report === "READY") ready++;
        return h("div", { class: "cell " + p.report, title: t.topology + "/" + p.partition + ": " + p.report + (p.reason ? " — " + p.reason : ""), text: String(p.partition) });
      });
      return h("div", { class: "rrow" }, h("div", { class: "name", title: t.topology, text: t.topology }), h("div", { class: "grid" }, ...cells));
    });
    var head = h("div", { class: "small" }, h("strong", { text: r.snapshotId }), " · " + r.phase + " · ", h("span", { class: r.ready ? "" : "error", text: ready + "/" + total + " partitions READY" }));
    return h("div", { style: "margin-bottom:10px", "data-snapshot": r.snapshotId }, head, ...rows);
  }));
  var tasks = st.instance.tasks;
  var restoring = new Set(tasks.restoring);
  $("tasks").replaceChildren(
    h("div", { class: "muted", text: tasks.assigned.length + " task(s) assigned, " + tasks.restoring.length + " restoring" }),
    h("div", { class: "grid", style: "margin-top:6px" }, ...tasks.assigned.map(function (id) { return h("div", { class: "cell " + (restoring.has(id) ? "LOADING" : "READY"), title: "task " + id + (restoring.has(id) ? " restoring" : " running"), text: id.split("_")[1] }); })));
}

function renderTopologies(st) {
  var box = $("topologies");
  if (!st.topologies.length) { box.replaceChildren(h("span", { class: "muted", text: "no metrics yet" })); return; }
  box.replaceChildren.apply(box, st.topologies.map(function (t) {
    var ev = h("div", { class: "spark" });
    var lag = h("div", { class: "spark" });
    sparkline(ev, t.series.map(function (p) { return p.eventsPerSecond; }), "#3b6fd8", spanOf([t]));
    sparkline(lag, t.series.map(function (p) { return p.lag; }), "#d99a06", spanOf([t]));
    var reasons = Object.keys(t.dlq.byReason).map(function (k) { return k + ": " + fmt(t.dlq.byReason[k]); }).join(", ");
    return h("div", { class: "topo", "data-topology": t.topology },
      h("div", {}, h("div", { class: "label", text: t.topology }), h("div", { class: "muted small", text: (t.source === "local" ? "this process" : t.source) + " · " + fmt(t.processed) + " processed" }), t.error ? h("div", { class: "error small", text: t.error }) : null),
      h("div", { class: "metric" }, h("div", { class: "v", text: fmt(t.eventsPerSecond) }), h("div", { class: "muted small", text: "events/s" }), ev),
      h("div", { class: "metric" }, h("div", { class: "v", text: fmt(t.lag) }), h("div", { class: "muted small", text: "lag" }), lag),
      h("div", { class: "metric" }, h("div", { class: "v" + (t.dlq.total ? " error" : ""), text: fmt(t.dlq.total) }), h("div", { class: "muted small", text: "dead letters" + (reasons ? " — " + reasons : "") })));
  }));
}

function vectorChart(v) {
  var W = 400, H = 80, n = v.length, max = Math.max.apply(null, v.map(Math.abs).concat([1e-9]));
  var svg = s("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", height: H, preserveAspectRatio: "none", "data-testid": "vector-chart" });
  svg.append(s("line", { x1: 0, x2: W, y1: H / 2, y2: H / 2, stroke: "#e3e6ec" }));
  var bw = W / n;
  v.forEach(function (x, i) {
    var hgt = Math.abs(x) / max * (H / 2 - 2);
    svg.append(s("rect", { x: i * bw + bw * 0.1, width: Math.max(bw * 0.8, 0.5), y: x >= 0 ? H / 2 - hgt : H / 2, height: Math.max(hgt, 0.5), fill: x >= 0 ? "#3b6fd8" : "#8a4fd8" }));
  });
  return svg;
}

async function getJson(url) {
  var r = await fetch(url, { cache: "no-store" });
  var body = await r.json().catch(function () { return {}; });
  if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
  return body;
}

async function lookup(ev) {
  ev.preventDefault();
  var form = ev.target, user = form.user.value.trim(), k = form.k.value || "10";
  var out = $("lookup-result");
  if (!user) return;
  $("lookup-note").textContent = "looking up…";
  var base = "/v1/users/" + encodeURIComponent(user);
  var results = await Promise.allSettled([getJson(base + "/vector"), getJson(base + "/candidates?k=" + encodeURIComponent(k))]);
  $("lookup-note").textContent = "";
  var vec = results[0], cand = results[1];
  var left, right;
  if (vec.status === "fulfilled") {
    var v = vec.value;
    var norm = Math.sqrt(v.vector.reduce(function (a, x) { return a + x * x; }, 0));
    left = h("div", { "data-testid": "user-vector" },
      h("dl", { class: "kv" },
        h("dt", { text: "user" }), h("dd", { text: v.userId }),
        h("dt", { text: "snapshot" }), h("dd", { text: v.snapshotId }),
        h("dt", { text: "version" }), h("dd", { text: String(v.version) }),
        h("dt", { text: "events" }), h("dd", { text: String(v.eventCount) }),
        h("dt", { text: "updated" }), h("dd", { text: v.updatedAt ? new Date(v.updatedAt).toLocaleString() : "—" }),
        h("dt", { text: "vector" }), h("dd", { text: v.vector.length + " dims, |v| = " + norm.toFixed(3) })),
      vectorChart(v.vector));
  } else left = h("div", { class: "error", "data-testid": "lookup-error", text: "vector: " + vec.reason.message });
  if (cand.status === "fulfilled") {
    var items = cand.value.items, top = Math.max.apply(null, items.map(function (i) { return Math.abs(i.score); }).concat([1e-9]));
    right = h("div", { "data-testid": "candidates" },
      h("div", { class: "small muted", text: items.length + " candidates in " + cand.value.snapshotId + " (user vector version " + cand.value.userVectorVersion + ")" }),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "#" }), h("th", { text: "entity" }), h("th", { class: "num", text: "score" }), h("th", { style: "width:40%" }))),
        h("tbody", {}, ...items.map(function (i, n) {
          var bar = h("div", { class: "bar" }); bar.style.width = (Math.abs(i.score) / top * 100).toFixed(1) + "%";
          return h("tr", {}, h("td", { class: "muted", text: String(n + 1) }), h("td", { text: i.entityId }), h("td", { class: "num", text: i.score.toFixed(4) }), h("td", {}, bar));
        }))));
  } else right = h("div", { class: "error", text: "candidates: " + cand.reason.message });
  out.replaceChildren(h("div", { class: "lookup-out" }, left, right));
}

async function poll() {
  try {
    var st = await getJson("/v1/status");
    renderHeader(st); renderActive(st); renderRates(st); renderTimeline(st); renderReadiness(st); renderTopologies(st);
  } catch (e) {
    var b = $("ready-badge"); b.textContent = "unreachable"; b.className = "badge bad";
    $("updated").textContent = String(e.message || e);
  }
  setTimeout(poll, POLL_MS);
}
$("lookup").addEventListener("submit", function (ev) { lookup(ev).catch(function (e) { $("lookup-note").textContent = String(e.message || e); }); });
poll();
</script>
</body>
</html>
`;
