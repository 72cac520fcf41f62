// i18n.js: one string table per language (lang/en.js, lang/zh-CN.js). Every string the UI shows
// comes from t(key); a key missing from the current table shows the key itself in brackets so a
// test notices it. Data (camera ids, names, places, user names, times) is marked translate="no".
import en from "./lang/en.js";
import zh from "./lang/zh-CN.js";

export const LANGS = { en: { table: en, name: "English" }, "zh-CN": { table: zh, name: "中文" } };
let lang = pick();

function pick() {
  let l = null;
  try { l = localStorage.getItem("cv_lang"); } catch { /* private mode */ }
  if (l && LANGS[l]) return l;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

export function getLang() { return lang; }
export function setLang(l) {
  if (!LANGS[l]) return;
  lang = l;
  try { localStorage.setItem("cv_lang", l); } catch { /* private mode */ }
  document.documentElement.lang = l;
}

export function t(key, params) {
  let s = LANGS[lang].table[key];
  if (s === undefined) s = `[${key}]`;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
  return s;
}
export const has = (key) => LANGS[lang].table[key] !== undefined;
