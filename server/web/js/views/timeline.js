// Timeline of one camera: a bar of the day (or any zoom down to a minute) with the recorded
// spans, the gaps coloured by their reason (the reason shows on hover), holds and requests
// marked above; hover for a thumbnail, click to play from that instant, drag to select a range
// (officers: hold, clip, export; mediators: export within their case).
import { get, post, qs, at, enc } from "../api.js";
import { t, has } from "../i18n.js";
import { h, raw, clear, errorBox, showTip, hideTip, modal, toast, field, errorText, dateTime } from "../ui.js";
import { fmtTime, fmtClock, fmtDate, fmtRange, fmtDuration, dayStart, dayFromString, nowUs, rfc, fmtUTC, fromInput } from "../time.js";
import { makePlayer } from "./player.js";
import { exportProgress, caseChoices } from "./exports.js";
import { go, link } from "../app.js";

const ZOOMS = [86400, 21600, 3600, 600, 60].map((s) => s * 1e6);
const TICKS = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600].map((s) => s * 1e6);
const MAX_PLAY = 6 * 3600e6;

export function gapLabel(reason) { return has("gap." + reason) ? t("gap." + reason) : t("gap.other"); }

export async function render(main, r, session) {
  const role = session.user.role;
  const id = r.args[0];
  if (!id) { go("cameras"); return; }
  const canPlay = role === "officer" || role === "mediator";
  const canSelect = canPlay;
  let from = Number(r.q.get("from")) || null, to = Number(r.q.get("to")) || null;

  const head = h("div.head");
  main.append(h("section.timeline", head));
  const body = h("div");
  main.lastChild.append(body);

  let cam;
  try { cam = (await get(`/cameras/${enc(id)}`)).camera; } catch (e) {
    if (e.status === 403 || e.status === 404) { denied(body, e); return; }
    throw e;
  }
  head.append(h("h1", raw(cam.name || cam.id)), h("span.muted", raw(cam.location || ""), " · ", raw(cam.id)));

  // Mediators: the clips of their cases bound every range they may ask for.
  let clips = null;
  if (role === "mediator") {
    clips = [];
    try {
      for (const c of (await get("/cases")).cases || []) {
        const full = c.clips ? c : (await get(`/cases/${enc(c.id)}`)).case;
        for (const cl of full.clips || []) if (cl.camera === id) clips.push({ ...cl, case: full.id });
      }
    } catch { /* the server will say no */ }
    if (!from || !to) {
      if (!clips.length) { denied(body, { status: 403, message: "outside your cases" }); return; }
      from = clips[0].from_us; to = clips[0].to_us;
    }
  }
  if (!from || !to || to <= from) { from = dayStart(nowUs()); to = from + ZOOMS[0]; }
  const clipOf = (a, b) => clips && clips.find((c) => a >= c.from_us && b <= c.to_us);

  // Controls
  const dayIn = h("input", { type: "date", "aria-label": t("tl.day"), value: fmtDate(from) });
  const zoomLbl = h("span.zoom.muted");
  const ctl = h("div.tlctl",
    h("button", { type: "button", title: t("tl.prev"), "aria-label": t("tl.prev"), onclick: () => pan(-1) }, "‹"),
    dayIn,
    h("button", { type: "button", title: t("tl.next"), "aria-label": t("tl.next"), onclick: () => pan(1) }, "›"),
    h("button", { type: "button", title: t("tl.zoomout"), "aria-label": t("tl.zoomout"), onclick: () => zoom(-1) }, "−"),
    h("button", { type: "button", title: t("tl.zoomin"), "aria-label": t("tl.zoomin"), onclick: () => zoom(1) }, "+"),
    zoomLbl,
    role !== "mediator" ? h("button", { type: "button", onclick: () => setView(dayStart(nowUs()), dayStart(nowUs()) + ZOOMS[0]) }, t("tl.today")) : null);
  dayIn.addEventListener("change", () => {
    const d = dayFromString(dayIn.value);
    if (d !== null) setView(d, d + ZOOMS[0]);
  });

  const legend = h("div.legend.small",
    h("span", h("i.sw.rec"), t("tl.recorded")),
    h("span", h("i.sw.rec.live"), t("tl.live")),
    h("span", h("i.sw.gap-camera-offline"), t("gap.camera-offline")),
    h("span", h("i.sw.gap-retention"), t("gap.retention")),
    h("span", h("i.sw.gap-recorder-stopped"), t("gap.recorder-stopped")),
    h("span", h("i.sw.gap-other"), t("gap.other")),
    h("span", h("i.sw.hold"), t("tl.hold")),
    role === "officer" ? h("span", h("i.sw.req"), t("tl.request")) : null,
    h("span", h("i.sw.none"), t("tl.nodata")));

  const marks = h("div.tl-marks");
  const track = h("div.tl-track", { tabindex: 0, role: "img", "aria-label": t("tl.bar") });
  const sel = h("div.tl-sel", { hidden: true });
  const cursor = h("div.tl-cursor", { hidden: true });
  const axis = h("div.tl-axis");
  const bar = h("div.tl", marks, track, axis, sel, cursor);
  const info = h("div.tlinfo.small");
  const selPanel = h("div.selpanel", { hidden: true });
  const playArea = h("div.playarea");
  const msg = h("div");
  const help = h("p.small.muted.tlhelp", canPlay ? t("tl.help") : t("tl.help.view"));
  body.append(ctl, legend, bar, help, info, msg, selPanel, playArea);

  let data = null, requests = [], player = null, selection = null;
  if (role === "officer") {
    try { requests = (await get("/requests")).requests || []; } catch { requests = []; }
  }

  // a request covers this camera: named, or among the cameras the server matched to its place
  const reqCovers = (rq) => rq.camera === id || (Array.isArray(rq.cameras) && rq.cameras.includes(id));
  const span = () => to - from;
  const xOf = (us) => ((us - from) / span()) * 100;
  const usAt = (clientX) => {
    const rc = track.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - rc.left) / rc.width));
    return Math.round(from + f * span());
  };

  function setView(a, b, replace = true) {
    if (clips) {
      const c = clipOf(a, b) || clips.find((cl) => a < cl.to_us && b > cl.from_us);
      if (c) { a = Math.max(a, c.from_us); b = Math.min(b, c.to_us); }
    }
    if (b - a < 10e6) b = a + 10e6;
    const url = link("camera", [id], { from: Math.round(a), to: Math.round(b) });
    if (replace) history.replaceState(null, "", url);
    from = a; to = b;
    return load();
  }
  function pan(dir) { const s = span(); setView(from + dir * s, to + dir * s); }
  function zoom(dir, centre) {
    const s = span();
    let ns;
    if (dir > 0) ns = ZOOMS.find((z) => z < s * 0.999) || ZOOMS[ZOOMS.length - 1];
    else ns = [...ZOOMS].reverse().find((z) => z > s * 1.001) || Math.min(s * 2, 7 * 86400e6);
    const c = centre !== undefined ? centre : selection ? (selection[0] + selection[1]) / 2 : (from + to) / 2;
    const f = centre !== undefined ? (c - from) / s : 0.5;
    setView(c - f * ns, c - f * ns + ns);
  }
  track.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY < 0 ? 1 : -1, usAt(ev.clientX)); }, { passive: false });
  track.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowLeft") pan(-0.25); else if (ev.key === "ArrowRight") pan(0.25);
    else if (ev.key === "+" || ev.key === "=") zoom(1); else if (ev.key === "-") zoom(-1);
    else if (ev.key === "Enter" && canPlay) playFrom(Math.round((from + to) / 2));
  });

  async function load() {
    dayIn.value = fmtDate(from);
    clear(zoomLbl).append(t("tl.showing"), " ", raw(fmtRange(from, to)), " (", fmtDuration(span(), t), ")");
    clear(msg);
    try {
      data = await get(`/cameras/${enc(id)}/timeline` + qs({ from: at(from), to: at(to) }));
    } catch (e) {
      data = null;
      drawBar();
      if (e.status === 403) { denied(msg, e); return; }
      msg.append(errorBox(e));
      return;
    }
    drawBar();
  }

  function piece(cls, a, b, attrs = {}) {
    const l = Math.max(0, xOf(a)), rgt = Math.min(100, xOf(b));
    if (rgt <= 0 || l >= 100) return null;
    return h("div", { class: cls, style: { left: l + "%", width: Math.max(0, rgt - l) + "%" }, ...attrs });
  }

  function drawBar() {
    clear(track); clear(marks); clear(axis);
    if (data) {
      // merge back-to-back segments so a day is a few spans, not 1,440
      let cur = null;
      const spans = [];
      for (const s of data.segments) {
        if (cur && s.start_us - cur[1] < 1.5e6) cur[1] = Math.max(cur[1], s.end_us);
        else { cur = [s.start_us, s.end_us]; spans.push(cur); }
      }
      for (const [a, b] of spans) { const p = piece("rec", a, b); if (p) track.append(p); }
      // the segment being written, up to its newest complete fragment: "recording now"
      const op = data.open;
      if (op) {
        const p = piece("rec live", op.start_us, op.end_us, { title: t("tl.live"), dataset: { open: "1" } });
        if (p) { p.append(h("span.livemark", t("tl.live"))); track.append(p); }
      }
      for (const g of data.gaps) {
        const cls = ["camera-offline", "retention", "recorder-stopped"].includes(g.reason) ? g.reason : "other";
        const p = piece(`gap gap-${cls}`, g.start_us, g.end_us, { dataset: { reason: g.reason }, "aria-label": gapLabel(g.reason) });
        if (p) track.append(p);
      }
      for (const hd of data.holds || []) {
        const p = piece("mark hold" + (hd.active ? "" : " released"), hd.from_us, hd.to_us, { dataset: { hold: hd.id } });
        if (p) marks.append(p);
      }
      for (const rq of requests) {
        if (!reqCovers(rq)) continue;
        const p = piece("mark req " + rq.status, rq.from_us, rq.to_us, { dataset: { request: rq.id } });
        if (p) marks.append(p);
      }
    }
    // axis
    const width = track.getBoundingClientRect().width || 320;
    const step = TICKS.find((s) => (span() / s) * 64 <= width) || TICKS[TICKS.length - 1];
    const off = dayStart(from);
    for (let tk = off + Math.ceil((from - off) / step) * step; tk <= to; tk += step) {
      const x = xOf(tk);
      // labels too near an end would stick out of the bar or run into their neighbour
      const label = x > 4 && x < 96 ? fmtClock(tk, { sec: step < 60e6 }) : "";
      axis.append(h("span.tick", { style: { left: x + "%" }, translate: "no" }, label));
    }
    drawSel();
  }

  // What is at an instant (for the hover tip)
  function at_(us) {
    if (!data) return null;
    const seg = [...data.segments, ...(data.open ? [data.open] : [])].find((s) => us >= s.start_us && us < s.end_us);
    const gap = data.gaps.find((g) => us >= g.start_us && us < g.end_us);
    const hs = (data.holds || []).filter((x) => us >= x.from_us && us < x.to_us);
    const rs = requests.filter((x) => reqCovers(x) && us >= x.from_us && us < x.to_us);
    return { seg, gap, hs, rs };
  }

  let thumbTimer = null, thumbImg = null;
  function tip(ev) {
    const us = usAt(ev.clientX);
    const w = at_(us) || {};
    cursor.hidden = false;
    cursor.style.left = xOf(us) + "%";
    const lines = [h("div.tiptime", raw(fmtTime(us)), h("div.muted", raw(fmtUTC(us))))];
    if (w.gap) lines.push(h("div.tipgap", h("b", gapLabel(w.gap.reason)), w.gap.detail ? [" — ", raw(w.gap.detail)] : null,
      h("div.muted", raw(fmtRange(w.gap.start_us, w.gap.end_us)), " (", fmtDuration(w.gap.end_us - w.gap.start_us, t), ")")));
    else if (w.seg) lines.push(h("div", t(w.seg === data.open ? "tl.live" : "tl.recorded"), " ", raw(w.seg.video || "")));
    else lines.push(h("div.muted", t("tl.nodata")));
    for (const x of w.hs || []) lines.push(h("div", t("tl.hold"), " #", raw(x.id), " ", raw(x.case), x.reason ? [" — ", raw(x.reason)] : null));
    for (const x of w.rs || []) lines.push(h("div", t("tl.request"), " · ", t("req.status." + x.status)));
    if (canPlay && w.seg) {
      if (!thumbImg) thumbImg = h("img.thumb", { alt: t("tl.thumb"), width: 160, height: 90 });
      lines.push(thumbImg);
      clearTimeout(thumbTimer);
      const sec = Math.floor(us / 1e6) * 1e6;
      thumbTimer = setTimeout(() => {
        const src = `/api/v1/cameras/${enc(id)}/snapshot.jpg` + qs({ at: at(sec) });
        if (thumbImg.getAttribute("src") !== src) thumbImg.src = src;
      }, 250);
    }
    showTip(ev.clientX, bar.getBoundingClientRect().top, ...lines);
  }
  track.addEventListener("pointerleave", () => { hideTip(); cursor.hidden = true; clearTimeout(thumbTimer); });

  // Drag to select, click to play
  let down = null;
  track.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    down = { x: ev.clientX, us: usAt(ev.clientX) };
    track.setPointerCapture(ev.pointerId);
  });
  track.addEventListener("pointermove", (ev) => {
    tip(ev);
    if (!down || !canSelect) return;
    if (Math.abs(ev.clientX - down.x) > 6) {
      const us = usAt(ev.clientX);
      selection = [Math.min(down.us, us), Math.max(down.us, us)];
      drawSel();
    }
  });
  track.addEventListener("pointerup", (ev) => {
    if (!down) return;
    const moved = Math.abs(ev.clientX - down.x) > 6;
    const us = down.us;
    down = null;
    if (moved && canSelect) { showSelPanel(); return; }
    if (ev.pointerType === "touch") {
      // no hover on a phone: a tap shows what is there, and playing is one more tap
      tip(ev);
      const w = at_(us) || {};
      clear(info).append(raw(fmtTime(us)), " ",
        canPlay && w.seg ? h("button.primary", { type: "button", onclick: () => { hideTip(); playFrom(us); } }, t("tl.playhere")) : null);
      return;
    }
    if (canPlay) playFrom(us);
    else clear(info).append(raw(fmtTime(us)));
  });

  function drawSel() {
    if (!selection) { sel.hidden = true; return; }
    const l = Math.max(0, xOf(selection[0])), rr = Math.min(100, xOf(selection[1]));
    sel.hidden = rr <= l;
    sel.style.left = l + "%";
    sel.style.width = rr - l + "%";
  }

  function playFrom(us, end) {
    let b = end || Math.min(us + 30 * 60e6, us + MAX_PLAY);
    const c = clipOf(us, us + 1);
    if (clips) b = Math.min(b, c ? c.to_us : to);
    if (player) player.destroy();
    clear(playArea);
    player = makePlayer({ camera: id, from: us, to: b, startAt: us, autoplay: true, fps: fpsGuess() });
    playArea.append(player.el);
    player.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
  function fpsGuess() {
    const s = data && data.segments.find((x) => x.frames && x.end_us > x.start_us);
    return s ? Math.round(s.frames / ((s.end_us - s.start_us) / 1e6)) || 25 : 25;
  }

  function showSelPanel() {
    const [a, b] = selection;
    clear(selPanel).append(
      h("div", h("b", t("tl.selection")), " ", raw(fmtRange(a, b)), " (", fmtDuration(b - a, t), ")"),
      h("div.actions",
        h("button", { type: "button", onclick: () => playFrom(a, Math.min(b, a + MAX_PLAY)) }, t("tl.playsel")),
        h("button", { type: "button", onclick: () => zoomTo(a, b) }, t("tl.zoomsel")),
        role === "officer" ? h("button.hold-btn", { type: "button", onclick: () => holdDialog(a, b) }, t("tl.placehold")) : null,
        role === "officer" ? h("button.clip-btn", { type: "button", onclick: () => clipDialog(a, b) }, t("tl.addclip")) : null,
        h("button.primary.export-btn", { type: "button", onclick: () => exportDialog(a, b) }, t("tl.export")),
        h("button.link", { type: "button", onclick: () => { selection = null; drawSel(); selPanel.hidden = true; } }, t("common.clear"))));
    selPanel.hidden = false;
  }
  function zoomTo(a, b) { const pad = (b - a) * 0.1; setView(a - pad, b + pad); }

  async function holdDialog(a, b) {
    const caseIn = h("input", { required: true, list: "dl-cases", autocomplete: "off" });
    const reason = h("input", { maxlength: 255 });
    const until = dateTime("until", null, { label: t("f.until") });
    const err = h("div");
    const dl = await caseChoices("dl-cases");
    const dlg = modal(t("tl.placehold"), h("form", { id: "f-hold", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const body = { case: caseIn.value.trim(), cameras: [id], from: rfc(a), to: rfc(b) };
        if (reason.value.trim()) body.reason = reason.value.trim();
        if (until.value) body.until = rfc(fromInput(until.value));
        const res = await post("/holds", body);
        toast(t("tl.holdplaced", { id: res.hold.id }));
        dlg.close();
        load();
      } catch (e) { err.replaceChildren(errorBox(e)); }
    } },
    h("p", raw(fmtRange(a, b))),
    field(t("f.case"), caseIn), dl, field(t("f.reason"), reason), field(t("f.until"), until, t("f.until.help")), err),
    [h("button", { type: "button", onclick: () => dlg.close() }, t("common.cancel")), h("button.primary", { type: "submit", form: "f-hold" }, t("tl.placehold"))]);
  }

  async function clipDialog(a, b) {
    const caseIn = h("input", { required: true, list: "dl-cases2", autocomplete: "off" });
    const note = h("input", { maxlength: 255 });
    const err = h("div");
    const dl = await caseChoices("dl-cases2");
    const dlg = modal(t("tl.addclip"), h("form", { id: "f-clip", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await post(`/cases/${enc(caseIn.value.trim())}/clips`, { camera: id, from: rfc(a), to: rfc(b), note: note.value.trim() });
        toast(t("tl.clipadded"));
        dlg.close();
      } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h("p", raw(fmtRange(a, b))), field(t("f.case"), caseIn), dl, field(t("f.note"), note), err),
    [h("button", { type: "button", onclick: () => dlg.close() }, t("common.cancel")), h("button.primary", { type: "submit", form: "f-clip" }, t("tl.addclip"))]);
  }

  async function exportDialog(a, b) {
    const c = clipOf(a, b);
    const caseIn = h("input", { required: true, list: "dl-cases3", autocomplete: "off", value: c ? c.case : "" });
    const reason = h("input", { maxlength: 255 });
    const err = h("div");
    const prog = h("div");
    const dl = await caseChoices("dl-cases3");
    const go_ = h("button.primary", { type: "submit", form: "f-exp" }, t("tl.export"));
    const dlg = modal(t("tl.export"), h("form", { id: "f-exp", onsubmit: async (ev) => {
      ev.preventDefault();
      go_.disabled = true;
      try {
        const body = { case: caseIn.value.trim(), cameras: [id], from: rfc(a), to: rfc(b) };
        if (reason.value.trim()) body.reason = reason.value.trim();
        const res = await post("/exports", body);
        prog.replaceChildren(exportProgress(res.export));
      } catch (e) { err.replaceChildren(errorBox(e)); go_.disabled = false; }
    } }, h("p", raw(fmtRange(a, b))), field(t("f.case"), caseIn), dl, field(t("f.reason"), reason), err, prog),
    [h("button", { type: "button", onclick: () => dlg.close() }, t("common.close")), go_]);
  }

  window.addEventListener("resize", drawBar);
  await setView(from, to);
  const atUs = Number(r.q.get("at"));
  if (atUs && canPlay) playFrom(atUs);
  return () => { window.removeEventListener("resize", drawBar); if (player) player.destroy(); hideTip(); };
}

export function denied(el, e) {
  clear(el).append(h("div.denied", { role: "alert" }, h("h2", t("denied.title")),
    h("p", e && e.status === 404 ? t("denied.nocamera") : t("denied.outside")),
    h("p", h("a", { href: "#/" }, t("nav.home")))));
}
