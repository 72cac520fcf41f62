// My account: who am I, change my password.
import { post } from "../api.js";
import { t } from "../i18n.js";
import { h, raw, field, errorBox, toast } from "../ui.js";
import { fmtTime } from "../time.js";

export async function render(main, r, session) {
  const u = session.user;
  const old = h("input", { type: "password", required: true, autocomplete: "current-password" });
  const nw = h("input", { type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const err = h("div");
  main.append(h("section.narrow", h("h1", t("account.title")),
    h("dl.kv", h("dt", t("f.user")), h("dd", raw(u.name)), h("dt", t("f.role")), h("dd", t("role." + u.role)),
      h("dt", t("account.lastlogin")), h("dd", raw(fmtTime(u.last_login_us)))),
    h("form.card", { onsubmit: async (ev) => {
      ev.preventDefault();
      try { await post("/me/password", { old: old.value, new: nw.value }); toast(t("account.changed")); old.value = nw.value = ""; } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h("h2", t("account.password")), field(t("account.old"), old), field(t("account.new"), nw, t("account.new.help")), err,
    h("button.primary", { type: "submit" }, t("account.change")))));
}
