// i18n.js: one string table per language, data files beside this one (lang/en.json,
// lang/zh-CN.json: key -> string; every key of one is a key of the other, a test checks). Every
// string the UI shows comes from t(key); a key missing from the current table shows the key
// itself in brackets so a test notices it. Data (camera ids, names, places, user names, times) is
// marked translate="no". The tables are fetched once, before any module that imports this runs.
async function table(file) {
  const r = await fetch(new URL(`./lang/${file}`, import.meta.url));
  if (!r.ok) throw new Error(`cannot load the strings ${file}: HTTP ${r.status}`);
  return r.json();
}
const [en, zh] = await Promise.all([table("en.json"), table("zh-CN.json")]);

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
