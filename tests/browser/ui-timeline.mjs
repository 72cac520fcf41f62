// ui-timeline.mjs CONFIG.json OUTDIR: the timeline and the player in the browser (issue 6,
// acceptance 2 and 3). CONFIG: {"base", "user": [name, pw], "lang"?,
//   "gap"?: {"camera", "from", "to"}        open the timeline over [from, to] (µs), hover the
//                                           camera-offline gap, report the tip (both languages)
//   "play"?: {"camera", "from", "to"}       open the player on that range, play two seconds,
//                                           report the clock; step one frame, report again
//   "click"?: {"camera", "from", "to", "at"} click the timeline at instant `at`, report the clock
//   "live"?: {"camera", "from", "to"}       open the timeline over [from, to] (µs) while the
//                                           camera records: report the "recording now" piece}
// One JSON line per part.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { withBrowser } from "./chromium.mjs";
import { login, show, setLang, out } from "./ui-lib.mjs";

const [cfgPath, outDir] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
mkdirSync(outDir, { recursive: true });

async function playAndRead(page, seconds) {
  return page.evaluate(async (secs) => {
    const v = document.querySelector("main video");
    const t0 = performance.now();
    while (v.readyState < 2 && !v.error && performance.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 100));
    v.muted = true;
    let err = null;
    try {
      await Promise.race([v.play(), new Promise((_, rej) => setTimeout(() => rej(new Error(`play() did not start in 15 s (readyState ${v.readyState}, networkState ${v.networkState}, src ${v.currentSrc})`)), 15000))]);
    } catch (e) { err = e.message; }
    const s = v.currentTime;
    while (!err && !v.error && v.currentTime - s < secs && performance.now() - t0 < 40000) await new Promise((r) => setTimeout(r, 100));
    v.pause();
    await new Promise((r) => setTimeout(r, 400));
    const c = document.querySelector(`[data-clock-for="${v.id}"]`);
    return { src: v.currentSrc, start: s, currentTime: v.currentTime, error: err || (v.error ? v.error.code : null),
      clock: c.textContent, clock_us: Number(c.dataset.us), utc: c.title };
  }, seconds);
}
async function readClock(page) {
  return page.evaluate(() => {
    const v = document.querySelector("main video");
    const c = document.querySelector(`[data-clock-for="${v.id}"]`);
    return { currentTime: v.currentTime, clock: c.textContent, clock_us: Number(c.dataset.us) };
  });
}

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await login(page, cfg.base, ...cfg.user, cfg.lang || "en");

    if (cfg.gap) {
      const g = cfg.gap;
      const res = { step: "gap" };
      for (const lang of ["en", "zh-CN"]) {
        await setLang(page, lang);
        await page.goto(`${cfg.base}/#/camera/${encodeURIComponent(g.camera)}?from=${g.from}&to=${g.to}`, { waitUntil: "load" });
        await page.reload({ waitUntil: "load" }); // a new hash alone does not reload the page (and its language)
        await page.waitForFunction(() => document.querySelector("main").dataset.ready === "camera", null, { timeout: 20000 });
        await page.waitForTimeout(500);
        res.gaps = await page.$$eval(".tl-track .gap", (gs) => gs.map((e) => { const r = e.getBoundingClientRect(); return { reason: e.dataset.reason, x: r.x, y: r.y, w: r.width, h: r.height, color: getComputedStyle(e).backgroundColor }; }));
        const el = page.locator(".tl-track .gap[data-reason=camera-offline]").first();
        if (await el.count()) {
          const box = await el.boundingBox();
          await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
          await page.waitForTimeout(400);
          res["tip_" + lang] = await page.$eval("#tip", (t) => (t.hidden ? null : t.innerText));
          await page.screenshot({ path: join(outDir, `gap-hover-${lang}.png`), fullPage: true });
        }
      }
      out(res);
    }

    if (cfg.play) {
      const p = cfg.play;
      await setLang(page, cfg.lang || "en");
      await page.reload({ waitUntil: "load" });
      await show(page, cfg.base, `#/play?c=${encodeURIComponent(p.camera)}&from=${p.from}&to=${p.to}`);
      const played = await playAndRead(page, 2);
      await page.click("button[aria-label][title]:has(svg) >> nth=3"); // the next-frame button
      await page.waitForTimeout(500);
      const stepped = await readClock(page);
      await page.hover(".clock");
      await page.screenshot({ path: join(outDir, "player.png"), fullPage: true });
      out({ step: "play", played, stepped });
    }

    if (cfg.click) {
      const c = cfg.click;
      await show(page, cfg.base, `#/camera/${encodeURIComponent(c.camera)}?from=${c.from}&to=${c.to}`);
      const box = await page.locator(".tl-track").boundingBox();
      const x = box.x + ((c.at - c.from) / (c.to - c.from)) * box.width;
      await page.mouse.click(x, box.y + box.height / 2);
      await page.waitForSelector(".playarea video", { timeout: 10000 });
      const played = await playAndRead(page, 1);
      await page.screenshot({ path: join(outDir, "timeline-click.png"), fullPage: true });
      out({ step: "click", played });
    }
    if (cfg.live) {
      const c = cfg.live;
      await show(page, cfg.base, `#/camera/${encodeURIComponent(c.camera)}?from=${c.from}&to=${c.to}`);
      const track = await page.locator(".tl-track").boundingBox();
      const live = await page.$$eval(".tl-track .rec.live", (ps) => ps.map((e) => {
        const r = e.getBoundingClientRect();
        return { x: r.x, w: r.width, text: e.innerText, title: e.title };
      }));
      await page.screenshot({ path: join(outDir, "timeline-live.png"), fullPage: true });
      out({ step: "live", track: { x: track.x, w: track.width }, live, now_us: Date.now() * 1000 });
    }
    if (cfg.select) {
      // drag across [a, b] on the timeline, place a hold and export the selection to a case
      const c = cfg.select;
      await show(page, cfg.base, `#/camera/${encodeURIComponent(c.camera)}?from=${c.from}&to=${c.to}`);
      const box = await page.locator(".tl-track").boundingBox();
      const xa = box.x + ((c.a - c.from) / (c.to - c.from)) * box.width;
      const xb = box.x + ((c.b - c.from) / (c.to - c.from)) * box.width;
      await page.mouse.move(xa, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move((xa + xb) / 2, box.y + box.height / 2, { steps: 5 });
      await page.mouse.move(xb, box.y + box.height / 2, { steps: 5 });
      await page.mouse.up();
      await page.waitForSelector(".selpanel:not([hidden])");
      const selText = await page.innerText(".selpanel");
      await page.click(".selpanel .hold-btn");
      await page.fill("dialog input[list]", c.case);
      await page.fill("dialog form input:not([list]):not([type])", "evidence for the case");
      await page.click("dialog button[type=submit]");
      await page.waitForSelector("dialog", { state: "detached", timeout: 15000 });
      await page.click(".selpanel .export-btn");
      await page.fill("dialog input[list]", c.case);
      await page.click("dialog button[type=submit]");
      await page.waitForSelector("dialog .export progress, dialog .export a.download", { timeout: 15000 });
      await page.screenshot({ path: join(outDir, "export-progress.png"), fullPage: true });
      const sawProgress = await page.locator("dialog .export progress").count();
      await page.waitForSelector("dialog .export a.download", { timeout: 180000 });
      const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("dialog .export a.download")]);
      const path = join(outDir, "export.zip");
      await dl.saveAs(path);
      out({ step: "select", selText, sawProgress, path });
    }
    out({ step: "done", problems });
  });
} catch (e) {
  console.error(`ui-timeline.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
