// What every browser test script shares: Debian's Chromium launched headless as this machine
// needs it (no sandbox as root, no background networking on a closed network), a phone-sized
// page, and a runner that reports failures with a screenshot and a non-zero exit.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** Runs `body(page)` on a 390×844 page; exits 1 with the reasons if it or the page failed. */
export async function run(name, artifacts, body, { autoplay = false, permissions = [], origin } = {}) {
  mkdirSync(artifacts, { recursive: true });
  const args = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ];
  if (autoplay) args.push("--autoplay-policy=no-user-gesture-required");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args,
  });
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  if (permissions.length) await context.grantPermissions(permissions, { origin });
  const page = await context.newPage();
  const failures = [];
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.error(`console: ${m.text()}`);
  });
  let result;
  try {
    result = await body(page);
  } catch (e) {
    failures.push(e.stack || String(e));
    await page.screenshot({ path: join(artifacts, `${name}-failure.png`), fullPage: true })
      .catch(() => {});
  }
  await browser.close();
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
  if (result !== undefined) console.log(JSON.stringify(result));
}
