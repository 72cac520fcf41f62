// play.mjs URL [SCREENSHOT.png]: open URL in headless Chromium, play every <video> on the page
// and print one JSON line per video: {src, played, start, end, duration, error, clock}.
// `played` is true when currentTime advanced by at least one second with no media error;
// `clock` is the text of the element the page marks with data-clock-for="<video id>" (the
// wall-clock time it shows for the current frame), read at the end.
// Exit status: 0 when the page loaded (look at the lines), 1 when it could not be driven.
import { withBrowser } from "./chromium.mjs";

const [url, shot] = process.argv.slice(2);
if (!url) {
  console.error("usage: node play.mjs URL [SCREENSHOT.png]");
  process.exit(2);
}

try {
  await withBrowser(async (context) => {
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
    await page.goto(url, { waitUntil: "load" });
    const ids = await page.$$eval("video", (vs) => vs.map((v, i) => v.id || (v.id = `v${i}`)));
    for (const id of ids) {
      const r = await page.evaluate(async (vid) => {
        const v = document.getElementById(vid);
        const start = v.currentTime;
        v.muted = true;
        let error = null;
        try { await v.play(); } catch (e) { error = `play(): ${e.message}`; }
        const t0 = performance.now();
        while (!error && v.currentTime - start < 1.0 && performance.now() - t0 < 20000) {
          if (v.error) error = `media error ${v.error.code}: ${v.error.message}`;
          await new Promise((res) => setTimeout(res, 100));
        }
        v.pause();
        await new Promise((res) => setTimeout(res, 300)); // let the page redraw its clock
        const clock = document.querySelector(`[data-clock-for="${vid}"]`);
        return {
          src: v.currentSrc, start, end: v.currentTime, duration: v.duration,
          error: error || (v.error ? `media error ${v.error.code}` : null),
          played: !error && !v.error && v.currentTime - start >= 1.0,
          clock: clock ? clock.textContent : null,
          clock_us: clock ? Number(clock.dataset.us || NaN) : null,
        };
      }, id);
      console.log(JSON.stringify(r));
    }
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    for (const p of problems) console.log(JSON.stringify({ problem: p }));
  });
} catch (e) {
  console.error(`play.mjs: ${url}: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
