// time.js: times in the site's zone. The API gives every time as X (UTC), X_local (the server's
// zone with its offset) and X_us. The browser may be anywhere, so the UI never uses the browser's
// zone: it learns the site's offset from the X_local fields it has seen, and uses the offset seen
// nearest in time (so a daylight-saving change shows on the right side of the change).
const samples = []; // [us, offsetMinutes], sorted by us
let fallback = null;

function parseOffset(s) {
  const m = /([+-])(\d\d):?(\d\d)$/.exec(s);
  if (m) return (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return /Z$/.test(s) ? 0 : null;
}

function addSample(us, off) {
  if (fallback === null) fallback = off;
  // keep at most one sample per hour; enough to follow DST
  const hour = Math.floor(us / 3.6e9);
  let lo = 0, hi = samples.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (samples[mid][0] < us) lo = mid + 1; else hi = mid; }
  for (const i of [lo - 1, lo]) if (samples[i] && Math.floor(samples[i][0] / 3.6e9) === hour) return;
  samples.splice(lo, 0, [us, off]);
  if (samples.length > 5000) samples.splice(0, 1000);
}

export function noteOffsets(o, depth = 0) {
  if (!o || typeof o !== "object" || depth > 6) return;
  if (Array.isArray(o)) { for (const x of o) noteOffsets(x, depth + 1); return; }
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === "string" && k.endsWith("_local")) {
      const us = o[k.slice(0, -6) + "_us"];
      const off = parseOffset(v);
      if (typeof us === "number" && off !== null) addSample(us, off);
    } else if (v && typeof v === "object") noteOffsets(v, depth + 1);
  }
}

export function siteOffset(us) {
  if (!samples.length) return fallback !== null ? fallback : -new Date().getTimezoneOffset();
  let lo = 0, hi = samples.length - 1;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (samples[mid][0] < us) lo = mid + 1; else hi = mid; }
  let best = samples[lo];
  if (lo > 0 && Math.abs(samples[lo - 1][0] - us) < Math.abs(best[0] - us)) best = samples[lo - 1];
  return best[1];
}

const p2 = (n) => String(n).padStart(2, "0");
export function offStr(min) {
  const a = Math.abs(min);
  return (min < 0 ? "-" : "+") + p2(Math.floor(a / 60)) + ":" + p2(a % 60);
}

// Broken-down site-local fields of an instant.
export function parts(us) {
  const off = siteOffset(us);
  const d = new Date(Math.floor(us / 1000) + off * 60000);
  return {
    y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(),
    mi: d.getUTCMinutes(), s: d.getUTCSeconds(), ms: d.getUTCMilliseconds(), off,
  };
}

export function fmtDate(us) { const p = parts(us); return `${p.y}-${p2(p.mo)}-${p2(p.d)}`; }
export function fmtClock(us, { ms = false, sec = true } = {}) {
  const p = parts(us);
  let s = `${p2(p.h)}:${p2(p.mi)}`;
  if (sec) s += `:${p2(p.s)}`;
  if (ms) s += "." + String(p.ms).padStart(3, "0");
  return s;
}
// "2026-11-22 17:30:05 +08:00"
export function fmtTime(us, opts = {}) {
  if (us === null || us === undefined) return "—";
  const p = parts(us);
  return `${fmtDate(us)} ${fmtClock(us, opts)}` + (opts.zone === false ? "" : " " + offStr(p.off));
}
export function fmtUTC(us, ms = false) {
  const s = new Date(Math.floor(us / 1000)).toISOString();
  return (ms ? s : s.replace(/\.\d+Z$/, "Z")).replace("T", " ").replace("Z", " UTC");
}
export function fmtRange(a, b) {
  if (fmtDate(a) === fmtDate(b)) return `${fmtTime(a, { zone: false })} – ${fmtClock(b)} ${offStr(siteOffset(a))}`;
  return `${fmtTime(a)} – ${fmtTime(b)}`;
}

// Site-local midnight at or before `us`.
export function dayStart(us) {
  const p = parts(us);
  const ms = Date.UTC(p.y, p.mo - 1, p.d) - p.off * 60000;
  return ms * 1000;
}
// "YYYY-MM-DD" (site day) -> µs of its local midnight
export function dayFromString(s) {
  const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(s || "");
  if (!m) return null;
  const guess = Date.UTC(+m[1], +m[2] - 1, +m[3]) * 1000;
  return guess - siteOffset(guess) * 60e6;
}

// <input type=datetime-local> value (site-local wall time) <-> µs
export function toInput(us) {
  const p = parts(us);
  return `${fmtDate(us)}T${p2(p.h)}:${p2(p.mi)}`;
}
export function fromInput(v) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?$/.exec(v || "");
  if (!m) return null;
  const naive = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) * 1000;
  let us = naive - siteOffset(naive) * 60e6;
  us = naive - siteOffset(us) * 60e6; // once more, with the offset at the instant itself
  return us;
}
// RFC 3339 with the site offset, for JSON bodies
export function rfc(us) {
  const p = parts(us);
  return `${fmtDate(us)}T${p2(p.h)}:${p2(p.mi)}:${p2(p.s)}${p.ms ? "." + String(p.ms).padStart(3, "0") : ""}${offStr(p.off)}`;
}

export const nowUs = () => Date.now() * 1000;
export function fmtDuration(us, t) {
  let s = Math.round(us / 1e6);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const out = [];
  if (d) out.push(t("unit.d", { n: d }));
  if (h) out.push(t("unit.h", { n: h }));
  if (m && !d) out.push(t("unit.m", { n: m }));
  if ((s && !d && !h) || !out.length) out.push(t("unit.s", { n: s }));
  return out.join(" ");
}
