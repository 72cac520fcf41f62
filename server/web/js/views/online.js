// The online rate (连线率, issue 13), for admins and officers: over a range of the site's days,
// the share of its enabled time each area (rolled up the tree) and each camera was recording,
// its outages by reason, a chart of each area's rate per day against the 93 % target (inline
// SVG, no library), and the same report as CSV (GET /api/v1/reports/online, by=day: the days
// are the site's). #/online?from=YYYY-MM-DD&to=YYYY-MM-DD&area=ID (to inclusive; default: the
// last 7 days).
import { get, qs, at } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, table } from "../ui.js";
import { fmtDate, dayStart, dayFromString, nowUs, fmtDuration } from "../time.js";
import { go } from "../app.js";

const TARGET = 0.93;
const HOUR = 3600e6;
const MAX_SERIES = 12;
const COLORS = ["#1570ef", "#d92d20", "#079455", "#dc6803", "#7a5af8", "#0e9384", "#c11574",
  "#475467", "#b54708", "#2e90fa", "#66c61c", "#ee46bc"];
const REASONS = ["camera-offline", "recorder-stopped", "disk", "unexplained"];

const pct = (rate) => (rate === null || rate === undefined ? "—" : (100 * rate).toFixed(2) + " %");
const dur = (s) => fmtDuration(s * 1e6, t);
// The site day after the one starting at `us` (23 or 25 hours where daylight saving changes).
const nextDay = (us) => dayFromString(fmtDate(us + 36 * HOUR));

// [from µs, to µs) of the site days `a` to `b` (inclusive), or null when either is not a date.
function range(a, b) {
  const lo = dayFromString(a), last = dayFromString(b);
  return lo === null || last === null ? null : [lo, nextDay(last)];
}

// The areas in tree order, each with its depth (a child under its parent, siblings by id).
function tree(areas) {
  const ids = new Set(areas.map((a) => a.id));
  const kids = new Map();
  for (const a of areas) {
    const p = a.parent && ids.has(a.parent) ? a.parent : "";
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(a);
  }
  const out = [];
  const walk = (p, depth) => { for (const a of kids.get(p) || []) { out.push({ ...a, depth }); if (depth < 16) walk(a.id, depth + 1); } };
  walk("", 0);
  return out;
}

function outages(x) {
  const o = x.outage_seconds || {};
  const parts = REASONS.filter((k) => o[k] > 0.5).map((k) => h("div", t("online.reason." + k), ": ", raw(dur(o[k]))));
  return parts.length ? parts : "—";
}

const rateCell = (x) => h("span", { class: x.online_rate !== null && x.online_rate < TARGET ? "error rate" : "rate" }, raw(pct(x.online_rate)));

// SVG helper (h() makes HTML elements).
const NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const k of kids.flat()) if (k !== null && k !== undefined) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

// One line per series (an area, or all cameras) over the days, 0..100 %, the target dashed.
// `width`: the room on the page, so that the text keeps its size on a phone.
function chart(series, days, width) {
  const W = Math.max(300, Math.min(720, Math.round(width) || 640)), H = 260, L = 44, R = 22, T = 12, B = 34;
  const n = days.length;
  const x = (i) => L + (n > 1 ? (i * (W - L - R)) / (n - 1) : (W - L - R) / 2);
  const y = (rate) => T + (1 - rate) * (H - T - B);
  const g = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("online.chart") });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    g.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "cgrid" }),
      svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "ctick" }, `${v * 100}%`));
  }
  const every = Math.ceil(n / Math.max(2, Math.floor((W - L - R) / 56)));
  days.forEach((d, i) => {
    if (i % every === 0 || i === n - 1) g.append(svg("text", { x: x(i), y: H - B + 18, "text-anchor": "middle", class: "ctick", translate: "no" }, d.slice(5)));
  });
  g.append(svg("line", { x1: L, x2: W - R, y1: y(TARGET), y2: y(TARGET), class: "ctarget" }),
    svg("text", { x: W - R, y: y(TARGET) - 5, "text-anchor": "end", class: "ctarget" }, t("online.target")));
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const pts = s.days.map((d, i) => (d.online_rate === null ? null : [x(i), y(d.online_rate), d])).filter(Boolean);
    const grp = svg("g", { class: "series", "data-area": s.id, stroke: color, fill: color, translate: "no" });
    if (pts.length > 1) grp.append(svg("polyline", { points: pts.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(" "), fill: "none", "stroke-width": 2 }));
    for (const [px, py, d] of pts) grp.append(svg("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: 3.5 }, svg("title", {}, `${s.name} ${d.date} ${pct(d.online_rate)}`)));
    g.append(grp);
  });
  const legend = h("ul.legend", series.map((s, k) => h("li", h("span.swatch", { style: { background: COLORS[k % COLORS.length] } }), raw(s.name))));
  return h("figure.onlinechart", g, legend);
}

