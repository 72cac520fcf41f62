// Admin: cameras (add, edit, enable, retention), storage (volumes with a usage chart, oldest
// footage per camera), users, and the audit log with filters.
import { get, post, patch, qs, at, enc } from "../api.js";
import { t, has } from "../i18n.js";
import { h, raw, clear, table, errorBox, toast, field, modal, bytes, fmtBytes, dateTime } from "../ui.js";
import { fmtTime, fmtDuration, nowUs, fromInput, toInput } from "../time.js";
import { link } from "../app.js";
import { actionLabel } from "./cases.js";

const ROLES = ["admin", "officer", "mediator", "resident"];

function camForm(c, vols, onDone) {
  const isNew = !c;
  c = c || { public: false, enabled: true, retention_days: 30, transport: "tcp" };
  const f = {
    id: h("input", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value: c.id || "", disabled: !isNew, autocapitalize: "none" }),
    url: h("input", { required: isNew, placeholder: isNew ? "rtsp://user:password@host/path" : t("cam.url.keep"), translate: "no", autocapitalize: "none" }),
    name: h("input", { value: c.name || "", maxlength: 255 }),
    location: h("input", { value: c.location || "", maxlength: 255 }),
    retention_days: h("input", { type: "number", min: "0.01", step: "any", value: c.retention_days }),
    volume: h("select", vols.map((v) => h("option", { value: v.name, selected: v.name === c.volume, translate: "no" }, v.name))),
    transport: h("select", ["tcp", "udp"].map((x) => h("option", { value: x, selected: x === c.transport, translate: "no" }, x.toUpperCase()))),
    public: h("input", { type: "checkbox", checked: !!c.public }),
    enabled: h("input", { type: "checkbox", checked: c.enabled !== false }),
  };
  const err = h("div");
  const dlg = modal(isNew ? t("cam.add") : t("cam.edit"), h("form", { id: "f-cam", onsubmit: async (ev) => {
    ev.preventDefault();
    const body = { name: f.name.value.trim(), location: f.location.value.trim(), public: f.public.checked, enabled: f.enabled.checked,
      transport: f.transport.value, retention_days: Number(f.retention_days.value) };
    if (f.volume.value) body.volume = f.volume.value;
    if (f.url.value.trim()) body.url = f.url.value.trim();
    try {
      if (isNew) { body.id = f.id.value.trim(); await post("/cameras", body); } else await patch(`/cameras/${enc(c.id)}`, body);
      toast(t("common.saved"));
      dlg.close();
      onDone();
    } catch (e) { err.replaceChildren(errorBox(e)); }
  } },
  field(t("f.id"), f.id), field(t("cam.url"), f.url, isNew ? null : t("cam.url.masked")),
  field(t("f.name"), f.name), field(t("f.location"), f.location),
  h("div.row2", field(t("cam.retention"), f.retention_days), field(t("cam.volume"), f.volume)),
  field(t("cam.transport"), f.transport),
  h("label.check", f.public, t("cam.public")), h("label.check", f.enabled, t("cam.enabled")), err),
  [h("button", { type: "button", onclick: () => dlg.close() }, t("common.cancel")), h("button.primary", { type: "submit", form: "f-cam" }, t("common.save"))]);
}

