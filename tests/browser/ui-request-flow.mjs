// ui-request-flow.mjs CONFIG.json OUTDIR: acceptance 1 of issue 6 in the browser.
//   resident: log in, file a request (camera from the list, time window, description), see it pending
//   officer:  see it in the review queue, preview it (the video loads), approve it, see the export run
//   resident: see it approved, download the package (saved as OUTDIR/package.zip)
// CONFIG: {"base", "resident": [user, pw], "officer": [user, pw], "camera", "from", "to" (site-local
// "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS"), "description", "lang"}. Prints one JSON line per
// step.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { withBrowser } from "./chromium.mjs";
import { login, show, out } from "./ui-lib.mjs";

const [cfgPath, outDir] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
mkdirSync(outDir, { recursive: true });
const lang = cfg.lang || "en";
const shot = (page, name) => page.screenshot({ path: join(outDir, `${name}-${lang}.png`), fullPage: true });

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

    // 1. the resident files a request
    await login(page, cfg.base, ...cfg.resident, lang);
    await show(page, cfg.base, "#/request");
    await page.selectOption("select[name=camera]", cfg.camera);
    for (const k of ["from", "to"]) {
      const [d, tm] = cfg[k].split("T");
      await page.fill(`input[name=${k}-date]`, d);
      await page.fill(`input[name=${k}-time]`, tm);
    }
    await page.fill("textarea[name=description]", cfg.description);
    await shot(page, "1-request-form");
    await page.click("form.card button[type=submit]");
    await page.waitForFunction(() => document.querySelector("main").dataset.ready === "myrequests", null, { timeout: 15000 });
    const mine = await page.$$eval("article.request", (as) => as.map((a) => ({ id: a.dataset.request, status: a.dataset.status, text: a.innerText })));
    await shot(page, "2-resident-pending");
    out({ step: "filed", requests: mine });

    // 2. the officer reviews it
    await context.clearCookies();
    await login(page, cfg.base, ...cfg.officer, lang);
    await show(page, cfg.base, "#/queue");
    // the request she filed (her list is newest first), not whichever else may be pending
    if (!mine.length) throw new Error("the request filed is not in the resident's list");
    const id = mine[0].id;
    const card = page.locator(`article.request[data-request="${id}"]`);
    await card.locator("button.preview-btn").click();
    const preview = await card.locator(".preview video").first().evaluate(async (v) => {
      const t0 = performance.now();
      while (v.readyState < 1 && !v.error && performance.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 100));
      v.muted = true;
      try { await v.play(); } catch { /* reported below */ }
      const s = v.currentTime;
      while (v.currentTime - s < 0.5 && !v.error && performance.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 100));
      v.pause();
      return { readyState: v.readyState, error: v.error ? v.error.code : null, advanced: v.currentTime - s, src: v.currentSrc };
    });
    await shot(page, "3-officer-preview");
    out({ step: "preview", id, preview });
    await card.locator("button.approve-btn").click();
    await card.locator("form.card.inner button[type=submit]").click();
    await card.locator(".export, .error").first().waitFor({ timeout: 30000 });
    if (await card.locator(".error").count()) {
      await shot(page, "4-officer-error");
      throw new Error("approving failed: " + (await card.locator(".error").first().innerText()));
    }
    await card.locator("a.download").first().waitFor({ timeout: 180000 });
    await shot(page, "4-officer-approved");
    out({ step: "approved", id, status: await card.getAttribute("data-status") });

    // 3. the resident downloads the package
    await context.clearCookies();
    await login(page, cfg.base, ...cfg.resident, lang);
    await show(page, cfg.base, "#/myrequests");
    const mineCard = page.locator(`article.request[data-request="${id}"]`);
    const status = await mineCard.getAttribute("data-status");
    const rejectedReason = await mineCard.locator(".rejected").count();
    await mineCard.locator("details.howto summary").click();
    await shot(page, "5-resident-approved");
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), mineCard.locator("a.download").click()]);
    const path = join(outDir, "package.zip");
    await dl.saveAs(path);
    out({ step: "downloaded", id, status, rejectedReason, path, name: dl.suggestedFilename(), howto: await mineCard.locator("details.howto").innerText() });
    out({ step: "done", problems });
  });
} catch (e) {
  console.error(`ui-request-flow.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
