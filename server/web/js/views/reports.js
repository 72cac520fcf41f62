// Residents' reports (issue 13): the big "help" button (one-key help call, optionally on a
// camera), the report form (a clue or a hazard, with a photo shrunk to fit the server's limit),
// the resident's own reports with their state and the officer's answer, and the officers' queue
// where reports are acknowledged, answered and closed.
import { get, post, patch, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, errorBox, field, toast, modal, table, dateTime, busy } from "../ui.js";
import { fmtTime, fromInput, nowUs, rfc } from "../time.js";
import { go, link } from "../app.js";

const PHOTO_MAX = 40 * 1024; // the server's limit (docs/api.md, POST /api/v1/reports)
const enc8 = new TextEncoder();

function camOptions(cams, selected) {
  return [h("option", { value: "" }, t("rep.nocamera")),
    cams.map((c) => h("option", { value: c.id, translate: "no", selected: c.id === selected }, `${c.name || c.id}${c.location ? " — " + c.location : ""}`))];
}

// The big help button; `camera` preselects the camera the resident is looking at.
export function helpButton(camera = "") {
  return h("button.help", { type: "button", dataset: { camera }, onclick: () => helpDialog(camera) }, t("rep.help.button"));
}

async function helpDialog(camera) {
  let cams = [];
  try { cams = (await get("/cameras")).cameras || []; } catch { /* the call works without */ }
  const sel = h("select", { name: "camera" }, camOptions(cams, camera));
  const text = h("textarea", { name: "text", rows: 2, maxlength: 500, placeholder: t("rep.help.ph") });
  const err = h("div");
  const call = h("button.danger", { type: "button" }, t("rep.help.call"));
  const dlg = modal(t("rep.help.title"), [h("p", t("rep.help.intro")), field(t("rep.camera"), sel), field(t("rep.help.what"), text), err],
    [h("button", { type: "button", onclick: () => dlg.close() }, t("common.cancel")), call]);
  dlg.classList.add("helpcall");
  call.addEventListener("click", async () => {
    call.disabled = true;
    clear(err);
    try {
      const body = { kind: "help", text: text.value.trim() };
      if (sel.value) body.camera = sel.value;
      await post("/reports", body);
      dlg.close();
      toast(t("rep.help.sent"));
      go("myreports");
    } catch (e) { err.append(errorBox(e)); call.disabled = false; }
  });
}

// A photo the resident picked, as a JPEG data: URL small enough for the server (shrunk and
// recompressed in a canvas), or null when it cannot be made small enough.
async function shrink(file) {
  const img = await createImageBitmap(file);
  for (const [side, q] of [[1280, 0.7], [960, 0.6], [640, 0.55], [480, 0.5], [320, 0.45]]) {
    const k = Math.min(1, side / Math.max(img.width, img.height));
    const c = document.createElement("canvas");
    c.width = Math.round(img.width * k);
    c.height = Math.round(img.height * k);
    c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
    const url = c.toDataURL("image/jpeg", q);
    if ((url.length - url.indexOf(",") - 1) * 3 / 4 <= PHOTO_MAX) return url;
  }
  return null;
}

export const newReport = {
  async render(main, r) {
    const cams = (await get("/cameras")).cameras || [];
    const kind = h("select", { name: "kind" }, h("option", { value: "clue" }, t("rep.kind.clue")), h("option", { value: "hazard" }, t("rep.kind.hazard")));
    const sel = h("select", { name: "camera" }, camOptions(cams, r.q.get("camera") || ""));
    const at = dateTime("at", nowUs(), { label: t("rep.at") });
    const text = h("textarea", { name: "text", required: true, rows: 4, placeholder: t("rep.text.ph") });
    const photo = h("input", { type: "file", name: "photo", accept: "image/*" });
    const err = h("div");
    const btn = h("button.primary", { type: "submit" }, t("rep.submit"));
    const form = h("form.card", { onsubmit: async (ev) => {
      ev.preventDefault();
      clear(err);
      const problems = [];
      const when = at.value ? fromInput(at.value) : nowUs();
      if (when === null) problems.push(t("rep.err.at"));
      if (!text.value.trim()) problems.push(t("rep.err.text"));
      if (enc8.encode(text.value).length > 2047) problems.push(t("rep.err.long"));
      const body = { kind: kind.value, text: text.value.trim(), at: rfc(Math.min(when || nowUs(), nowUs())) };
      if (sel.value) body.camera = sel.value;
      if (photo.files[0]) {
        try { body.photo = await shrink(photo.files[0]); } catch { body.photo = null; }
        if (!body.photo) problems.push(t("rep.err.photo"));
      }
      if (problems.length) { err.append(h("ul.error", problems.map((p) => h("li", p)))); return; }
      try {
        await busy(btn, post("/reports", body));
        toast(t("rep.filed"));
        go("myreports");
      } catch (e) { err.append(errorBox(e)); }
    } },
    field(t("rep.kind"), kind), field(t("rep.camera"), sel), field(t("rep.at"), at),
    field(t("rep.text"), text), field(t("rep.photo"), photo, t("rep.photo.hint")), err, btn);
    main.append(h("section.narrow", h("div.head", h("h1", t("rep.new.title")), helpButton(r.q.get("camera") || "")),
      h("p.muted", t("rep.new.help")), form));
  },
};

