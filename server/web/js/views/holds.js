// Holds: footage kept whatever retention says. Officers release them; admins read them. The
// "provisional" view lists the holds that residents' pending footage requests placed, so that an
// officer sees at once what a resident is holding and releases what asks for too much.
import { get, post, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, table, errorBox, toast } from "../ui.js";
import { fmtTime, fmtRange } from "../time.js";
import { link } from "../app.js";

const QUERY = { active: "active=true", provisional: "active=true&provisional=true", released: "active=false" };

export async function render(main, r, session) {
  let show = r.q.get("show") || (r.q.get("active") === "false" ? "released" : "active");
  if (!QUERY[show]) show = "active";
  const sel = h("select", { "aria-label": t("f.status"), name: "show" },
    ["active", "provisional", "released"].map((v) => h("option", { value: v, selected: show === v }, t("holds." + v))));
  sel.addEventListener("change", () => { location.hash = "#/holds?show=" + sel.value; });
  const sec = h("section", { "data-show": show }, h("div.head", h("h1", t("holds.title")), sel));
  if (show === "provisional") sec.append(h("p.muted", t("holds.provnote")));
  main.append(sec);
  const holds = (await get("/holds?" + QUERY[show])).holds || [];
  // a request's provisional hold names the request, not a case: link only real cases
  let cases = new Set();
  if (session.user.role === "officer") {
    try { cases = new Set(((await get("/cases")).cases || []).map((c) => c.id)); } catch { /* no link then */ }
  }
  sec.append(table([
    { label: "#", cell: (x) => raw(x.id) },
    { label: show === "provisional" ? t("holds.request") : t("f.case"), cell: (x) => (cases.has(x.case) ? h("a", { href: link("case", [x.case]) }, raw(x.case)) : raw(x.case)) },
    { label: t("f.cameras"), cell: (x) => x.cameras.map((c, i) => [i ? ", " : "", h("a", { href: link("camera", [c], { from: x.from_us, to: x.to_us }) }, raw(c))]) },
    { label: t("f.range"), cell: (x) => raw(fmtRange(x.from_us, x.to_us)) },
    { label: t("f.until"), cell: (x) => (x.until_us ? raw(fmtTime(x.until_us)) : t("holds.forever")) },
    { label: t("f.reason"), cell: (x) => [raw(x.reason || ""), " ", h("span.muted", raw(x.by))] },
    { label: t("common.actions"), cell: (x) => (session.user.role === "officer" && x.active ? h("button", { type: "button", "data-release": x.id, onclick: async (ev) => {
      if (!confirm(t("holds.confirm"))) return;
      try { await post(`/holds/${enc(x.id)}/release`); toast(t("holds.done")); ev.target.closest("tr").remove(); } catch (e) { sec.append(errorBox(e)); }
    } }, t("holds.release")) : x.released_us ? [t("holds.releasedat"), " ", raw(fmtTime(x.released_us))] : "") },
  ], holds.map((x) => ({ data: x, attrs: { "data-hold": x.id } })), { empty: t("holds.none") }));
}
