// Player: plays any range of a camera (video.mp4), shows the wall-clock time of the frame on
// screen in the site's zone (UTC on hover), steps frame by frame, and keeps several players in
// step on one wall clock (a case's cameras side by side).
import { qs, at, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, errorBox } from "../ui.js";
import { fmtTime, fmtUTC, fmtRange } from "../time.js";
import { ApiError } from "../api.js";
import { renditionOf, withRendition, renditionSlot } from "../rendition.js";

let seq = 0;

// Button icons as inline SVG (no icon font, nothing for a font to be missing).
const ICONS = {
  play: "M7 4l13 8-13 8z",
  pause: "M6 4h4v16H6zM14 4h4v16h-4z",
  prev: "M6 4h2v16H6zM20 4L9 12l11 8z",
  next: "M16 4h2v16h-2zM4 4l11 8-11 8z",
  back: "M11 5L3 12l8 7zM21 5l-8 7 8 7z",
  fwd: "M3 5l8 7-8 7zM13 5l8 7-8 7z",
};
export function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", ICONS[name]);
  p.setAttribute("fill", "currentColor");
  svg.append(p);
  return svg;
}

// RFC 3339 -> µs (keeps microseconds, which Date.parse drops)
export function parseRfc(s) {
  if (!s) return null;
  const m = /^(.*?:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/.exec(s.trim());
  if (!m) { const ms = Date.parse(s); return isNaN(ms) ? null : ms * 1000; }
  const ms = Date.parse(m[1] + (m[3] === "Z" ? "Z" : m[3]));
  if (isNaN(ms)) return null;
  return ms * 1000 + (m[2] ? Math.round(Number("0." + m[2]) * 1e6) : 0);
}

export function videoUrl(camera, from, to) {
  return `/api/v1/cameras/${enc(camera)}/video.mp4` + qs({ from: at(from), to: at(to) });
}

export function makePlayer({ camera, from, to, startAt = null, title = null, fps = 25, autoplay = false }) {
  const id = "v" + ++seq;
  const video = h("video", { id, playsinline: true, preload: "auto", controls: true, muted: true });
  video.muted = true;
  const clock = h("time.clock", { "data-clock-for": id, translate: "no" }, "—");
  const status = h("div.pstatus.small.muted");
  const shown = h("div.rendition.small.muted"); // which rendition plays (H.265 cameras)
  const btn = (name, key, fn) => h("button", { type: "button", title: t(key), "aria-label": t(key), onclick: fn }, icon(name));
  const playBtn = btn("play", "player.play", () => (video.paused ? video.play().catch(() => {}) : video.pause()));
  const el = h("div.player",
    title ? h("div.ptitle", title) : null,
    h("div.pvideo", video),
    h("div.pbar",
      h("div.clockbox", h("span.small.muted", t("player.clock")), clock),
      h("div.pbtns",
        btn("back", "player.back10", () => step(-10)),
        btn("prev", "player.prevframe", () => frame(-1)),
        playBtn,
        btn("next", "player.nextframe", () => frame(1)),
        btn("fwd", "player.fwd10", () => step(10)))),
    h("div.small.muted", t("player.range"), " ", raw(fmtRange(from, to))),
    shown,
    status);
  const p = { el, video, camera, start: null, end: null, base: 0, fps, listeners: [], ready: null };
  const url = videoUrl(camera, from, to);

  function wallAt(mediaTime) { return p.start === null ? null : p.start + Math.round((mediaTime - p.base) * 1e6); }
  p.wallNow = () => wallAt(video.currentTime); // for keeping players in step: the playback position
  p.seekWall = (us) => {
    if (p.start === null) return;
    const tm = p.base + (us - p.start) / 1e6;
    video.currentTime = Math.max(p.base, Math.min(tm, isFinite(video.duration) ? p.base + video.duration : tm));
  };
  function show(mediaTime) {
    const us = wallAt(mediaTime);
    if (us === null) return;
    clock.textContent = fmtTime(us, { ms: true });
    clock.dataset.us = String(us);
    clock.title = fmtUTC(us, true);
    clock.setAttribute("datetime", new Date(us / 1000).toISOString());
  }
  function step(s) { video.currentTime = Math.max(0, video.currentTime + s); }
  // One frame on from the frame on screen (not from currentTime, which may lie between frames).
  function frame(n) {
    video.pause();
    const on = onScreen !== null ? onScreen : video.currentTime;
    video.currentTime = Math.max(p.base, on + n / p.fps + 0.001);
  }

  // The clock follows the frame on screen: requestVideoFrameCallback gives its media time;
  // where it is missing, currentTime is the best there is.
  let onScreen = null;
  const rvfc = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  if (rvfc) {
    const onFrame = (now, meta) => { onScreen = meta.mediaTime; show(meta.mediaTime); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  } else {
    video.addEventListener("timeupdate", () => show(video.currentTime));
    video.addEventListener("seeked", () => show(video.currentTime));
  }
  video.addEventListener("play", () => { playBtn.replaceChildren(icon("pause")); });
  video.addEventListener("pause", () => { playBtn.replaceChildren(icon("play")); if (!rvfc) show(video.currentTime); });
  let src = url; // the original, or the server's H.264 rendition of it
  video.addEventListener("error", async () => {
    status.replaceChildren(h("span.error", t("player.error")));
    const why = src !== url ? await renditionSlot(src, 1) : null;
    if (why) status.replaceChildren(h("span.error", why));
  });

  // Ask the server which wall-clock range it delivers (X-Camvault-Start), then play.
  p.ready = (async () => {
    status.textContent = t("player.loading");
    let res;
    try {
      res = await fetch(url, { headers: { Range: "bytes=0-0" }, credentials: "same-origin" });
    } catch (e) { throw new ApiError(0, e.message); }
    if (!res.ok) {
      let msg = res.statusText;
      try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
      throw new ApiError(res.status, msg);
    }
    p.start = parseRfc(res.headers.get("X-Camvault-Start"));
    p.end = parseRfc(res.headers.get("X-Camvault-End"));
    try { await res.body.cancel(); } catch { /* done */ }
    if (p.start === null) p.start = from; // no header: assume the requested start
    const rd = await renditionOf(camera);
    shown.textContent = rd.label;
    src = withRendition(url, rd.rendition);
    const busy = src !== url ? await renditionSlot(src) : null;
    if (busy) { status.replaceChildren(h("span.error", busy)); return; }
    await new Promise((resolve, reject) => {
      video.addEventListener("loadedmetadata", resolve, { once: true });
      video.addEventListener("error", () => reject(new ApiError(0, t("player.error"))), { once: true });
      video.src = src;
    });
    p.base = video.seekable.length ? video.seekable.start(0) : 0;
    status.textContent = "";
    if (startAt !== null && startAt > p.start) p.seekWall(startAt);
    if (onScreen === null) show(video.currentTime);
    if (autoplay) video.play().catch(() => {});
  })();
  p.ready.catch((e) => { status.replaceChildren(errorBox(e)); });
  p.destroy = () => { video.pause(); video.removeAttribute("src"); video.load(); };
  return p;
}

// Several players on one wall clock: the first leads; the others follow its play, pause and
// seeks, and are nudged back when they drift more than a quarter second.
export function syncPlayers(players) {
  if (players.length < 2) return () => {};
  const [lead, ...rest] = players;
  const v = lead.video;
  const follow = () => { const us = lead.wallNow(); if (us !== null) for (const f of rest) f.seekWall(us); };
  v.addEventListener("play", () => { follow(); for (const f of rest) f.video.play().catch(() => {}); });
  v.addEventListener("pause", () => { for (const f of rest) f.video.pause(); follow(); });
  v.addEventListener("seeked", follow);
  v.addEventListener("ratechange", () => { for (const f of rest) f.video.playbackRate = v.playbackRate; });
  const timer = setInterval(() => {
    if (v.paused) return;
    const us = lead.wallNow();
    if (us === null) return;
    for (const f of rest) {
      const fu = f.wallNow();
      if (fu !== null && Math.abs(fu - us) > 250000) f.seekWall(us);
    }
  }, 500);
  return () => clearInterval(timer);
}

// Route #/play?c=cam1,cam2&from=US&to=US&at=US
export async function render(main, r) {
  const cams = (r.q.get("c") || "").split(",").filter(Boolean);
  const from = Number(r.q.get("from")), to = Number(r.q.get("to"));
  const startAt = r.q.get("at") ? Number(r.q.get("at")) : null;
  if (!cams.length || !from || !to || !(to > from)) { main.append(h("p.error", t("player.badlink"))); return; }
  const players = cams.map((c) => makePlayer({ camera: c, from, to, startAt, title: raw(c), autoplay: false }));
  main.append(h("section", h("h1", t("player.title")), h("div.players", { class: players.length > 1 ? "multi" : "" }, players.map((p) => p.el))));
  const stop = syncPlayers(players);
  return () => { stop(); players.forEach((p) => p.destroy()); };
}