export const cameras = {
  async render(main, r, session) {
    const sec = h("section");
    main.append(sec);
    const reload = () => cameras.render(clear(main), r, session);
    const [cams, vols] = await Promise.all([get("/cameras"), get("/volumes").catch(() => ({ volumes: [] }))]);
    sec.append(h("div.head", h("h1", t("admin.cameras")), h("button.primary", { type: "button", onclick: () => camForm(null, vols.volumes, reload) }, t("cam.add"))));
    sec.append(table([
      { label: t("f.id"), cell: (c) => h("a", { href: link("camera", [c.id]) }, raw(c.id)) },
      { label: t("f.name"), cell: (c) => [raw(c.name), h("div.small.muted", raw(c.location))] },
      { label: t("f.status"), cell: (c) => !c.enabled ? h("span.badge.off", t("cams.disabled")) : c.status && c.status.online ? h("span.badge.on", t("cams.online"))
        : [h("span.badge.off", c.status ? t("cams.offline") : t("cams.never")), c.status && c.status.reason ? [" ", raw(c.status.reason)] : null] },
      { label: t("cam.public.short"), cell: (c) => (c.public ? t("common.yes") : t("common.no")) },
      { label: t("cam.retention"), cell: (c) => h("form.inline.ret", { onsubmit: async (ev) => {
        ev.preventDefault();
        try { await patch(`/cameras/${enc(c.id)}`, { retention_days: Number(ev.target.days.value) }); toast(t("common.saved")); } catch (e) { toast(errorText(e), "error"); }
      } }, h("input", { name: "days", type: "number", min: "0.01", step: "any", value: c.retention_days, "aria-label": t("cam.retention") }), h("span.small", t("unit.days")), h("button", { type: "submit" }, t("common.set"))) },
      { label: t("cam.volume"), cell: (c) => raw(c.volume) },
      { label: t("common.actions"), cell: (c) => h("div.actions",
        h("button", { type: "button", onclick: () => camForm(c, vols.volumes, reload) }, t("common.edit")),
        h("button", { type: "button", onclick: async () => {
          try { await patch(`/cameras/${enc(c.id)}`, { enabled: !c.enabled }); reload(); } catch (e) { toast(errorText(e), "error"); }
        } }, c.enabled ? t("cam.disable") : t("cam.enable"))) },
    ], cams.cameras, { empty: t("cams.none") }));
  },
};
import { errorText } from "../ui.js";

export const storage = {
  async render(main) {
    const sec = h("section", h("h1", t("admin.storage")));
    main.append(sec);
    const [vols, ret] = await Promise.all([get("/volumes"), get("/retention")]);
    sec.append(h("h2", t("vol.title")));
    for (const v of vols.volumes) {
      const total = v.fs_total_bytes || 1;
      const limit = v.max_bytes || Math.floor(total * 0.95);
      const other = Math.max(0, total - (v.fs_free_bytes || 0) - v.used_bytes);
      const pct = (n) => Math.max(0, Math.min(100, (n / total) * 100)) + "%";
      sec.append(h("article.card.volume", { dataset: { volume: v.name } },
        h("div.head", h("h3", raw(v.name)), h("span.small.muted", raw(v.path))),
        h("div.usage", { role: "img", "aria-label": t("vol.chart") },
          h("div.u-cam", { style: { width: pct(v.used_bytes) }, title: t("vol.used") }),
          h("div.u-other", { style: { width: pct(other) }, title: t("vol.other") }),
          h("div.u-limit", { style: { left: pct(limit) }, title: t("vol.limit") })),
        h("div.legend.small",
          h("span", h("i.sw.u-cam"), t("vol.used"), " ", bytes(v.used_bytes)),
          h("span", h("i.sw.u-other"), t("vol.other"), " ", bytes(other)),
          h("span", h("i.sw.u-free"), t("vol.free"), " ", bytes(v.fs_free_bytes)),
          h("span", h("i.sw.u-limit"), t("vol.limit"), " ", bytes(limit), v.max_bytes ? "" : [" (", t("vol.limit95"), ")"])),
        h("div.small", t("vol.segments", { n: v.segments }), " · ", t("vol.total"), " ", bytes(v.fs_total_bytes)),
        h("form.inline", { onsubmit: async (ev) => {
          ev.preventDefault();
          try { await patch(`/volumes/${enc(v.name)}`, { max_bytes: Math.round(Number(ev.target.gb.value) * 1e9) }); toast(t("common.saved")); storage.render(clear(main)); } catch (e) { toast(errorText(e), "error"); }
        } }, h("label.inline", t("vol.setlimit"), " ", h("input", { name: "gb", type: "number", min: "0", step: "any", value: v.max_bytes ? v.max_bytes / 1e9 : 0 }), raw(" GB")), h("button", { type: "submit" }, t("common.set")))));
    }
    // add a volume
    const name = h("input", { required: true, placeholder: "disk2", autocapitalize: "none" });
    const path = h("input", { required: true, placeholder: "/mnt/disk2", translate: "no" });
    const err = h("div");
    sec.append(h("details.card", h("summary", t("vol.add")), h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      try { await post("/volumes", { name: name.value.trim(), path: path.value.trim() }); storage.render(clear(main)); } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, field(t("f.name"), name), field(t("vol.path"), path), err, h("button.primary", { type: "submit" }, t("vol.add")))));

    sec.append(h("h2", t("ret.title")));
    const now = nowUs();
    sec.append(table([
      { label: t("f.camera"), cell: (x) => raw(x.camera) },
      { label: t("cam.retention"), cell: (x) => [raw(x.retention_days), " ", t("unit.days")] },
      { label: t("ret.oldest"), cell: (x) => (x.oldest_us ? [raw(fmtTime(x.oldest_us)), h("div.small.muted", t("ret.ago", { d: fmtDuration(now - x.oldest_us, t) }))] : t("ret.nofootage")) },
      { label: t("ret.kept"), cell: (x) => (x.oldest_us ? h("div.keptbar", { title: t("ret.kept") }, h("i", { style: { width: Math.min(100, ((now - x.oldest_us) / (x.retention_days * 86400e6)) * 100) + "%" } })) : "") },
      { label: t("ret.shortfall"), cell: (x) => (x.shortfall ? h("span.warn", raw(x.shortfall)) : t("common.no")) },
    ], ret.cameras));
  },
};

