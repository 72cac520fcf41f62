// chromium.mjs: start Debian's Chromium headless through playwright-core, the one way camvault's
// browser tests open a browser. No network is used: every page the tests open is a local file
// or a server on 127.0.0.1, and the flags below keep Chromium from calling home.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CAMVAULT_CHROMIUM || "/usr/bin/chromium";

const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
  // file:// pages may load the files next to them (the package's working copies)
  "--allow-file-access-from-files",
];

// A fresh profile each time; closes it all when `fn` returns or throws.
export async function withBrowser(fn, { width = 1280, height = 800 } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "camvault-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    args: ARGS,
  });
  try {
    return await fn(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// One browser with `n` separate contexts (each its own cookies and storage, like n visitors):
// fn(contexts). Closes it all when `fn` returns or throws.
export async function withContexts(n, fn, { width = 1280, height = 800 } = {}) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const contexts = [];
    for (let i = 0; i < n; i++) contexts.push(await browser.newContext({ viewport: { width, height } }));
    return await fn(contexts);
  } finally {
    await browser.close();
  }
}