function statusBadge(rp) {
  return h("span.badge", { class: "st-rep-" + rp.status }, t("rep.status." + rp.status));
}

// The resident's reports, newest first; looked at again every 10 s, so an officer's
// acknowledgement or answer shows without a reload.
export const mine = {
  async render(main) {
    const list = h("div");
    main.append(h("section", h("div.head", h("h1", t("rep.mine.title")), helpButton(), h("a.btn", { href: "#/report" }, t("nav.report"))), list));
    async function draw() {
      const reps = (await get("/reports")).reports || [];
      clear(list);
      if (!reps.length) list.append(h("p.muted.empty", t("rep.none")));
      for (const rp of reps) {
        list.append(h("article.card.report", { dataset: { report: rp.id, status: rp.status } },
          h("div.head", h("h3", t("rep.kind." + rp.kind), rp.camera ? [" · ", raw(rp.camera)] : null), statusBadge(rp)),
          rp.text ? h("p", raw(rp.text)) : null,
          h("div.small.muted", t("rep.filedat"), " ", raw(fmtTime(rp.created_us))),
          rp.answer ? h("p.notice.answer", h("b", t("rep.answer")), " ", raw(rp.answer)) : null));
      }
    }
    await draw();
    const timer = setInterval(() => draw().catch(() => clearInterval(timer)), 10000);
    return () => clearInterval(timer);
  },
};

// Officers and admins: the queue of reports, with acknowledge, answer and close.
export const queue = {
  async render(main, r) {
    const status = r.q.get("status") || "";
    const pick = h("select", { "aria-label": t("rep.status") }, h("option", { value: "" }, t("common.all")),
      ["open", "acknowledged", "answered", "closed"].map((s) => h("option", { value: s, selected: s === status }, t("rep.status." + s))));
    pick.addEventListener("change", () => go("reports", [], { status: pick.value }));
    const sec = h("section", h("div.head", h("h1", t("rep.queue.title")), pick));
    main.append(sec);
    const reps = (await get("/reports" + (status ? "?status=" + enc(status) : ""))).reports || [];
    const act = (rp, body) => patch(`/reports/${enc(rp.id)}`, body).then(() => go("reports", [], { status, n: Date.now() })).catch((e) => toast(errorBox(e), "error"));
    const answer = (rp) => {
      const txt = h("textarea", { rows: 3, maxlength: 2000 }, rp.answer || "");
      const dlg = modal(t("rep.answer.title"), field(t("rep.answer"), txt),
        [h("button", { type: "button", onclick: () => dlg.close() }, t("common.cancel")),
          h("button.primary", { type: "button", onclick: () => { dlg.close(); act(rp, { status: "answered", answer: txt.value.trim() }); } }, t("rep.answer.send"))]);
    };
    sec.append(table([
      { label: t("rep.at"), cell: (rp) => raw(fmtTime(rp.at_us)) },
      { label: t("rep.kind"), cell: (rp) => h("span", { class: rp.kind === "help" ? "error" : null }, t("rep.kind." + rp.kind)) },
      { label: t("rep.by"), cell: (rp) => [raw(rp.by), rp.household ? [h("br"), raw(rp.household, "small")] : null] },
      { label: t("rep.camera"), cell: (rp) => (rp.camera ? h("a", { href: link("camera", [rp.camera]) }, raw(rp.camera)) : "—") },
      { label: t("rep.text"), cell: (rp) => [raw(rp.text), rp.photo ? [h("br"), h("a", { href: `/api/v1/reports/${enc(rp.id)}/photo`, target: "_blank" }, t("rep.photo"))] : null] },
      { label: t("rep.status"), cell: (rp) => [statusBadge(rp), rp.answer ? [h("br"), raw(rp.answer, "small")] : null] },
      { label: t("common.actions"), cell: (rp) => (rp.status === "closed" ? "" : h("div.actions",
        rp.status === "open" ? h("button", { type: "button", onclick: () => act(rp, { status: "acknowledged" }) }, t("rep.ack")) : null,
        h("button", { type: "button", onclick: () => answer(rp) }, t("rep.answer.do")),
        h("button", { type: "button", onclick: () => act(rp, { status: "closed" }) }, t("rep.close")))) },
    ], reps.map((rp) => ({ data: rp, attrs: { dataset: { report: rp.id } } })), { empty: t("rep.none") }));
  },
};
