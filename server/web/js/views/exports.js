// Export jobs: a progress bar that follows a job until it is done, and the download link.
import { get, post, enc } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, clear, table, errorBox, bytes } from "../ui.js";
import { fmtTime, fmtRange } from "../time.js";
import { link } from "../app.js";

const FINAL = ["done", "failed", "canceled"];

export function downloadLink(exp) {
  return h("a.btn.primary.download", { href: `/api/v1/exports/${enc(exp.id)}/download`, download: "" }, t("exp.download"));
}

// A live view of one export job: status, progress bar, then the download link.
export function exportProgress(exp, { cancel = true } = {}) {
  const el = h("div.export", { dataset: { export: exp.id } });
  let timer = null;
  function draw(x) {
    el.replaceChildren(...[
      h("div", h("span.badge", { class: "st-" + x.status }, t("exp.status." + x.status)), " ", h("span.small.muted", raw(x.id))),
      x.status === "done" ? null : h("progress", { max: 100, value: x.progress || 0, "aria-label": t("exp.progress") }),
      x.status === "done" ? null : h("span.small", raw((x.progress || 0) + " %")),
      x.error ? h("p.error", raw(x.error)) : null,
      x.status === "done" ? h("div.actions", downloadLink(x), x.bytes ? h("span.small.muted", bytes(x.bytes)) : null) : null,
      x.status === "done" && x.sha256 ? h("div.small.muted.hash", raw("SHA-256 " + x.sha256)) : null,
      cancel && !FINAL.includes(x.status) && x._cancel !== false ? h("button.link", { type: "button", onclick: async () => { try { draw((await post(`/exports/${enc(x.id)}/cancel`)).export); } catch (e) { el.append(errorBox(e)); } } }, t("exp.cancel")) : null].filter(Boolean));
    clearTimeout(timer);
    if (!FINAL.includes(x.status)) timer = setTimeout(poll, 1000);
  }
  async function poll() {
    if (!el.isConnected && el.dataset.seen) return; // the screen went away
    el.dataset.seen = "1";
    try { draw((await get(`/exports/${enc(exp.id)}`)).export); } catch (e) { el.append(errorBox(e)); }
  }
  draw(exp);
  return el;
}

// A <datalist> of the cases the caller may use (empty when none or not allowed).
export async function caseChoices(id) {
  const dl = h("datalist", { id });
  try {
    for (const c of (await get("/cases")).cases || []) dl.append(h("option", { value: c.id }, c.title || ""));
  } catch { /* no cases endpoint: free text */ }
  return dl;
}

export async function render(main) {
  const sec = h("section", h("h1", t("exp.title")));
  main.append(sec);
  const list = (await get("/exports")).exports || [];
  list.sort((a, b) => (b.created_us || 0) - (a.created_us || 0));
  sec.append(table([
    { label: t("f.case"), cell: (x) => h("a", { href: link("case", [x.case]) }, raw(x.case)) },
    { label: t("f.cameras"), cell: (x) => raw((x.cameras || []).join(", ")) },
    { label: t("f.range"), cell: (x) => raw(fmtRange(x.from_us, x.to_us)) },
    { label: t("f.created"), cell: (x) => [raw(fmtTime(x.created_us)), " ", raw(x.by)] },
    { label: t("f.status"), cell: (x) => exportProgress(x) },
  ], list, { empty: t("exp.none") }));
}
