// ui-shots.mjs CONFIG.json OUTDIR: visit every screen of every role in both languages at phone
// size (375 x 812) and desktop size, save a screenshot of each, and print one JSON line per
// screen: {role, screen, lang, width, overflow: {width, scrollWidth, culprits}, english: [...],
// problems: [...]}. CONFIG: {"base": URL, "users": {role: [name, password]},
// "screens": {role: [[name, hash], ...]}}. Exit 0 when every screen could be driven.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { withBrowser } from "./chromium.mjs";
import { login, show, englishLeft, overflow, out } from "./ui-lib.mjs";

const [cfgPath, outDir] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
mkdirSync(outDir, { recursive: true });
const sizes = cfg.sizes || [[375, 812], [1280, 800]];

let failed = false;
for (const [w, hgt] of sizes) {
  for (const lang of cfg.langs || ["en", "zh-CN"]) {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      let problems = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => { if (m.type() === "error" && !/status of (401|403|404|416)/.test(m.text()) && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
      // the login screen first
      await page.goto(cfg.base + "/#/login", { waitUntil: "load" });
      await page.evaluate((l) => localStorage.setItem("cv_lang", l), lang);
      await page.reload({ waitUntil: "load" });
      await page.waitForSelector("main[data-ready=login]");
      await page.screenshot({ path: join(outDir, `login-${lang}-${w}.png`), fullPage: true });
      out({ role: "none", screen: "login", lang, width: w, overflow: await overflow(page), english: lang === "en" ? [] : await englishLeft(page), problems });
      for (const [role, screens] of Object.entries(cfg.screens)) {
        const [user, pw] = cfg.users[role];
        try {
          await context.clearCookies();
          await login(page, cfg.base, user, pw, lang);
          for (const [name, hash] of screens) {
            problems = [];
            await show(page, cfg.base, hash, { settle: cfg.settle || 1200 });
            await page.screenshot({ path: join(outDir, `${role}-${name}-${lang}-${w}.png`), fullPage: true });
            out({ role, screen: name, lang, width: w, overflow: await overflow(page), english: lang === "en" ? [] : await englishLeft(page), problems, ready: await page.evaluate(() => document.querySelector("main").dataset.ready),
              nav: await page.$$eval("header nav a", (as) => as.map((a) => a.getAttribute("href"))),
              shot: `${role}-${name}-${lang}-${w}.png` });
          }
        } catch (e) {
          failed = true;
          out({ role, error: e.message.split("\n")[0] });
        }
      }
    }, { width: w, height: hgt });
  }
}
process.exit(failed ? 1 : 0);
