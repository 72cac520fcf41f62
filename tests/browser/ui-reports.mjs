// ui-reports.mjs CONFIG.json: a resident's report through the form and an officer's answer.
// CONFIG: {"base", "officer": [name, pw], "resident": [name, pw], "lang", "camera", "text"}.
// The resident opens "Report here" from a camera (#/report?camera=), writes what they saw,
// attaches a photo (an 800x600 PNG of noise the page must shrink below the server's 40 KB) and sends
// it; the officer answers it from the queue (#/reports); the resident's "My reports" must show
// the answer. Prints one JSON line: {photo_bytes, status, answer, errors}.
import { readFileSync } from "node:fs";
import { withContexts } from "./chromium.mjs";
import { login, out } from "./ui-lib.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));

try {
  await withContexts(2, async ([resCtx, offCtx]) => {
    const errors = [];
    const res = await resCtx.newPage();
    res.on("pageerror", (e) => errors.push(String(e)));
    await login(res, cfg.base, ...cfg.resident, cfg.lang);
    // A noisy picture (random pixels compress badly): the page must shrink it.
    const png = await res.evaluate(async () => {
      const c = document.createElement("canvas");
      c.width = 800; c.height = 600;
      const g = c.getContext("2d"), img = g.createImageData(800, 600);
      for (let i = 0; i < img.data.length; i++) img.data[i] = (i % 4 === 3) ? 255 : Math.random() * 255;
      g.putImageData(img, 0, 0);
      const b = await new Promise((r) => c.toBlob(r, "image/png"));
      return [...new Uint8Array(await b.arrayBuffer())];
    });
    await res.goto(`${cfg.base}/#/report?camera=${cfg.camera}`, { waitUntil: "load" });
    await res.waitForSelector("main[data-ready=report] form textarea[name=text]", { timeout: 15000 });
    await res.selectOption("select[name=kind]", "hazard");
    await res.fill("textarea[name=text]", cfg.text);
    await res.setInputFiles("input[name=photo]", { name: "manhole.png", mimeType: "image/png", buffer: Buffer.from(png) });
    await res.click("form button.primary");
    await res.waitForSelector("main[data-ready=myreports] .report[data-status=open]", { timeout: 15000 });
    const id = await res.evaluate(() => document.querySelector(".report").dataset.report);
    const photo = await res.evaluate(async (rid) => (await (await fetch(`/api/v1/reports/${rid}/photo`)).arrayBuffer()).byteLength, id);

    const off = await offCtx.newPage();
    off.on("pageerror", (e) => errors.push(String(e)));
    await login(off, cfg.base, ...cfg.officer, cfg.lang);
    await off.goto(`${cfg.base}/#/reports`, { waitUntil: "load" });
    const row = `tr[data-report="${id}"]`;
    await off.waitForSelector(`main[data-ready=reports] ${row}`, { timeout: 15000 });
    await off.click(`${row} .actions button:nth-child(2)`);
    await off.fill("dialog.modal textarea", "Thank you, the cover is fixed tomorrow");
    await off.click("dialog.modal button.primary");
    await off.waitForSelector(`main[data-ready=reports] ${row}`, { timeout: 15000 });

    await res.waitForSelector(`.report[data-report="${id}"][data-status=answered] .answer`, { timeout: 20000 });
    const answer = await res.evaluate((rid) => document.querySelector(`.report[data-report="${rid}"] .answer`).innerText, id);
    out({ id, photo_bytes: photo, status: "answered", answer, errors });
  });
} catch (e) {
  console.error(`ui-reports.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
