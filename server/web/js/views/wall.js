// The duty-room wall (issue 13), for a desktop or a TV: 1, 4, 9 or 16 live tiles (live.js), a
// tour that moves the wall on through the cameras, full screen, and the alerts: each alarm of
// GET /api/v1/alerts/stream (Server-Sent Events) pops up over the wall with a beep, switches the
// first tile to its camera, and stays until someone acknowledges it (here, or on another
// screen: the stream's "ack" event takes it away everywhere). The wall's layout, cameras and
// tour are saved per user in this browser; #/wall?layout=9&c=id,id,...&tour=S sets them too.
import { get, post, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, errorBox, toast } from "../ui.js";
import { fmtTime, nowUs } from "../time.js";
import { link } from "../app.js";
import { playLive, playLiveHls } from "../live.js";
import { renditionFor, withRendition } from "../rendition.js";

const LAYOUTS = [1, 4, 9, 16];
const TOURS = [0, 10, 30, 60]; // seconds a page of cameras stays; 0: no tour
const BEEP_EVERY_MS = 15000;   // while an alarm waits for someone

const savedKey = (user) => "cv_wall_" + user;
function loadSaved(user) {
  try { return JSON.parse(localStorage.getItem(savedKey(user))) || {}; } catch { return {}; }
}

// Two short tones through WebAudio (no sound file); false when the browser refuses.
let audio = null;
function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
    for (const [at, f] of [[0, 880], [0.3, 660]]) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.25, audio.currentTime + at);
      g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.25);
      o.connect(g).connect(audio.destination);
      o.start(audio.currentTime + at);
      o.stop(audio.currentTime + at + 0.26);
    }
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
    return true;
  } catch { return false; }
}

