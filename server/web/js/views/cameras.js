// Cameras: a searchable grid; each tile plays the camera live while it is on screen, at the live
// edge (live.js).
import { get, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, errorBox } from "../ui.js";
import { fmtTime, nowUs, fmtDuration } from "../time.js";
import { link } from "../app.js";
import { renditionFor, withRendition, renditionSlot } from "../rendition.js";
import { playLive } from "../live.js";
import { helpButton } from "./reports.js";

export async function render(main, r, session) {
  const role = session.user.role;
  const q = h("input.search", { type: "search", placeholder: t("cams.search"), "aria-label": t("cams.search"), value: r.q.get("q") || "" });
  const onlyOff = h("input", { type: "checkbox" });
  const grid = h("div.grid");
  const count = h("span.muted");
  main.append(h("section",
    h("div.head", h("h1", role === "resident" ? t("cams.title.public") : t("cams.title")), count),
    role === "resident" ? h("div.helpbar", helpButton(), h("a.btn", { href: "#/report" }, t("nav.report"))) : null,
    role === "resident" ? h("p.muted", t("cams.resident.help"), " ", h("a", { href: "#/request" }, t("nav.request"))) : null,
    h("div.filters", q, h("label.check", onlyOff, t("cams.onlyoffline"))),
    grid));

  let cams = (await get("/cameras")).cameras;
  const tiles = new Map();
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const v = e.target.querySelector("video");
      if (!v) continue;
      if (e.isIntersecting && !v.stopLive && v.dataset.live) v.stopLive = startLive(v);
      else if (!e.isIntersecting && v.stopLive) { v.stopLive(); v.stopLive = null; }
    }
  }, { rootMargin: "100px" });

  // The live tile: the original stream at the live edge (live.js), or, for a rendition, first a
  // free transcoding session (a HEAD probe takes none), else the reason in the tile.
  function startLive(v) {
    const url = v.dataset.live;
    if (!url.includes("rendition=")) return playLive(v, url);
    let stop = null, gone = false;
    renditionSlot(url).then((why) => {
      if (gone || v.dataset.live !== url) return;
      const shown = v.parentElement && v.parentElement.querySelector(".rendition");
      if (why) { if (shown) shown.textContent = why; return; }
      stop = playLive(v, url);
    });
    return () => { gone = true; if (stop) stop(); };
  }

  function online(c) { return role === "resident" ? !!c.online : !!(c.status && c.status.online); }

  function statusLine(c) {
    const st = c.status;
    if (role === "resident") return h("span.badge", { class: c.online ? "on" : "off" }, c.online ? t("cams.online") : t("cams.offline"));
    if (!c.enabled) return h("span.badge.off", t("cams.disabled"));
    if (!st) return h("span.badge.off", t("cams.never"));
    const parts = [h("span.badge", { class: st.online ? "on" : "off" }, st.online ? t("cams.online") : t("cams.offline"))];
    if (!st.online && st.reason) parts.push(" ", raw(st.reason, "span"));
    if (!st.online && st.since_us) parts.push(" ", h("span.muted", t("cams.since", { d: fmtDuration(nowUs() - st.since_us, t) })));
    return parts;
  }

  function tile(c) {
    const vid = h("video", { muted: true, autoplay: true, playsinline: true, preload: "none", "aria-label": t("cams.live") });
    vid.muted = true;
    const shown = h("span.rendition.small"); // which rendition plays (H.265 cameras)
    const box = h("div.live", vid, h("span.livebadge", t("cams.live")), shown);
    // A rendition refused (every session taken, or the tile's own previous stream not freed
    // yet): wait for a session and try again a few times, else say why.
    let retries = 0;
    vid.addEventListener("error", async () => {
      const url = vid.dataset.live;
      if (!url.includes("rendition=") || vid.getAttribute("src") !== url) return;
      const why = await renditionSlot(url);
      if (why) { shown.textContent = why; return; }
      if (retries++ < 3 && vid.getAttribute("src") === url) { vid.src = url; vid.play().catch(() => {}); }
    });
    const st = h("div.st");
    const last = h("div.small.muted");
    const actions = h("div.actions");
    if (role !== "resident") actions.append(h("a.btn", { href: link("camera", [c.id]) }, t("cams.timeline")));
    else actions.append(helpButton(c.id), h("a.btn", { href: link("report", [], { camera: c.id }) }, t("rep.here")));
    const el = h("article.tile", { dataset: { id: c.id } },
      box,
      h("div.info", h("h3", raw(c.name || c.id)), h("div.small", raw(c.location || "")), h("div.small.muted", raw(c.id)), st, last, actions));
    const rec = { el, vid, box, st, last, c, shown };
    update(rec, c);
    return rec;
  }

  function update(rec, c) {
    rec.c = c;
    clear(rec.st).append(...[].concat(statusLine(c)));
    clear(rec.last);
    if (c.status && c.status.last_frame_us) rec.last.append(t("cams.lastframe"), " ", raw(fmtTime(c.status.last_frame_us)));
    const on = online(c) && c.enabled !== false;
    const rd = renditionFor(c.video_codec);
    rec.shown.textContent = on ? rd.label : "";
    rec.vid.dataset.live = on ? withRendition(`/api/v1/cameras/${enc(c.id)}/live.mp4`, rd.rendition) : "";
    rec.box.classList.toggle("offline", !on);
    if (!on && rec.vid.stopLive) { rec.vid.stopLive(); rec.vid.stopLive = null; }
  }

  function filter() {
    const words = q.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let n = 0;
    for (const rec of tiles.values()) {
      const c = rec.c;
      const hay = [c.id, c.name, c.location].join(" ").toLowerCase();
      const show = words.every((w) => hay.includes(w)) && (!onlyOff.checked || !online(c));
      rec.el.hidden = !show;
      if (show) n++;
    }
    clear(count).append(t("cams.count", { n, total: tiles.size }));
  }

  for (const c of cams) {
    const rec = tile(c);
    tiles.set(c.id, rec);
    grid.append(rec.el);
    io.observe(rec.el);
  }
  if (!cams.length) grid.append(h("p.muted", t("cams.none")));
  q.addEventListener("input", filter);
  onlyOff.addEventListener("change", filter);
  filter();

  const timer = setInterval(async () => {
    try {
      cams = (await get("/cameras")).cameras;
      for (const c of cams) if (tiles.has(c.id)) update(tiles.get(c.id), c);
      filter();
    } catch (e) { if (e.status !== 401) grid.before(errorBox(e)); clearInterval(timer); }
  }, 5000);
  return () => { clearInterval(timer); io.disconnect(); for (const rec of tiles.values()) if (rec.vid.stopLive) { rec.vid.stopLive(); rec.vid.stopLive = null; } };
}
