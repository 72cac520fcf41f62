// ui-hevc.mjs CONFIG.json OUTDIR: an H.265 camera in a browser without HEVC (issue 18,
// acceptance 3). CONFIG: {"base", "user": [name, pw], "camera", "from", "to"} (µs).
// One JSON line per part:
//   {"step": "probe"}   what this Chromium says of H.265 (canPlayType, isTypeSupported)
//   {"step": "play"}    the player on [from, to]: its video's source, size, time played, label
//   {"step": "live"}    the camera's live tile on the cameras screen: the same
// each part in English and in Chinese (label_en, label_zh). With "busy": true only
//   {"step": "busy"}    the player while every transcoding session is taken: its status line
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { withBrowser } from "./chromium.mjs";
import { login, show, setLang, out } from "./ui-lib.mjs";

const [cfgPath, outDir] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
mkdirSync(outDir, { recursive: true });

// Wait for the video `sel` to have a frame, play it and watch currentTime advance by `secs`.
async function watch(page, sel, secs) {
  return page.evaluate(async ([s, secs]) => {
    const t0 = performance.now();
    const late = (ms) => performance.now() - t0 > ms;
    let v = document.querySelector(s);
    while ((!v || v.readyState < 2) && !(v && v.error) && !late(60000)) {
      await new Promise((r) => setTimeout(r, 100));
      v = document.querySelector(s);
    }
    if (!v) return { error: `no video ${s}` };
    v.muted = true;
    let err = null;
    try { await v.play(); } catch (e) { err = e.message; }
    const start = v.currentTime;
    while (!err && !v.error && v.currentTime - start < secs && !late(90000)) await new Promise((r) => setTimeout(r, 100));
    return { src: v.dataset.liveSrc || v.currentSrc, // live view plays through MSE (a blob: URL)
       width: v.videoWidth, height: v.videoHeight, start, currentTime: v.currentTime,
      readyState: v.readyState, error: err || (v.error ? `${v.error.code} ${v.error.message}` : null) };
  }, [sel, secs]);
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent).catch(() => null);

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await login(page, cfg.base, ...cfg.user, "en");
    if (cfg.busy) {
      await show(page, cfg.base, `#/play?c=${encodeURIComponent(cfg.camera)}&from=${cfg.from}&to=${cfg.to}`, { max: 20000 });
      await page.waitForSelector("main .player .pstatus .error", { timeout: 30000 }).catch(() => {});
      await page.screenshot({ path: join(outDir, "busy.png"), fullPage: true });
      out({ step: "busy", status: await text(page, "main .player .pstatus"), label: await text(page, "main .player .rendition") });
      return;
    }

    out({ step: "probe", ...(await page.evaluate(() => {
      const type = 'video/mp4; codecs="hvc1.1.6.L93.B0"';
      return { canPlayType: document.createElement("video").canPlayType(type), isTypeSupported: MediaSource.isTypeSupported(type) };
    })) });

    const play = { step: "play" };
    const live = { step: "live" };
    const tile = `article.tile[data-id="${cfg.camera}"]`;
    for (const lang of ["en", "zh-CN"]) {
      const k = lang === "en" ? "en" : "zh";
      await setLang(page, lang);
      await page.reload({ waitUntil: "load" });
      await show(page, cfg.base, `#/play?c=${encodeURIComponent(cfg.camera)}&from=${cfg.from}&to=${cfg.to}`, { max: 20000 });
      if (k === "en") Object.assign(play, await watch(page, "main .player video", 1.5));
      play["label_" + k] = await text(page, "main .player .rendition");
      await page.screenshot({ path: join(outDir, `player-${lang}.png`), fullPage: true });
      await show(page, cfg.base, "#/cameras", { max: 20000 });
      if (k === "en") Object.assign(live, await watch(page, `${tile} video`, 1.5));
      live["label_" + k] = await text(page, `${tile} .rendition`);
      await page.screenshot({ path: join(outDir, `live-${lang}.png`), fullPage: true });
    }
    play.problems = problems;
    out(play);
    out(live);
  });
} catch (e) {
  out({ step: "error", error: String(e && e.stack || e) });
  process.exitCode = 1;
}