export async function render(main, r, session) {
  const user = session.user.name;
  const cams = (await get("/cameras")).cameras || [];
  const byId = Object.fromEntries(cams.map((c) => [c.id, c]));
  const saved = loadSaved(user);
  let layout = Number(r.q.get("layout")) || saved.layout || (cams.length > 4 ? 9 : cams.length > 1 ? 4 : 1);
  if (!LAYOUTS.includes(layout)) layout = 9;
  let assigned = (r.q.get("c") ? r.q.get("c").split(",") : saved.cams || cams.map((c) => c.id)).filter((id) => byId[id]);
  let tour = Number(r.q.get("tour") ?? saved.tour ?? 0) || 0;
  let page = 0;

  const grid = h("div.wallgrid");
  const wall = h("div.wall", grid);
  const pop = h("div.alertpops");
  wall.append(pop);
  const layoutBtns = LAYOUTS.map((n) => h("button", { type: "button", dataset: { layout: n }, onclick: () => { layout = n; page = 0; draw(); } }, t("wall.layout", { n })));
  const tourSel = h("select", { "aria-label": t("wall.tour") }, TOURS.map((s) => h("option", { value: s, selected: s === tour }, s ? t("wall.tour.every", { s }) : t("wall.tour.off"))));
  tourSel.addEventListener("change", () => { tour = Number(tourSel.value); restartTour(); });
  const full = h("button", { type: "button", onclick: () => (document.fullscreenElement ? document.exitFullscreen() : wall.requestFullscreen && wall.requestFullscreen().catch(() => {})) }, t("wall.fullscreen"));
  const save = h("button", { type: "button", onclick: () => {
    localStorage.setItem(savedKey(user), JSON.stringify({ layout, cams: assigned, tour }));
    toast(t("wall.saved"));
  } }, t("wall.save"));
  const conn = h("span.badge.off.streamstate", t("wall.connecting"));
  main.append(h("section.wallview", h("div.head.walltools", h("h1", t("wall.title")), h("span.layouts", layoutBtns), h("label", t("wall.tour"), " ", tourSel), full, save, conn), wall));

  const tiles = [];
  let alerting = null; // the camera the first tile shows for an alarm

  // The cameras of tile i on this page of the tour.
  function camOf(i) {
    if (i === 0 && alerting) return alerting;
    if (!assigned.length) return null;
    const k = page * layout + i;
    return k < assigned.length || tour ? assigned[k % assigned.length] : null;
  }

  function stopTile(tl) { if (tl.stop) { tl.stop(); tl.stop = null; } }

  function fillTile(tl, id) {
    if (tl.id === id && tl.stop) return;
    stopTile(tl);
    tl.id = id;
    const c = id ? byId[id] : null;
    clear(tl.label).append(c ? raw(c.name || c.id) : t("wall.empty"));
    tl.el.dataset.camera = id || "";
    tl.el.classList.toggle("alerting", !!(alerting && tl.index === 0));
    const on = c && c.status ? c.status.online && c.enabled !== false : !!(c && c.online);
    tl.live.classList.toggle("offline", !on);
    if (!on) return;
    const rd = renditionFor(c.video_codec);
    // The fragments of live.m3u8, not live.mp4: a wall has more tiles than a browser opens
    // connections to one server (live.js, playLiveHls). An H.265 camera the browser cannot play
    // gets the H.264 rendition's live.mp4, a stream of its own.
    tl.stop = rd.rendition ? playLive(tl.vid, withRendition(`/api/v1/cameras/${enc(id)}/live.mp4`, rd.rendition))
      : playLiveHls(tl.vid, `/api/v1/cameras/${enc(id)}/live.m3u8`);
  }

  function draw() {
    for (const b of layoutBtns) b.classList.toggle("on", Number(b.dataset.layout) === layout);
    grid.dataset.layout = String(layout);
    while (tiles.length > layout) { const tl = tiles.pop(); stopTile(tl); tl.el.remove(); }
    while (tiles.length < layout) {
      const vid = h("video", { muted: true, autoplay: true, playsinline: true, preload: "none" });
      vid.muted = true;
      const label = h("span.walllabel");
      const live = h("div.live", vid, h("span.livebadge", t("cams.live")));
      const tl = { index: tiles.length, vid, label, live, el: h("div.walltile", live, label), stop: null, id: undefined };
      tiles.push(tl);
      grid.append(tl.el);
    }
    tiles.forEach((tl, i) => fillTile(tl, camOf(i)));
  }

  let tourTimer = null;
  function restartTour() {
    clearInterval(tourTimer);
    if (tour && assigned.length > layout) tourTimer = setInterval(() => { page = (page + 1) % Math.ceil(assigned.length / layout); draw(); }, tour * 1000);
  }

  // ---- alerts ----
  const waiting = new Map(); // alert id -> alert, alarms not yet acknowledged
  let beepTimer = null;

  function showAlerts() {
    clear(pop);
    const list = [...waiting.values()].sort((a, b) => (b.created_us || 0) - (a.created_us || 0));
    const top = list[0];
    const cam = top && top.camera && byId[top.camera] ? top.camera : null;
    if (cam !== alerting) { alerting = cam; if (tiles[0]) { tiles[0].id = undefined; fillTile(tiles[0], camOf(0)); } }
    clearInterval(beepTimer);
    if (!top) return;
    beepTimer = setInterval(beep, BEEP_EVERY_MS);
    const c = top.camera ? byId[top.camera] : null;
    const ackBtn = h("button.primary", { type: "button", onclick: async () => {
      ackBtn.disabled = true;
      try { await post(`/alerts/${enc(top.id)}/ack`); } catch (e) { if (e.status !== 409) { toast(errorBox(e), "error"); ackBtn.disabled = false; return; } }
      waiting.delete(top.id);
      showAlerts();
    } }, t("wall.ack"));
    const now = nowUs();
    pop.append(h("div.alertpop", { role: "alertdialog", dataset: { alert: top.id, kind: top.kind } },
      h("h2", t("alert.kind." + top.kind)),
      c ? h("p", t("wall.camera"), " ", raw(c.name || c.id)) : null,
      top.by ? h("p", t("wall.by"), " ", raw(top.by), top.household ? [" · ", raw(top.household)] : null) : null,
      top.text ? h("p.alerttext", raw(top.text)) : null,
      h("p.small", raw(fmtTime(top.at_us || top.created_us))),
      list.length > 1 ? h("p.small", t("wall.more", { n: list.length - 1 })) : null,
      h("div.actions", ackBtn,
        c ? h("a.btn", { href: link("camera", [c.id], { from: Math.round(now - 60e6), to: Math.round(now + 10e6) }) }, t("wall.replay")) : null)));
  }

  function arrived(al, sound) {
    if (al.severity !== "alarm" || al.acked_us || waiting.has(al.id)) return;
    waiting.set(al.id, al);
    showAlerts();
    if (sound) beep();
  }

  try {
    const un = (await get("/alerts?unacked=1&limit=50")).alerts || [];
    for (const al of un.reverse()) arrived(al, false);
  } catch (e) { main.append(errorBox(e)); }
  const es = new EventSource("/api/v1/alerts/stream");
  es.addEventListener("open", () => { conn.className = "badge on streamstate"; conn.textContent = t("wall.connected"); });
  es.addEventListener("error", () => { conn.className = "badge off streamstate"; conn.textContent = t("wall.connecting"); });
  es.addEventListener("alert", (ev) => { try { arrived(JSON.parse(ev.data), true); } catch { /* not JSON */ } });
  es.addEventListener("ack", (ev) => {
    try { const al = JSON.parse(ev.data); if (waiting.delete(al.id)) showAlerts(); } catch { /* not JSON */ }
  });

  draw();
  restartTour();
  return () => {
    es.close();
    clearInterval(tourTimer);
    clearInterval(beepTimer);
    for (const tl of tiles) stopTile(tl);
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  };
}
