// ui-holds.mjs CONFIG.json OUTDIR: the officer's view of provisional holds (issue 19): log in,
// open Holds > Provisional, list its rows, release the hold CONFIG.release with its button
// (accepting the confirmation), and list the rows again after a fresh load.
// CONFIG: {"base", "officer": [user, pw], "release": hold id, "lang"}. Prints one JSON line per
// step: {"step", "show", "rows": [hold ids], "text"}.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { withBrowser } from "./chromium.mjs";
import { login, show, out } from "./ui-lib.mjs";

const [cfgPath, outDir] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
mkdirSync(outDir, { recursive: true });
const lang = cfg.lang || "en";
const rows = (page) => page.$$eval("tr[data-hold]", (trs) => trs.map((tr) => Number(tr.dataset.hold)));
const seen = (page) => page.$eval("main", (m) => ({ show: m.querySelector("section").dataset.show, text: m.innerText }));

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("dialog", (d) => d.accept());
    await login(page, cfg.base, ...cfg.officer, lang);
    await show(page, cfg.base, "#/holds?show=provisional");
    out({ step: "listed", rows: await rows(page), ...(await seen(page)) });
    await page.screenshot({ path: join(outDir, `provisional-${lang}.png`), fullPage: true });
    await page.click(`button[data-release="${cfg.release}"]`);
    await page.waitForSelector(`tr[data-hold="${cfg.release}"]`, { state: "detached", timeout: 15000 });
    await show(page, cfg.base, "#/holds?show=provisional");
    out({ step: "released", rows: await rows(page), ...(await seen(page)), problems });
  });
} catch (e) {
  out({ step: "error", error: String(e && e.stack || e) });
  process.exitCode = 1;
}
