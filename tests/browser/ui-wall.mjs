// ui-wall.mjs CONFIG.json: the duty-room wall (views/wall.js) and a resident's help call.
// CONFIG: {"base", "officer": [name, pw], "resident": [name, pw], "lang", "hash" (the wall's
// route with its layout and cameras), "camera" (the public camera the resident calls about),
// "tiles" (how many must play), "fail_frags" (optional: the first this many live fragment
// requests fail as a dropped connection would, so the tiles they belong to must join again)}. An officer opens the wall and waits until `tiles` live tiles
// play and the alert stream is connected; the resident presses the big help button on the
// cameras screen and calls; the wall must pop the alert up (with a beep, the first tile on the
// resident's camera); the officer acknowledges it; the resident's "My reports" must then say
// so. Prints one JSON line: {lang, tiles, playing, popup_ms, beeps, tile0, household, gone,
// resident_status, english, overflow, failed}.
import { readFileSync } from "node:fs";
import { withContexts } from "./chromium.mjs";
import { login, englishLeft, overflow, out } from "./ui-lib.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));

try {
  await withContexts(2, async ([offCtx, resCtx]) => {
    const wall = await offCtx.newPage();
    const errors = [];
    wall.on("pageerror", (e) => errors.push(String(e)));
    let failed = 0;
    if (cfg.fail_frags) {
      await wall.route("**/live-frag.m4s*", (route) => (failed < cfg.fail_frags ? (failed++, route.abort("connectionreset")) : route.continue()));
    }
    await login(wall, cfg.base, ...cfg.officer, cfg.lang);
    await wall.goto(`${cfg.base}/${cfg.hash}`, { waitUntil: "load" });
    await wall.waitForSelector("main[data-ready=wall] .wallgrid", { timeout: 20000 });
    await wall.waitForSelector(".streamstate.on", { timeout: 20000 });
    const playing = () => wall.evaluate(() => [...document.querySelectorAll(".walltile video")].filter((v) => v.readyState >= 2 && v.currentTime > 0).length);
    try {
      await wall.waitForFunction((n) => [...document.querySelectorAll(".walltile video")].filter((v) => v.readyState >= 2 && v.currentTime > 0).length >= n,
        cfg.tiles, { timeout: 60000, polling: 250 });
    } catch {
      const tiles = await wall.evaluate(() => [...document.querySelectorAll(".walltile video")].map((v) => `rs ${v.readyState} t ${v.currentTime.toFixed(1)}${v.dataset.liveError ? ` error ${v.dataset.liveError}` : ""}`));
      throw new Error(`only ${await playing()} of ${cfg.tiles} tiles play: ${tiles.join("; ")}`);
    }
    const tiles = await wall.evaluate(() => document.querySelectorAll(".walltile").length);
    const english = cfg.lang === "en" ? [] : await englishLeft(wall);

    const res = await resCtx.newPage();
    await login(res, cfg.base, ...cfg.resident, cfg.lang);
    await res.goto(`${cfg.base}/#/cameras`, { waitUntil: "load" });
    await res.waitForSelector("main[data-ready=cameras] .helpbar button.help", { timeout: 20000 });
    await res.click(".helpbar button.help");
    await res.waitForSelector("dialog.helpcall select[name=camera] option:nth-child(2)", { state: "attached", timeout: 10000 });
    await res.selectOption("dialog.helpcall select[name=camera]", cfg.camera);
    await res.fill("dialog.helpcall textarea", "help test");
    const t0 = Date.now();
    await res.click("dialog.helpcall button.danger");
    await wall.waitForSelector(".alertpop[data-kind=help]", { timeout: 10000 });
    const popupMs = Date.now() - t0;
    await wall.waitForFunction((c) => { const t = document.querySelector(".walltile"); return t && t.dataset.camera === c; }, cfg.camera, { timeout: 5000 });
    const info = await wall.evaluate(() => ({ beeps: Number(document.body.dataset.beeps || 0), tile0: document.querySelector(".walltile").dataset.camera,
      text: document.querySelector(".alertpop").innerText }));
    const ov = await overflow(res);
    await wall.click(".alertpop button.primary");
    await wall.waitForSelector(".alertpop", { state: "detached", timeout: 10000 });
    await res.waitForSelector("main[data-ready=myreports]", { timeout: 10000 });
    let status = null;
    try {
      await res.waitForSelector(".report[data-status=acknowledged]", { timeout: 20000 });
      status = "acknowledged";
    } catch { status = await res.evaluate(() => { const r = document.querySelector(".report"); return r ? r.dataset.status : null; }); }
    out({ lang: cfg.lang, tiles, playing: await playing(), popup_ms: popupMs, beeps: info.beeps, tile0: info.tile0,
          popup_text: info.text, gone: true, resident_status: status, english, overflow: ov, errors, failed });
  });
} catch (e) {
  console.error(`ui-wall.mjs: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
