// ui.js: small DOM helpers shared by the screens.
import { t, has } from "./i18n.js";
import { fmtDate, fmtClock } from "./time.js";

// h("div.card#x", {attrs}, child, ...): children are nodes, strings (text) or arrays.
export function h(tag, attrs, ...kids) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(tag);
  const el = document.createElement((m && m[1]) || "div");
  if (m && m[2]) for (const part of m[2].match(/[.#][\w-]+/g)) {
    if (part[0] === ".") el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.classList.add(...String(v).split(/\s+/).filter(Boolean));
    else if (k === "style" && typeof v === "object") { for (const [sk, sv] of Object.entries(v)) if (sv !== null && sv !== undefined) el.style[sk] = sv; }
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  add(el, kids);
  return el;
}
function add(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}
// Data from the server shown as is (ids, names, places): never translated.
export const raw = (s, tag = "span") => h(tag, { translate: "no", class: "raw" }, s === null || s === undefined ? "" : String(s));

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export function errorText(e) {
  if (!e) return "";
  const k = `err.${e.status}`;
  const head = has(k) ? t(k) : t("err.other", { status: e.status });
  return [head, e.message ? raw(e.message, "span") : null];
}
export function errorBox(e) {
  return h("p.error", { role: "alert" }, errorText(e));
}

let toastTimer = null;
export function toast(msg, kind = "ok") {
  const el = document.getElementById("toast");
  clear(el).append(...[].concat(msg).map((m) => (m instanceof Node ? m : document.createTextNode(m))));
  el.className = "toast " + kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}

// A table that turns into labelled cards on a phone (see .rt in app.css).
export function table(cols, rows, { empty } = {}) {
  if (!rows.length) return h("p.muted.empty", empty || t("common.none"));
  return h("table.rt",
    h("thead", h("tr", cols.map((c) => h("th", c.label)))),
    h("tbody", rows.map((r) => h("tr", r.attrs || {}, cols.map((c) => h("td", { "data-label": c.label, class: c.cls }, h("div.cell", c.cell(r.data !== undefined ? r.data : r))))))));
}

export function field(label, input, hint) {
  return h("label.field", h("span.lbl", label), input, hint ? h("small.muted", hint) : null);
}

export function busy(btn, p) {
  btn.disabled = true;
  return Promise.resolve(p).finally(() => { btn.disabled = false; });
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const u = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + u[i];
}
export const bytes = (n) => raw(fmtBytes(n));

// Floating hover tip (one for the page).
export function showTip(x, y, ...content) {
  const tip = document.getElementById("tip");
  clear(tip);
  add(tip, content);
  tip.hidden = false;
  const w = tip.offsetWidth, hgt = tip.offsetHeight;
  const vw = document.documentElement.clientWidth;
  let left = Math.min(Math.max(4, x - w / 2), vw - w - 4);
  let top = y - hgt - 12;
  if (top < 4) top = y + 18;
  tip.style.left = left + window.scrollX + "px";
  tip.style.top = top + window.scrollY + "px";
}
export function hideTip() { document.getElementById("tip").hidden = true; }

export function modal(title, body, actions) {
  const dlg = h("dialog.modal", h("h2", title), body, h("div.actions", actions));
  document.body.append(dlg);
  dlg.addEventListener("close", () => dlg.remove());
  dlg.showModal();
  return dlg;
}

// A date and a 24-hour time in the site's zone. Not <input type=datetime-local>: its text comes
// from the browser's own language (an English browser shows "PM" on a Chinese page).
// The time is HH:MM or HH:MM:SS: seconds are optional, for a window as narrow as the event
// ("22:41:05 to 22:41:40"), since a request for a few seconds is exported and reviewed faster.
// .value is "YYYY-MM-DDTHH:MM[:SS]" (time.js fromInput reads both) or "" when incomplete.
export function dateTime(name, us, { required = false, label = "" } = {}) {
  const d = h("input", { type: "date", name: name + "-date", required, value: us ? fmtDate(us) : "", "aria-label": label });
  const tm = h("input.time", { type: "text", name: name + "-time", inputmode: "numeric", required, maxlength: 8,
    pattern: "([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?", placeholder: "22:00", value: us ? fmtClock(us, { sec: false }) : "", "aria-label": label });
  const el = h("span.dt", d, tm);
  Object.defineProperty(el, "value", {
    get: () => {
      const m = /^(\d{1,2}):(\d\d)(:\d\d)?$/.exec(tm.value);
      return d.value && m ? `${d.value}T${m[1].padStart(2, "0")}:${m[2]}${m[3] || ""}` : "";
    },
  });
  return el;
}
