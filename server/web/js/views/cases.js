// Cases: officers open them and put clips (camera + range) in them; mediators see only their
// own cases, the clips of each, and replay them (several cameras in step).
import { get, post, patch, del, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, errorBox, field, toast, table, modal } from "../ui.js";
import { fmtTime, fmtRange } from "../time.js";
import { link, go } from "../app.js";
import { makePlayer, syncPlayers } from "./player.js";
import { exportProgress } from "./exports.js";

const MAX_PLAY = 6 * 3600e6;

export const list = {
  async render(main, r, session) {
    const role = session.user.role;
    const sec = h("section", h("div.head", h("h1", role === "mediator" ? t("cases.mine") : t("cases.title"))));
    main.append(sec);
    if (role === "officer") {
      const title = h("input", { required: true, maxlength: 255, placeholder: t("cases.title.ph") });
      const desc = h("input", { maxlength: 255, placeholder: t("cases.desc.ph") });
      const err = h("div");
      sec.append(h("details.card", h("summary", t("cases.new")), h("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const res = await post("/cases", { title: title.value.trim(), description: desc.value.trim() });
          toast(t("cases.created"));
          go("case", [res.case.id]);
        } catch (e) { err.replaceChildren(errorBox(e)); }
      } }, field(t("f.title"), title), field(t("f.description"), desc), err, h("button.primary", { type: "submit" }, t("cases.create")))));
    }
    const cases = (await get("/cases")).cases || [];
    cases.sort((a, b) => (b.created_us || 0) - (a.created_us || 0));
    sec.append(table([
      { label: t("f.case"), cell: (c) => h("a", { href: link("case", [c.id]) }, raw(c.id)) },
      { label: t("f.title"), cell: (c) => raw(c.title) },
      { label: t("f.status"), cell: (c) => h("span.badge", { class: "st-" + c.status }, t("case.status." + c.status)) },
      { label: t("cases.clips"), cell: (c) => raw((c.clips || []).length) },
      { label: t("f.created"), cell: (c) => raw(fmtTime(c.created_us)) },
    ], cases, { empty: role === "mediator" ? t("cases.none.mediator") : t("cases.none") }));
  },
};

