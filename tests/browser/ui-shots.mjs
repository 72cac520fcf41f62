// ui-shots.mjs CONFIG.json OUTDIR: visit every screen of every role in both languages at phone
// size (375 x 812) and desktop size, save a screenshot of each, and print one JSON line per
// screen: {role, screen, lang, width, overflow: {width, scrollWidth, culprits}, english: [...],
// problems: [...], settled: ms}. CONFIG: {"base": URL, "users": {role: [name, password]},
// "screens": {role: [[name, hash], ...]}, "workers"?: passes driven at once (2)}.
// Exit 0 when every screen could be driven.
//
// A pass is one size and one language. Passes run in separate browser contexts (own cookies and
// storage), `workers` of them at a time in one browser; each logs in afresh for every role.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { withContexts } from "./chromium.mjs";
import { login, show, settle, englishLeft, overflow, out } from "./ui-lib.mjs";

const [cfgPath, outDir] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
mkdirSync(outDir, { recursive: true });
const sizes = cfg.sizes || [[375, 812], [1280, 800]];
const passes = sizes.flatMap(([w, hgt]) => (cfg.langs || ["en", "zh-CN"]).map((lang) => ({ w, hgt, lang })));

let failed = false;

// where a console message came from: "file.js:line", or the page's URL
function where(m) {
  const l = m.location();
  return l && l.url ? `${l.url.replace(/^.*\//, "")}:${l.lineNumber + 1}` : "?";
}

async function pass(context, page, problems, { w, hgt, lang }) {
  await page.setViewportSize({ width: w, height: hgt });
  // the login screen first, as a new visitor sees it
  // leave the previous pass's last screen first: its requests end with that page, not on the
  // login screen's account
  await page.goto("about:blank");
  problems.length = 0;
  await context.clearCookies();
  await page.goto(cfg.base + "/#/login", { waitUntil: "load" });
  await page.waitForSelector("main[data-ready]"); // booted (see login() in ui-lib.mjs)
  await page.evaluate((l) => localStorage.setItem("cv_lang", l), lang);
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector("main[data-ready=login]");
  await settle(page);
  await page.screenshot({ path: join(outDir, `login-${lang}-${w}.png`), fullPage: true });
  out({ role: "none", screen: "login", lang, width: w, overflow: await overflow(page), english: lang === "en" ? [] : await englishLeft(page), problems: [...problems] });
  for (const [role, screens] of Object.entries(cfg.screens)) {
    const [user, pw] = cfg.users[role];
    try {
      await context.clearCookies();
      await login(page, cfg.base, user, pw, lang);
      for (const [name, hash] of screens) {
        problems.length = 0;
        const settled = await show(page, cfg.base, hash);
        await page.screenshot({ path: join(outDir, `${role}-${name}-${lang}-${w}.png`), fullPage: true });
        out({ role, screen: name, lang, width: w, overflow: await overflow(page), english: lang === "en" ? [] : await englishLeft(page), problems: [...problems], ready: await page.evaluate(() => document.querySelector("main").dataset.ready),
          nav: await page.$$eval("header nav a", (as) => as.map((a) => a.getAttribute("href"))),
          shot: `${role}-${name}-${lang}-${w}.png`, settled });
      }
    } catch (e) {
      failed = true;
      out({ role, lang, width: w, error: e.message.split("\n")[0] });
    }
  }
}

await withContexts(Math.min(cfg.workers || 2, passes.length), async (contexts) => {
  let next = 0;
  await Promise.all(contexts.map(async (context) => {
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error" && !/status of (401|403|404|416)/.test(m.text()) && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()} (${where(m)})`); });
    while (next < passes.length) await pass(context, page, problems, passes[next++]);
  }));
});
process.exit(failed ? 1 : 0);
