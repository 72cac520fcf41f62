// Officers: the review queue of residents' requests, with a preview of the requested range,
// approve (opens a case, holds the footage, starts the export for the resident) or reject with
// a reason the resident will read.
import { get, post, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, errorBox, field, toast } from "../ui.js";
import { fmtTime, fmtRange } from "../time.js";
import { makePlayer } from "./player.js";
import { exportProgress, caseChoices } from "./exports.js";
import { link } from "../app.js";

const MAX_PLAY = 6 * 3600e6;

export async function render(main, r) {
  const status = r.q.get("status") || "pending";
  const sel = h("select", { "aria-label": t("f.status") }, ["pending", "approved", "rejected", "all"].map((s) =>
    h("option", { value: s, selected: s === status }, s === "all" ? t("common.all") : t("req.status." + s))));
  sel.addEventListener("change", () => { location.hash = "#/queue?status=" + sel.value; });
  const sec = h("section", h("div.head", h("h1", t("queue.title")), h("label.inline", t("f.status"), " ", sel)));
  main.append(sec);
  const [reqs, cams] = await Promise.all([get("/requests"), get("/cameras")]);
  const list = (reqs.requests || []).filter((x) => status === "all" || x.status === status);
  list.sort((a, b) => (a.created_us || 0) - (b.created_us || 0));
  if (!list.length) sec.append(h("p.muted.empty", t("queue.none")));
  const players = [];
  for (const rq of list) sec.append(card(rq, cams.cameras || [], players));
  return () => players.forEach((p) => p.destroy());
}

function camerasFor(rq, cams) {
  if (rq.camera) return [rq.camera];
  if (Array.isArray(rq.cameras) && rq.cameras.length) return rq.cameras; // the server's match of the place
  const p = (rq.place || "").toLowerCase();
  return cams.filter((c) => c.location && (c.location.toLowerCase().includes(p) || p.includes(c.location.toLowerCase()))).map((c) => c.id);
}

function card(rq, cams, players) {
  const ids = camerasFor(rq, cams);
  const preview = h("div.preview");
  const out = h("div");
  const el = h("article.card.request", { dataset: { request: rq.id, status: rq.status } },
    h("div.head", h("h3", rq.camera ? raw(rq.camera) : [t("req.place"), " ", raw(rq.place)]), h("span.badge", { class: "st-" + rq.status }, t("req.status." + rq.status))),
    h("div.small", t("queue.by"), " ", raw(rq.by), " · ", t("req.filedat"), " ", raw(fmtTime(rq.created_us))),
    h("div.small", t("f.range"), " ", raw(fmtRange(rq.from_us, rq.to_us))),
    h("p.desc", raw(rq.description)),
    rq.reason ? h("p.rejected", h("b", t("req.reason")), " ", raw(rq.reason)) : null,
    h("div.small", t("f.cameras"), " ", ids.length ? ids.map((id, i) => [i ? ", " : "", h("a", { href: link("camera", [id], { from: rq.from_us - 600e6, to: rq.to_us + 600e6 }) }, raw(id))]) : t("queue.nomatch")),
    h("div.actions",
      ids.length ? h("button", { type: "button", class: "preview-btn", onclick: () => {
        for (const p of players.splice(0)) p.destroy();
        clear(preview);
        for (const id of ids.slice(0, 4)) {
          const p = makePlayer({ camera: id, from: rq.from_us, to: Math.min(rq.to_us, rq.from_us + MAX_PLAY), title: raw(id) });
          players.push(p);
          preview.append(p.el);
        }
      } }, t("queue.preview")) : null,
      rq.status === "pending" ? h("button.primary", { type: "button", class: "approve-btn", onclick: () => approve(rq, ids, out, el) }, t("queue.approve")) : null,
      rq.status === "pending" ? h("button.danger", { type: "button", class: "reject-btn", onclick: () => reject(rq, out, el) }, t("queue.reject")) : null),
    preview, out);
  if (rq.status === "approved" && rq.export) {
    get(`/exports/${enc(rq.export)}`).then((x) => out.append(exportProgress(x.export))).catch(() => {});
  }
  return el;
}

async function approve(rq, ids, out, el) {
  const boxes = ids.map((id) => h("input", { type: "checkbox", value: id, checked: true }));
  const caseIn = h("input", { list: "dl-qcases", autocomplete: "off", placeholder: t("queue.newcase") });
  const dl = await caseChoices("dl-qcases");
  const btn = h("button.primary", { type: "submit" }, t("queue.approve.confirm"));
  clear(out).append(h("form.card.inner", { onsubmit: async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    const body = {};
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!rq.camera && chosen.length) body.cameras = chosen;
    if (caseIn.value.trim()) body.case = caseIn.value.trim();
    try {
      const res = await post(`/requests/${enc(rq.id)}/approve`, body);
      toast(t("queue.approved"));
      el.dataset.status = "approved";
      el.querySelectorAll(".approve-btn,.reject-btn").forEach((b) => b.remove());
      el.querySelector(".badge").textContent = t("req.status.approved");
      clear(out).append(h("p", t("queue.approved.case"), " ", h("a", { href: link("case", [res.case.id]) }, raw(res.case.id))), exportProgress(res.export));
    } catch (e) { out.append(errorBox(e)); btn.disabled = false; }
  } },
  !rq.camera && ids.length ? h("fieldset", h("legend", t("f.cameras")), ids.map((id, i) => h("label.check", boxes[i], raw(id)))) : null,
  field(t("queue.case"), caseIn, t("queue.case.help")), dl,
  h("div.actions", btn, h("button.link", { type: "button", onclick: () => clear(out) }, t("common.cancel")))));
}

function reject(rq, out, el) {
  const reason = h("input", { required: true, maxlength: 255, placeholder: t("queue.reason.ph") });
  const btn = h("button.danger", { type: "submit" }, t("queue.reject.confirm"));
  clear(out).append(h("form.card.inner", { onsubmit: async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    try {
      await post(`/requests/${enc(rq.id)}/reject`, { reason: reason.value.trim() });
      toast(t("queue.rejected"));
      el.dataset.status = "rejected";
      el.querySelectorAll(".approve-btn,.reject-btn").forEach((b) => b.remove());
      el.querySelector(".badge").textContent = t("req.status.rejected");
      clear(out).append(h("p.rejected", h("b", t("req.reason")), " ", raw(reason.value.trim())));
    } catch (e) { out.append(errorBox(e)); btn.disabled = false; }
  } }, field(t("queue.reason"), reason, t("queue.reason.help")),
  h("div.actions", btn, h("button.link", { type: "button", onclick: () => clear(out) }, t("common.cancel")))));
  reason.focus();
}