export const detail = {
  async render(main, r, session) {
    const role = session.user.role;
    const id = r.args[0];
    let c;
    try { c = (await get(`/cases/${enc(id)}`)).case; } catch (e) {
      if (e.status === 404 || e.status === 403) {
        main.append(h("div.denied", { role: "alert" }, h("h2", t("denied.title")), h("p", t("denied.case")), h("p", h("a", { href: "#/cases" }, t("nav.cases")))));
        return;
      }
      throw e;
    }
    const sec = h("section.case");
    main.append(sec);
    const players = [];
    let stopSync = () => {};
    const playArea = h("div.players.multi");

    sec.append(h("div.head", h("h1", raw(c.title || c.id)), h("span.badge", { class: "st-" + c.status }, t("case.status." + c.status))),
      h("div.small.muted", t("f.case"), " ", raw(c.id), " · ", t("f.created"), " ", raw(fmtTime(c.created_us)), " ", raw(c.created_by || "")),
      c.description ? h("p", raw(c.description)) : null);
    if (role === "officer") {
      sec.append(h("div.actions", h("button", { type: "button", onclick: async () => {
        try { await patch(`/cases/${enc(id)}`, { status: c.status === "open" ? "closed" : "open" }); detail.render(clear(main), r, session); } catch (e) { sec.append(errorBox(e)); }
      } }, c.status === "open" ? t("case.close") : t("case.reopen"))));
    }

    // Clips
    sec.append(h("h2", t("cases.clips")));
    const clips = c.clips || [];
    sec.append(table([
      { label: t("f.camera"), cell: (x) => raw(x.camera) },
      { label: t("f.range"), cell: (x) => raw(fmtRange(x.from_us, x.to_us)) },
      { label: t("f.note"), cell: (x) => raw(x.note || "") },
      { label: t("common.actions"), cell: (x) => h("div.actions",
        h("a.btn", { href: link("camera", [x.camera], { from: x.from_us, to: x.to_us }) }, t("cams.timeline")),
        h("button", { type: "button", onclick: () => replay([x]) }, t("case.play")),
        h("button", { type: "button", onclick: () => exportClips([x]) }, t("tl.export")),
        role === "officer" ? h("button.link", { type: "button", onclick: async () => {
          try { await del(`/cases/${enc(id)}/clips/${enc(x.id)}`); detail.render(clear(main), r, session); } catch (e) { sec.append(errorBox(e)); }
        } }, t("common.remove")) : null) },
    ], clips, { empty: role === "officer" ? t("cases.noclips.officer") : t("cases.noclips") }));
    if (clips.length) sec.append(h("div.actions", h("button.primary", { type: "button", onclick: () => replay(clips) }, t("case.playall")),
      h("button", { type: "button", onclick: () => exportClips(clips) }, t("case.exportall"))));
    sec.append(playArea);

    function replay(cl) {
      stopSync();
      for (const p of players.splice(0)) p.destroy();
      clear(playArea);
      const start = Math.min(...cl.map((x) => x.from_us));
      for (const x of cl) {
        const p = makePlayer({ camera: x.camera, from: x.from_us, to: Math.min(x.to_us, x.from_us + MAX_PLAY), startAt: start, title: raw(x.camera) });
        players.push(p);
        playArea.append(p.el);
      }
      Promise.allSettled(players.map((p) => p.ready)).then(() => { stopSync = syncPlayers(players); });
      playArea.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }

    const expArea = h("div");
    async function exportClips(cl) {
      // one export per camera range: a mediator may export only what lies within the clips
      clear(expArea);
      for (const x of cl) {
        try {
          const res = await post("/exports", { case: id, cameras: [x.camera], from: new Date(x.from_us / 1000).toISOString(), to: new Date(x.to_us / 1000).toISOString() });
          expArea.append(exportProgress(res.export));
        } catch (e) { expArea.append(errorBox(e)); }
      }
    }

    // Exports
    sec.append(h("h2", t("exp.title")), expArea);
    for (const eid of c.exports || []) {
      try { sec.append(exportProgress((await get(`/exports/${enc(eid)}`)).export)); } catch { /* gone */ }
    }
    if (!(c.exports || []).length) expArea.append(h("p.muted.small", t("exp.none")));

    // Members (officers manage them)
    sec.append(h("h2", t("case.members")));
    const members = h("ul.members", (c.members || []).map((m) => h("li", raw(m),
      role === "officer" ? [" ", h("button.link", { type: "button", onclick: async () => {
        try { await del(`/cases/${enc(id)}/members/${enc(m)}`); detail.render(clear(main), r, session); } catch (e) { sec.append(errorBox(e)); }
      } }, t("common.remove"))] : null)));
    sec.append((c.members || []).length ? members : h("p.muted.small", t("common.none")));
    if (role === "officer") {
      const name = h("input", { required: true, autocapitalize: "none", placeholder: t("case.member.ph") });
      sec.append(h("form.inline", { onsubmit: async (ev) => {
        ev.preventDefault();
        try { await post(`/cases/${enc(id)}/members`, { name: name.value.trim() }); detail.render(clear(main), r, session); } catch (e) { sec.append(errorBox(e)); }
      } }, name, h("button", { type: "submit" }, t("case.member.add"))));
    }

    // Chain of custody
    const cust = h("div");
    sec.append(h("details", h("summary", t("case.custody")), cust));
    get(`/cases/${enc(id)}/custody`).then((x) => cust.append(table([
      { label: t("audit.time"), cell: (a) => raw(fmtTime(a.time_us)) },
      { label: t("audit.user"), cell: (a) => raw(a.user) },
      { label: t("audit.action"), cell: (a) => actionLabel(a.action) },
      { label: t("audit.target"), cell: (a) => raw(a.target) },
    ], x.records || []))).catch((e) => cust.append(errorBox(e)));

    return () => { stopSync(); players.forEach((p) => p.destroy()); };
  },
};

export function actionLabel(a) {
  const k = "act." + a;
  const s = t(k);
  return s.startsWith("[") ? raw(a) : h("span", { dataset: { action: a } }, s);
}
