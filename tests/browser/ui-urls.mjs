// ui-urls.mjs CONFIG.json OUTDIR: log in as one user and open each hash route given, as someone
// editing the address bar would; report what each screen shows. CONFIG: {"base", "user":
// [name, pw], "lang"?, "urls": [hash, ...], "settle"?: the most ms to wait for a screen's
// videos (15 s)}. One JSON line per URL: {hash, ready, denied, spans, videos: [{readyState,
// error, played, src}], finalHash, text, deniedText, errorText}.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { withBrowser } from "./chromium.mjs";
import { login, settle, trackRequests, out } from "./ui-lib.mjs";

const [cfgPath, outDir] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
mkdirSync(outDir, { recursive: true });

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    await login(page, cfg.base, ...cfg.user, cfg.lang || "en");
    let i = 0;
    for (const hash of cfg.urls) {
      // a fresh load each time, as if typed into the address bar
      trackRequests(page).clear();
      await page.goto(`${cfg.base}/${hash}`, { waitUntil: "load" });
      await page.reload({ waitUntil: "load" });
      await page.waitForFunction(() => !!document.querySelector("main").dataset.ready, null, { timeout: 20000 });
      await settle(page);
      // Each video has a frame to show, or has failed, or its player says why it cannot play.
      // (At most cfg.settle ms: a video that does neither is reported as it is then.)
      await page.waitForFunction(() => [...document.querySelectorAll("main video")].every((v) =>
        v.readyState >= 2 || v.error || v.closest(".player")?.querySelector(".pstatus .error")), null,
        { timeout: cfg.settle || 15000, polling: 100 }).catch(() => {});
      const r = await page.evaluate(async () => {
        const vids = [];
        for (const v of document.querySelectorAll("main video")) {
          v.muted = true;
          let played = false;
          if (v.readyState >= 2) {
            try {
              const s = v.currentTime, t0 = performance.now();
              await v.play();
              while (v.currentTime <= s && !v.error && performance.now() - t0 < 5000) await new Promise((res) => setTimeout(res, 50));
              played = v.currentTime > s;
              v.pause();
            } catch { /* no */ }
          }
          vids.push({ readyState: v.readyState, error: v.error ? v.error.code : null, played, src: v.dataset.liveSrc || v.currentSrc });
        }
        return {
          ready: document.querySelector("main").dataset.ready,
          denied: !!document.querySelector("main .denied"),
          spans: document.querySelectorAll(".tl-track .rec").length,
          tiles: [...document.querySelectorAll(".tile:not([hidden])")].map((e) => e.dataset.id),
          videos: vids,
          finalHash: location.hash,
          text: document.querySelector("main").innerText.slice(0, 300),
          deniedText: [...document.querySelectorAll("main .denied")].map((e) => e.innerText).join(" | "),
          errorText: [...document.querySelectorAll("main .error")].map((e) => e.innerText).join(" | "),
        };
      });
      await page.screenshot({ path: join(outDir, `url-${i++}.png`), fullPage: true });
      out({ hash, ...r });
    }
  });
} catch (e) {
  console.error(`ui-urls.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