export const users = {
  async render(main, r, session) {
    const sec = h("section");
    main.append(sec);
    const reload = () => users.render(clear(main), r, session);
    const list = (await get("/users")).users;
    const name = h("input", { required: true, pattern: "[a-z0-9][a-z0-9._-]{0,31}", autocapitalize: "none", placeholder: t("users.name.ph") });
    const role = h("select", ROLES.map((x) => h("option", { value: x, selected: x === "resident" }, t("role." + x))));
    const pw = h("input", { type: "password", minlength: 10, autocomplete: "new-password", placeholder: t("users.pw.ph") });
    const err = h("div");
    sec.append(h("div.head", h("h1", t("admin.users"))),
      h("details.card", h("summary", t("users.add")), h("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        const body = { name: name.value.trim(), role: role.value };
        if (pw.value) body.password = pw.value;
        try {
          const res = await post("/users", body);
          if (res.password) modal(t("users.created"), h("div", h("p", t("users.genpw")), h("pre.pw", raw(res.password))), [h("button.primary", { type: "button", onclick: (e) => e.target.closest("dialog").close() }, t("common.close"))]).addEventListener("close", reload);
          else { toast(t("users.created")); reload(); }
        } catch (e) { err.replaceChildren(errorBox(e)); }
      } }, field(t("f.user"), name), field(t("f.role"), role), field(t("account.new"), pw, t("users.pw.help")), err, h("button.primary", { type: "submit" }, t("users.add")))));
    sec.append(table([
      { label: t("f.user"), cell: (u) => raw(u.name) },
      { label: t("f.role"), cell: (u) => {
        const s = h("select", { "aria-label": t("f.role"), disabled: u.name === session.user.name }, ROLES.map((x) => h("option", { value: x, selected: x === u.role }, t("role." + x))));
        s.addEventListener("change", async () => { try { await patch(`/users/${enc(u.name)}`, { role: s.value }); toast(t("common.saved")); } catch (e) { toast(errorText(e), "error"); s.value = u.role; } });
        return s;
      } },
      { label: t("users.state"), cell: (u) => h("span.badge", { class: u.disabled ? "off" : "on" }, u.disabled ? t("users.disabled") : t("users.active")) },
      { label: t("account.lastlogin"), cell: (u) => raw(fmtTime(u.last_login_us)) },
      { label: t("common.actions"), cell: (u) => u.name === session.user.name ? h("span.muted", t("users.you")) : h("div.actions",
        h("button", { type: "button", onclick: async () => { try { await patch(`/users/${enc(u.name)}`, { disabled: !u.disabled }); reload(); } catch (e) { toast(errorText(e), "error"); } } }, u.disabled ? t("users.enable") : t("users.disable")),
        h("button", { type: "button", onclick: () => {
          const p = h("input", { type: "password", minlength: 10, required: true, autocomplete: "new-password" });
          const e2 = h("div");
          const dlg = modal(t("users.setpw"), h("form", { id: "f-pw", onsubmit: async (ev) => {
            ev.preventDefault();
            try { await patch(`/users/${enc(u.name)}`, { password: p.value }); toast(t("common.saved")); dlg.close(); } catch (e) { e2.replaceChildren(errorBox(e)); }
          } }, h("p", raw(u.name)), field(t("account.new"), p, t("account.new.help")), e2),
          [h("button", { type: "button", onclick: () => dlg.close() }, t("common.cancel")), h("button.primary", { type: "submit", form: "f-pw" }, t("common.save"))]);
        } }, t("users.setpw"))) },
    ], list));
  },
};

