// Residents: file a footage request (a camera from the list, or a place), see their requests,
// the reason when one is rejected, and download the package once approved.
import { get, post, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, errorBox, field, toast, dateTime, busy } from "../ui.js";
import { fmtTime, fmtRange, toInput, fromInput, nowUs, rfc, offStr, siteOffset } from "../time.js";
import { go } from "../app.js";
import { exportProgress } from "./exports.js";

const MAX_RANGE = 7 * 86400e6;
const enc8 = new TextEncoder();

export const newRequest = {
  async render(main) {
    const cams = (await get("/cameras")).cameras || [];
    const byCam = h("input", { type: "radio", name: "how", value: "camera", checked: true });
    const byPlace = h("input", { type: "radio", name: "how", value: "place" });
    const camSel = h("select", { name: "camera" }, h("option", { value: "" }, t("req.pickcamera")),
      cams.map((c) => h("option", { value: c.id, translate: "no" }, `${c.name || c.id}${c.location ? " — " + c.location : ""}`)));
    const place = h("input", { name: "place", list: "dl-places", maxlength: 255, placeholder: t("req.place.ph"), disabled: true });
    const places = h("datalist", { id: "dl-places" }, [...new Set(cams.map((c) => c.location).filter(Boolean))].map((p) => h("option", { value: p })));
    const now = nowUs();
    const fromIn = dateTime("from", now - 2 * 3600e6, { required: true, label: t("f.from") });
    const toIn = dateTime("to", now, { required: true, label: t("f.to") });
    const desc = h("textarea", { name: "description", required: true, rows: 4, placeholder: t("req.desc.ph") });
    const counter = h("small.muted");
    const err = h("div");
    const btn = h("button.primary", { type: "submit" }, t("req.submit"));
    const how = () => (byPlace.checked ? "place" : "camera");
    const sync = () => { camSel.disabled = how() !== "camera"; place.disabled = how() !== "place"; };
    byCam.addEventListener("change", sync); byPlace.addEventListener("change", sync);
    const count = () => { counter.textContent = t("req.bytes", { n: enc8.encode(desc.value).length, max: 2047 }); };
    desc.addEventListener("input", count); count();

    const form = h("form.card", { onsubmit: async (ev) => {
      ev.preventDefault();
      clear(err);
      const a = fromInput(fromIn.value), b = fromInput(toIn.value);
      const problems = [];
      if (how() === "camera" && !camSel.value) problems.push(t("req.err.camera"));
      if (how() === "place" && !place.value.trim()) problems.push(t("req.err.place"));
      if (a === null || b === null || b <= a) problems.push(t("req.err.order"));
      else if (b - a > MAX_RANGE) problems.push(t("req.err.long"));
      if (!desc.value.trim()) problems.push(t("req.err.desc"));
      if (enc8.encode(desc.value).length > 2047) problems.push(t("req.err.desclong"));
      if (problems.length) { err.append(h("ul.error", problems.map((p) => h("li", p)))); return; }
      const body = { from: rfc(a), to: rfc(b), description: desc.value.trim() };
      if (how() === "camera") body.camera = camSel.value; else body.place = place.value.trim();
      try {
        await busy(btn, post("/requests", body));
        toast(t("req.filed"));
        go("myrequests");
      } catch (e) { err.append(errorBox(e)); }
    } },
    h("fieldset", h("legend", t("req.where")),
      h("label.check", byCam, t("req.bycamera")), camSel,
      h("label.check", byPlace, t("req.byplace")), place, places),
    h("fieldset", h("legend", t("req.when")),
      h("p.small.muted", t("req.zone", { zone: offStr(siteOffset(now)) })),
      h("div.row2", field(t("f.from"), fromIn), field(t("f.to"), toIn))),
    field(t("req.desc"), desc, counter),
    err, btn);
    main.append(h("section.narrow", h("h1", t("req.new.title")), h("p.muted", t("req.new.help")), form));
  },
};

export const mine = {
  async render(main) {
    const sec = h("section", h("div.head", h("h1", t("req.mine.title")), h("a.btn.primary", { href: "#/request" }, t("nav.request"))));
    main.append(sec);
    const [reqs, cams] = await Promise.all([get("/requests"), get("/cameras").catch(() => ({ cameras: [] }))]);
    const names = Object.fromEntries((cams.cameras || []).map((c) => [c.id, c.name || c.id]));
    const list = reqs.requests || [];
    list.sort((a, b) => (b.created_us || 0) - (a.created_us || 0));
    if (!list.length) sec.append(h("p.muted.empty", t("req.none")));
    for (const rq of list) sec.append(await card(rq, names));
  },
};

async function card(rq, names) {
  const el = h("article.card.request", { dataset: { request: rq.id, status: rq.status } },
    h("div.head", h("h3", rq.camera ? raw(names[rq.camera] || rq.camera) : [t("req.place"), " ", raw(rq.place)]), h("span.badge", { class: "st-" + rq.status }, t("req.status." + rq.status))),
    h("div.small", t("f.range"), " ", raw(fmtRange(rq.from_us, rq.to_us))),
    h("p", raw(rq.description)),
    h("div.small.muted", t("req.filedat"), " ", raw(fmtTime(rq.created_us))));
  if (rq.status === "pending") el.append(h("p.notice", t("req.pending.help")));
  if (rq.status === "rejected") el.append(h("p.rejected", h("b", t("req.reason")), " ", raw(rq.reason || "")));
  if (rq.status === "approved") {
    if (rq.export) {
      try {
        const exp = (await get(`/exports/${enc(rq.export)}`)).export;
        el.append(exportProgress(exp, { cancel: false }));
      } catch (e) { el.append(errorBox(e)); }
      el.append(howToCheck());
    } else el.append(h("p.notice", t("req.approved.noexport")));
  }
  return el;
}

export function howToCheck() {
  const code = (s) => h("code", { translate: "no" }, s);
  return h("details.howto",
    h("summary", t("check.title")),
    h("p", t("check.intro")),
    h("ol",
      h("li", t("check.open")),
      h("li", t("check.sums"), h("pre", code("sha256sum -c SHA256SUMS"))),
      h("li", t("check.sig"), h("pre", code("openssl cms -verify -binary -inform DER -in SHA256SUMS.p7s \\\n  -content SHA256SUMS -CAfile certs/<root>.pem -purpose any"))),
      h("li", t("check.tool"), h("pre", code("camvault verify FILE.zip")))),
    h("p", t("check.bad")));
}
