// ui-live.mjs CONFIG.json: the cameras screen's live view at the live edge. CONFIG: {"base",
// "user": [name, pw], "camera", "play_s" (watch this long), "throttle_s" (then freeze the page
// this long), "after_s" (the most to wait for the edge after)}. Prints one JSON line:
// {samples, stalls, max_stall_s, play_lag_max, frozen_lag, back_after_s, back_lag, jumps,
// error}. `lag` is the newest buffered time minus currentTime (s): the player reads the stream
// as it comes (MSE), so that is how far it is behind the live edge; a stall is currentTime not
// advancing for more than 1.5 s while playing. The "throttle": the video paused (as Chromium
// pauses a background tab's video) and the CPU throttled (CDP) for throttle_s, then played.
import { readFileSync } from "node:fs";
import { withBrowser } from "./chromium.mjs";
import { login, out } from "./ui-lib.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    await login(page, cfg.base, ...cfg.user);
    await page.goto(`${cfg.base}/#/cameras`, { waitUntil: "load" });
    const sel = `.tile[data-id="${cfg.camera}"] video`;
    try {
      await page.waitForFunction((s) => { const v = document.querySelector(s); return v && v.readyState >= 2 && v.currentTime > 0; },
        sel, { timeout: 30000, polling: 100 });
    } catch (e) {
      const why = await page.evaluate((s) => { const v = document.querySelector(s); return v ? { rs: v.readyState, ct: v.currentTime, err: v.error && v.error.message, live: v.dataset.liveError, src: v.currentSrc, mse: window.MediaSource ? MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f"') : "none" } : "no video"; }, sel);
      throw new Error(`the live view does not play: ${JSON.stringify(why)}`);
    }
    const sample = () => page.evaluate((s) => {
      const v = document.querySelector(s), b = v.buffered;
      return { rate: v.playbackRate, t: performance.now() / 1000, ct: v.currentTime, lag: b.length ? b.end(b.length - 1) - v.currentTime : 0,
               paused: v.paused, error: v.error ? v.error.code : null, jumps: Number(v.dataset.jumps || 0) };
    }, sel);
    const samples = [];
    let stalls = 0, maxStall = 0, lastMove = null, lastCt = -1;
    const t0 = Date.now();
    while (Date.now() - t0 < cfg.play_s * 1000) {
      const s = await sample();
      samples.push(s);
      if (s.ct > lastCt) { lastMove = s.t; lastCt = s.ct; }
      else if (s.t - lastMove > 1.5) { stalls++; lastMove = s.t; }
      if (lastMove !== null) maxStall = Math.max(maxStall, s.t - lastMove);
      await sleep(250);
    }
    const playLagMax = Math.max(...samples.slice(8).map((s) => s.lag));
    // Freeze the page as a browser does with a background tab: no timers, no rendering.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Page.enable");
    // A background tab: Chromium pauses its video and throttles its CPU; the stream goes on.
    await page.evaluate((s) => document.querySelector(s).pause(), sel);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: cfg.rate });
    await sleep(cfg.throttle_s * 1000);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 1 });
    const frozen = await sample();
    await page.evaluate((s) => document.querySelector(s).play(), sel);
    const t1 = Date.now();
    let back = null, now = frozen;
    while (Date.now() - t1 < cfg.after_s * 1000) {
      now = await sample();
      if (now.lag <= 1.0 && now.ct > frozen.ct) { back = (Date.now() - t1) / 1000; break; }
      await sleep(100);
    }
    out({ samples: samples.length, stalls, max_stall_s: maxStall, play_lag_max: playLagMax,
          frozen_lag: frozen.lag, back_after_s: back, back_lag: now.lag, jumps: now.jumps,
          error: now.error });
  });
} catch (e) {
  console.error(`ui-live.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
