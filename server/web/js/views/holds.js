// Holds: footage kept whatever retention says. Officers release them; admins read them.
import { get, post, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, table, errorBox, toast } from "../ui.js";
import { fmtTime, fmtRange } from "../time.js";
import { link } from "../app.js";

export async function render(main, r, session) {
  const active = r.q.get("active") !== "false";
  const sel = h("select", { "aria-label": t("f.status") },
    h("option", { value: "true", selected: active }, t("holds.active")),
    h("option", { value: "false", selected: !active }, t("holds.released")));
  sel.addEventListener("change", () => { location.hash = "#/holds?active=" + sel.value; });
  const sec = h("section", h("div.head", h("h1", t("holds.title")), sel));
  main.append(sec);
  const holds = (await get("/holds?active=" + (active ? "true" : "false"))).holds || [];
  // a request's provisional hold names the request, not a case: link only real cases
  let cases = new Set();
  if (session.user.role === "officer") {
    try { cases = new Set(((await get("/cases")).cases || []).map((c) => c.id)); } catch { /* no link then */ }
  }
  sec.append(table([
    { label: "#", cell: (x) => raw(x.id) },
    { label: t("f.case"), cell: (x) => (cases.has(x.case) ? h("a", { href: link("case", [x.case]) }, raw(x.case)) : raw(x.case)) },
    { label: t("f.cameras"), cell: (x) => x.cameras.map((c, i) => [i ? ", " : "", h("a", { href: link("camera", [c], { from: x.from_us, to: x.to_us }) }, raw(c))]) },
    { label: t("f.range"), cell: (x) => raw(fmtRange(x.from_us, x.to_us)) },
    { label: t("f.until"), cell: (x) => (x.until_us ? raw(fmtTime(x.until_us)) : t("holds.forever")) },
    { label: t("f.reason"), cell: (x) => [raw(x.reason || ""), " ", h("span.muted", raw(x.by))] },
    { label: t("common.actions"), cell: (x) => (session.user.role === "officer" && x.active ? h("button", { type: "button", onclick: async (ev) => {
      if (!confirm(t("holds.confirm"))) return;
      try { await post(`/holds/${enc(x.id)}/release`); toast(t("holds.done")); ev.target.closest("tr").remove(); } catch (e) { sec.append(errorBox(e)); }
    } }, t("holds.release")) : x.released_us ? [t("holds.releasedat"), " ", raw(fmtTime(x.released_us))] : "") },
  ], holds, { empty: t("holds.none") }));
}
