// ui-hls.mjs CONFIG.json: Chromium plays live.m3u8 (HLS) through hls.js, which Chromium needs
// (it has no native HLS; Safari and iOS play the URL directly). The test page and hls.js are
// handed to the browser by request interception under the server's own origin, so the player's
// requests carry the session cookie like the UI's. CONFIG: {"base", "user": [name, pw],
// "camera", "play_s"}. Prints one JSON line: {played_s, error, hls_errors, fragments}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { withBrowser } from "./chromium.mjs";
import { login, out } from "./ui-lib.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const HLS = readFileSync(createRequire(import.meta.url).resolve("hls.js/dist/hls.min.js"), "utf8");
const PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted playsinline></video>
<script src="/__test/hls.min.js"></script>
<script>
  window.result = { hls_errors: [], fragments: 0, error: null };
  const v = document.getElementById("v");
  if (!Hls.isSupported()) window.result.error = "hls.js: MSE not supported";
  const hls = new Hls({ xhrSetup: (x) => { x.withCredentials = true; } });
  hls.on(Hls.Events.ERROR, (e, d) => { window.result.hls_errors.push(d.details + (d.fatal ? " (fatal)" : "")); });
  hls.on(Hls.Events.FRAG_BUFFERED, () => { window.result.fragments++; });
  hls.loadSource("/api/v1/cameras/${cfg.camera}/live.m3u8");
  hls.attachMedia(v);
  hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => { window.result.error = String(e); }));
</script>`;

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    await login(page, cfg.base, ...cfg.user);
    await page.route(`${cfg.base}/__test/**`, (route) => {
      const u = new URL(route.request().url());
      if (u.pathname === "/__test/hls.min.js") return route.fulfill({ contentType: "text/javascript", body: HLS });
      return route.fulfill({ contentType: "text/html", body: PAGE });
    });
    await page.goto(`${cfg.base}/__test/hls.html`, { waitUntil: "load" });
    const t0 = Date.now();
    let start = null, ct = 0;
    while (Date.now() - t0 < (cfg.play_s + 40) * 1000) {
      ct = await page.evaluate(() => document.getElementById("v").currentTime);
      if (start === null && ct > 0) start = ct;
      if (start !== null && ct - start >= cfg.play_s) break;
      const fatal = await page.evaluate(() => window.result.error || window.result.hls_errors.some((x) => x.includes("fatal")));
      if (fatal) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const r = await page.evaluate(() => window.result);
    out({ played_s: start === null ? 0 : ct - start, ...r });
  });
} catch (e) {
  console.error(`ui-hls.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
