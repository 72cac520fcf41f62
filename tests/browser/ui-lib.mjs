// ui-lib.mjs: helpers shared by the web UI's browser drivers (ui-*.mjs).
export async function login(page, base, user, password, lang = "en") {
  await page.goto(base + "/#/login", { waitUntil: "load" });
  // the app has its string tables (fetched by i18n.js, after "load") before the reload: a
  // reload that cuts that fetch short is a "Failed to fetch" error of the page it leaves
  await page.waitForSelector("main[data-ready]", { timeout: 15000 });
  await page.evaluate((l) => localStorage.setItem("cv_lang", l), lang);
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector("main[data-ready=login] input[name=user]", { timeout: 15000 });
  await page.fill("input[name=user]", user);
  await page.fill("input[name=password]", password);
  await page.click("form.login button[type=submit]");
  await page.waitForFunction(() => { const m = document.querySelector("main"); return m.dataset.ready && m.dataset.ready !== "login"; }, null, { timeout: 15000 });
}

// The requests a page has in flight, media streams aside (a live view never ends): the
// screens' API calls, scripts, images. Kept from trackRequests(page) on.
const inflight = new WeakMap();
export function trackRequests(page) {
  if (inflight.has(page)) return inflight.get(page);
  const open = new Set();
  inflight.set(page, open);
  const streams = ["media", "eventsource", "websocket"];
  page.on("request", (r) => { if (!streams.includes(r.resourceType())) open.add(r); });
  page.on("requestfinished", (r) => open.delete(r));
  page.on("requestfailed", (r) => open.delete(r));
  return open;
}

// Wait until a screen that has marked itself ready has also settled: no request in flight, every
// player done loading (its status line empty or an error), every video with a source past its
// metadata (or failed), every image loaded, and so for `quiet` ms in a row (one request done
// and the next not yet sent is not quiet), each check after two animation frames (layout and
// paint caught up). At most `max` ms: a screen that never settles is looked at as it is then.
// Returns how long it took.
export async function settle(page, { max = 8000, quiet = 100 } = {}) {
  const open = trackRequests(page);
  const t0 = Date.now();
  let calm = null;
  while (Date.now() - t0 < max) {
    const still = await page.evaluate(() => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(() => {
      const busy = [];
      for (const s of document.querySelectorAll(".player .pstatus")) if (s.textContent && !s.querySelector(".error")) busy.push("player");
      for (const v of document.querySelectorAll("video")) if ((v.getAttribute("src") || v.currentSrc) && v.readyState < 1 && !v.error) busy.push("video");
      for (const i of document.images) if (!i.complete) busy.push("img");
      res(busy.length);
    }))));
    if (still || open.size) calm = null;
    else if (calm === null) calm = Date.now();
    else if (Date.now() - calm >= quiet) return Date.now() - t0;
    await page.waitForTimeout(50);
  }
  return Date.now() - t0;
}

// Open a screen by its hash route and wait until it has rendered and settled.
export async function show(page, base, hash, { max = 8000 } = {}) {
  trackRequests(page).clear(); // what the last screen left running is not this screen's
  await page.evaluate(() => { delete document.querySelector("main").dataset.ready; });
  const same = await page.evaluate((h) => location.hash === h || location.hash === h.replace(/^#/, ""), hash);
  if (same) await page.reload({ waitUntil: "load" }); // the same hash again: no hashchange
  else if (page.url().startsWith(base)) await page.evaluate((h) => { location.hash = h; }, hash);
  else await page.goto(base + "/" + hash, { waitUntil: "load" });
  await page.waitForFunction(() => !!document.querySelector("main").dataset.ready, null, { timeout: 20000 });
  return settle(page, { max });
}

export async function setLang(page, lang) {
  await page.evaluate((l) => { localStorage.setItem("cv_lang", l); }, lang);
}

// Visible text (and placeholders, titles, labels, options) that is English: words of two or
// more Latin letters outside elements marked translate="no", <code> and <pre>.
export async function englishLeft(page) {
  return page.evaluate(() => {
    const out = [];
    const skip = (el) => el.closest("[translate=no],code,pre,script,style,noscript,video,datalist");
    const visible = (el) => el.checkVisibility ? el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }) : !!el.offsetParent;
    const latin = /[A-Za-z]{2,}/;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || skip(el) || !latin.test(n.nodeValue)) continue;
      if (el.tagName === "OPTION") { const sel = el.closest("select"); if (!sel || !visible(sel)) continue; }
      else if (!visible(el)) continue;
      out.push(n.nodeValue.trim().slice(0, 80));
    }
    for (const el of document.querySelectorAll("[placeholder],[title],[aria-label],[alt]")) {
      if (skip(el) || !visible(el)) continue;
      for (const a of ["placeholder", "title", "aria-label", "alt"]) {
        const v = el.getAttribute(a);
        if (v && latin.test(v)) out.push(`${a}=${v.slice(0, 80)}`);
      }
    }
    if (latin.test(document.title)) out.push("title: " + document.title);
    return out;
  });
}

// Is the page wider than the viewport? Lists the elements that stick out.
export async function overflow(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const sw = document.documentElement.scrollWidth;
    const culprits = [];
    if (sw > w) {
      for (const el of document.querySelectorAll("body *")) {
        const r = el.getBoundingClientRect();
        if (r.right > w + 1 && r.width > 0) culprits.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")} right=${Math.round(r.right)}`);
        if (culprits.length > 8) break;
      }
    }
    return { width: w, scrollWidth: sw, culprits };
  });
}

export function out(o) { console.log(JSON.stringify(o)); }