export async function render(main, r) {
  // The site's days: time.js knows the site's offset from /me's times (app.js) and the areas'.
  const areas = (await get("/areas")).areas || [];
  const today = dayStart(nowUs());
  const from = r.q.get("from") || fmtDate(today - 6 * 24 * HOUR + 12 * HOUR);
  const to = r.q.get("to") || fmtDate(today + 12 * HOUR);
  const area = r.q.get("area") || "";

  const fromIn = h("input", { type: "date", name: "from", value: from, "aria-label": t("online.from") });
  const toIn = h("input", { type: "date", name: "to", value: to, "aria-label": t("online.to") });
  const areaSel = h("select", { name: "area", "aria-label": t("online.area") }, h("option", { value: "" }, t("online.allareas")),
    tree(areas).map((a) => h("option", { value: a.id, selected: a.id === area, translate: "no" }, "\u00a0\u00a0".repeat(a.depth) + a.name)));
  const apply = () => go("online", [], { from: fromIn.value, to: toIn.value, area: areaSel.value, n: Date.now() });
  for (const el of [fromIn, toIn, areaSel]) el.addEventListener("change", apply);
  const sec = h("section.online", h("div.head", h("h1", t("online.title"))),
    h("div.filters", h("label.inline", t("online.from"), fromIn), h("label.inline", t("online.to"), toIn), areaSel));
  main.append(sec);

  const win = range(from, to);
  if (!win || win[1] <= win[0]) { sec.append(h("p.error", { role: "alert" }, t("online.badrange"))); return; }
  const q = { from: at(win[0]), to: at(win[1]), area, by: "day" };
  const rep = await get("/reports/online" + qs(q));
  const csv = "/api/v1/reports/online" + qs({ ...q, format: "csv" });

  const tot = rep.total || {};
  sec.querySelector(".head").append(h("a.btn.csv", { href: csv, download: "online-rate.csv" }, t("online.csv")));
  sec.append(h("p.summary", t("online.total", { n: tot.cameras || 0 }), " ", h("b", rateCell(tot)), " ", t("online.target.is")));

  const ordered = tree(rep.areas || []);
  const days = ((ordered[0] || tot).days || []).map((d) => d.date);
  let series = ordered.length ? ordered.map((a) => ({ id: a.id, name: a.name || a.id, days: a.days })) : [{ id: "", name: t("online.allcams"), days: tot.days || [] }];
  const cut = series.length > MAX_SERIES;
  if (cut) series = series.slice(0, MAX_SERIES);
  sec.append(h("h2", t("online.chart")), chart(series, days, sec.clientWidth));
  if (cut) sec.append(h("p.muted.small", t("online.chart.cut", { n: MAX_SERIES })));

  if (ordered.length) {
    sec.append(h("h2", t("online.areas")), table([
      { label: t("online.area"), cell: (a) => h("span.indent", { style: { paddingInlineStart: a.depth * 1.2 + "em" } }, raw(a.name), " ", raw(a.id, "small")) },
      { label: t("online.cameras"), cell: (a) => raw(a.cameras) },
      { label: t("online.rate"), cell: rateCell },
      { label: t("online.enabled"), cell: (a) => raw(dur(a.enabled_seconds)) },
      { label: t("online.outages"), cell: outages },
    ], ordered.map((a) => ({ data: a, attrs: { dataset: { area: a.id } } }))));
  }
  sec.append(h("h2", t("online.percamera")), table([
    { label: t("online.camera"), cell: (c) => raw(c.id) },
    { label: t("online.area"), cell: (c) => raw(c.area || "—") },
    { label: t("online.rate"), cell: rateCell },
    { label: t("online.enabled"), cell: (c) => raw(dur(c.enabled_seconds)) },
    { label: t("online.outages"), cell: outages },
  ], (rep.cameras || []).map((c) => ({ data: c, attrs: { dataset: { camera: c.id } } }))));
}
