// ui-online.mjs CONFIG.json: the online-rate page (views/online.js). CONFIG: {"base", "user":
// [name, pw], "langs": ["en", "zh-CN"], "pick" (an area to choose in the picker), "shots" (a directory for a screenshot per language)}. For each
// language: opens #/online (the last 7 days), reads what the page shows (the share of each area
// and camera row, the chart's series and points, the target line, the CSV link), downloads the
// CSV through the link, then picks the area `pick` and reads the rows again. Prints one JSON line
// per language: {lang, areas: {id: text}, cameras: {id: text}, outages: {id: text}, series: [id],
// points: {id: n}, target, csv_href, csv, picked: {areas, cameras, csv_href}, english, overflow,
// errors}.
import { readFileSync } from "node:fs";
import { withContexts } from "./chromium.mjs";
import { login, englishLeft, overflow, out, settle } from "./ui-lib.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));

const rows = (page) => page.evaluate(() => {
  const get = (sel, key) => Object.fromEntries([...document.querySelectorAll(sel)].map((tr) => [tr.dataset[key], tr.querySelector(".rate").textContent.trim()]));
  const outages = Object.fromEntries([...document.querySelectorAll("tr[data-camera]")].map((tr) => [tr.dataset.camera, tr.lastElementChild.innerText.trim()]));
  return { areas: get("tr[data-area]", "area"), cameras: get("tr[data-camera]", "camera"), outages,
    csv_href: document.querySelector("a.csv") && document.querySelector("a.csv").getAttribute("href") };
});

try {
  await withContexts(cfg.langs.length, async (contexts) => {
    for (const [i, lang] of cfg.langs.entries()) {
      const page = await contexts[i].newPage();
      const errors = [];
      await login(page, cfg.base, ...cfg.user, lang); // (its reload may cut the first load's fetches short)
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${cfg.base}/#/online`, { waitUntil: "load" });
      await page.waitForSelector("main[data-ready=online] svg.chart", { timeout: 20000 });
      await settle(page);
      const shown = await rows(page);
      const chart = await page.evaluate(() => ({
        series: [...document.querySelectorAll("svg.chart g.series")].map((g) => g.dataset.area),
        points: Object.fromEntries([...document.querySelectorAll("svg.chart g.series")].map((g) => [g.dataset.area, g.querySelectorAll("circle").length])),
        target: !!document.querySelector("svg.chart line.ctarget"),
        legend: document.querySelectorAll(".onlinechart .legend li").length,
      }));
      if (cfg.shots) {
        await page.screenshot({ path: `${cfg.shots}/online-${lang}-1280.png`, fullPage: true });
        await page.setViewportSize({ width: 375, height: 812 });
        await page.screenshot({ path: `${cfg.shots}/online-${lang}-375.png`, fullPage: true });
        await page.setViewportSize({ width: 1280, height: 800 });
      }
      const english = lang === "en" ? [] : await englishLeft(page);
      const ov = await overflow(page);
      const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 15000 }), page.click("a.csv")]);
      const csv = readFileSync(await dl.path(), "utf8");
      await page.evaluate(() => { delete document.querySelector("main").dataset.ready; });
      await page.selectOption("select[name=area]", cfg.pick);
      await page.waitForSelector("main[data-ready=online] svg.chart", { timeout: 20000 });
      await settle(page);
      const picked = await rows(page);
      out({ lang, ...shown, ...chart, csv_name: dl.suggestedFilename(), csv, picked, english, overflow: ov, errors });
      await page.close();
    }
  });
} catch (e) {
  console.error(`ui-online.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