export const audit = {
  async render(main, r) {
    const q = r.q;
    const caseIn = h("input", { name: "case", value: q.get("case") || "", placeholder: t("f.case") , "aria-label": t("f.case") });
    const since = dateTime("since", q.get("since") ? Number(q.get("since")) : null, { label: t("audit.since") });
    const user = h("input", { name: "user", value: q.get("user") || "", placeholder: t("audit.user"), "aria-label": t("audit.user"), autocapitalize: "none" });
    const actions = ["", "login", "login-failed", "logout", "password-change", "user-add", "user-edit", "token-create", "camera-add", "camera-edit", "camera-enable", "camera-disable", "retention-set", "volume-add", "volume-edit", "hold-add", "hold-release", "view-timeline", "view-video", "view-live", "view-snapshot", "audit-read", "request-file", "request-approve", "request-reject", "case-create", "case-edit", "case-member-add", "case-member-remove", "case-clip-add", "case-clip-remove", "export-start", "export-cancel", "export-download"];
    const act = h("select", { name: "action", "aria-label": t("audit.action") }, actions.map((a) => h("option", { value: a, selected: a === (q.get("action") || "") }, a ? t("act." + a) : t("audit.anyaction"))));
    const verifyOut = h("span.small");
    const sec = h("section", h("div.head", h("h1", t("admin.audit")),
      h("button", { type: "button", onclick: async () => {
        verifyOut.textContent = "…";
        try {
          const v = await get("/audit/verify");
          verifyOut.replaceChildren(v.ok ? h("span.badge.on", t("audit.chainok", { n: v.records })) : h("span.badge.off", t("audit.chainbad", { seq: v.first_bad_seq }), " ", raw(v.error)));
        } catch (e) { verifyOut.replaceChildren(errorBox(e)); }
      } }, t("audit.verify")), verifyOut),
    h("form.filters", { onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      if (caseIn.value.trim()) p.set("case", caseIn.value.trim());
      const s = fromInput(since.value);
      if (s) p.set("since", String(s));
      if (user.value.trim()) p.set("user", user.value.trim());
      if (act.value) p.set("action", act.value);
      location.hash = "#/admin-audit" + (p.toString() ? "?" + p : "");
    } }, caseIn, since, user, act, h("button.primary", { type: "submit" }, t("audit.filter"))));
    main.append(sec);
    const out = h("div");
    const more = h("button", { type: "button", hidden: true }, t("audit.more"));
    const count = h("p.small.muted");
    sec.append(count, out, more);
    let after = null, shown = 0, scanned = 0;
    const userF = q.get("user"), actF = q.get("action");
    async function page() {
      more.disabled = true;
      // The server filters by case and time; user and action are filtered here, page by page.
      const res = await get("/audit" + qs({ case: q.get("case"), since: q.get("since") ? at(Number(q.get("since"))) : null, after, limit: 50 }));
      scanned += res.records.length;
      const recs = res.records.filter((a) => (!userF || a.user === userF) && (!actF || a.action === actF));
      shown += recs.length;
      if (recs.length) out.append(table([
        { label: "#", cell: (a) => raw(a.seq) },
        { label: t("audit.time"), cell: (a) => raw(fmtTime(a.time_us)) },
        { label: t("audit.user"), cell: (a) => [raw(a.user), a.role ? h("span.small.muted", " ", has("role." + a.role) ? t("role." + a.role) : raw(a.role)) : null] },
        { label: t("audit.action"), cell: (a) => actionLabel(a.action) },
        { label: t("audit.target"), cell: (a) => [raw(a.target), a.case ? h("div.small", t("f.case"), " ", raw(a.case)) : null, a.detail ? h("div.small.muted", raw(a.detail)) : null] },
      ], recs));
      after = res.next_after;
      more.hidden = after === null || after === undefined;
      more.disabled = false;
      count.textContent = t("audit.count", { shown, scanned });
    }
    more.addEventListener("click", page);
    await page();
  },
};
