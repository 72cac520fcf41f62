import { post } from "../api.js";
import { t } from "../i18n.js";
import { h, errorText } from "../ui.js";

export function render(main, r, { onLogin }) {
  const user = h("input", { name: "user", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const pw = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("p.error", { role: "alert", hidden: true });
  const btn = h("button.primary", { type: "submit" }, t("login.submit"));
  const form = h("form.card.login", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      msg.hidden = true;
      try {
        const data = await post("/login", { user: user.value.trim(), password: pw.value });
        await onLogin(data);
      } catch (e) {
        msg.replaceChildren(...[].concat(e.status === 401 ? t("login.wrong") : e.status === 429 ? t("login.throttled") : errorText(e)).filter(Boolean));
        msg.hidden = false;
      } finally { btn.disabled = false; }
    },
  },
  h("h1", t("login.title")),
  r.q.get("expired") ? h("p.notice", t("login.expired")) : null,
  h("label.field", h("span.lbl", t("login.user")), user),
  h("label.field", h("span.lbl", t("login.password")), pw),
  msg, btn,
  h("p.muted.small", t("login.help")));
  main.append(h("section.narrow", form));
  user.focus();
}
