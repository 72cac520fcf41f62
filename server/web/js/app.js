// app.js: the shell. Who is logged in, the header and its menu (only the screens the role may
// use), the hash router, and the language switch.
import { get, post, setCsrf, whenUnauthorized } from "./api.js";
import { t, getLang, setLang, LANGS } from "./i18n.js";
import { h, clear, raw, errorBox } from "./ui.js";
import * as login from "./views/login.js";
import * as cameras from "./views/cameras.js";
import * as timeline from "./views/timeline.js";
import * as player from "./views/player.js";
import * as requests from "./views/requests.js";
import * as queue from "./views/queue.js";
import * as cases from "./views/cases.js";
import * as exportsView from "./views/exports.js";
import * as holds from "./views/holds.js";
import * as admin from "./views/admin.js";
import * as account from "./views/account.js";
import * as reports from "./views/reports.js";
import * as wall from "./views/wall.js";
import * as online from "./views/online.js";

export const session = { user: null };

// route name -> [view, roles allowed, menu label key or null]
const ROUTES = {
  cameras: [cameras, ["admin", "officer", "resident"], "nav.cameras"],
  camera: [timeline, ["admin", "officer", "mediator"], null],
  play: [player, ["officer", "mediator"], null],
  queue: [queue, ["officer"], "nav.queue"],
  request: [requests.newRequest, ["resident"], "nav.request"],
  myrequests: [requests.mine, ["resident"], "nav.myrequests"],
  report: [reports.newReport, ["resident"], "nav.report"],
  myreports: [reports.mine, ["resident"], "nav.myreports"],
  reports: [reports.queue, ["admin", "officer"], "nav.reports"],
  wall: [wall, ["admin", "officer"], "nav.wall"],
  online: [online, ["admin", "officer"], "nav.online"],
  cases: [cases.list, ["officer", "mediator"], "nav.cases"],
  case: [cases.detail, ["officer", "mediator"], null],
  holds: [holds, ["admin", "officer"], "nav.holds"],
  exports: [exportsView, ["officer", "mediator"], "nav.exports"],
  "admin-cameras": [admin.cameras, ["admin"], "nav.admin.cameras"],
  "admin-storage": [admin.storage, ["admin"], "nav.admin.storage"],
  "admin-users": [admin.users, ["admin"], "nav.admin.users"],
  "admin-audit": [admin.audit, ["admin"], "nav.admin.audit"],
  account: [account, ["admin", "officer", "mediator", "resident"], null],
};
const HOME = { admin: "admin-cameras", officer: "cameras", mediator: "cases", resident: "cameras" };

export function parseHash() {
  const s = location.hash.replace(/^#\/?/, "");
  const [path, q] = s.split("?");
  const segs = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: segs[0] || "", args: segs.slice(1), q: new URLSearchParams(q || "") };
}
export function go(name, args = [], q = {}) {
  const qs = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined && v !== null && v !== "")).toString();
  location.hash = "#/" + [name, ...args.map(encodeURIComponent)].join("/") + (qs ? "?" + qs : "");
}
export function link(name, args = [], q = {}) {
  const qs = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined && v !== null && v !== "")).toString();
  return "#/" + [name, ...args.map(encodeURIComponent)].join("/") + (qs ? "?" + qs : "");
}

let cleanup = null;
const main = document.getElementById("main");

function header() {
  const top = clear(document.getElementById("top"));
  const other = getLang() === "en" ? "zh-CN" : "en";
  const langBtn = h("button.lang", { type: "button", translate: "no", lang: other, title: LANGS[other].name, onclick: () => { setLang(other); render(); } }, LANGS[other].name);
  const brand = h("a.brand", { href: "#/" }, h("img", { src: "/icon.svg", alt: "", width: 24, height: 24 }), h("span", t("app.name")));
  if (!session.user) { top.append(h("div.bar", brand, h("span.grow"), langBtn)); return; }
  const role = session.user.role;
  const cur = parseHash().name || HOME[role];
  const items = Object.entries(ROUTES).filter(([, r]) => r[2] && r[1].includes(role))
    .map(([name, r]) => h("a", { href: "#/" + name, class: name === cur ? "on" : null }, t(r[2])));
  const menuBtn = h("button.menu", { type: "button", "aria-label": t("nav.menu"), title: t("nav.menu"), onclick: () => nav.classList.toggle("open") }, "☰");
  const nav = h("nav", items);
  const who = h("span.who", h("a", { href: "#/account", title: t("nav.account") }, raw(session.user.name)), " · ", t("role." + role));
  const out = h("button.link", { type: "button", onclick: logout }, t("nav.logout"));
  top.append(h("div.bar", brand, menuBtn, h("span.grow"), who, langBtn, out), nav);
}

async function logout() {
  try { await post("/logout"); } catch { /* already gone */ }
  session.user = null;
  setCsrf(null);
  go("login");
}

let renderSeq = 0;

// Each render draws into its own box: a slow screen that finishes after the user has moved on
// draws into a box no longer on the page, and does not mark the page ready.
export async function render() {
  const my = ++renderSeq;
  document.documentElement.lang = getLang();
  document.title = t("app.title");
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  const r = parseHash();
  header();
  clear(main);
  delete main.dataset.ready;
  if (!session.user && r.name !== "login") { go("login", [], { next: location.hash.slice(1) }); return; }
  if (r.name === "login") {
    if (session.user) { location.hash = "#/"; return; }
    cleanup = login.render(main, r, { onLogin }) || null;
    main.dataset.ready = "login";
    return;
  }
  const role = session.user.role;
  const name = r.name || HOME[role];
  const route = ROUTES[name];
  if (!route) { main.append(h("section", h("h1", t("err.404")), h("p", h("a", { href: "#/" }, t("nav.home"))))); main.dataset.ready = "404"; return; }
  if (!route[1].includes(role)) {
    main.append(h("section.denied", h("h1", t("denied.title")), h("p", t("denied.role")), h("p", h("a", { href: "#/" }, t("nav.home")))));
    main.dataset.ready = "denied";
    return;
  }
  const box = h("div.view");
  main.append(box);
  try {
    const c = await route[0].render(box, { ...r, name }, session);
    if (my !== renderSeq) { if (typeof c === "function") c(); return; }
    cleanup = typeof c === "function" ? c : null;
  } catch (e) {
    if (my !== renderSeq) return;
    if (e && e.status !== undefined) box.append(errorBox(e));
    else { console.error(e); box.append(h("p.error", String(e))); }
  }
  main.dataset.ready = name;
}

async function onLogin(data) {
  session.user = data.user;
  setCsrf(data.csrf_token);
  const next = parseHash().q.get("next");
  if (next && !next.startsWith("/login")) location.hash = "#" + next; else location.hash = "#/";
}

whenUnauthorized(() => {
  if (!session.user) return;
  session.user = null;
  setCsrf(null);
  go("login", [], { next: location.hash.slice(1), expired: 1 });
});

async function boot() {
  setLang(getLang());
  try {
    const me = await get("/me");
    session.user = me.user;
    setCsrf(me.csrf_token);
  } catch { session.user = null; }
  window.addEventListener("hashchange", render);
  render();
}
boot();
