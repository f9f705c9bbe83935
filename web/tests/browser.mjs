// What every browser test script shares: Debian's Chromium launched headless as this machine
// needs it (no sandbox as root, no background networking on a closed network), phone-sized
// pages, and a runner that reports failures with a screenshot and a non-zero exit. Anything the
// Content-Security-Policy blocks on a page is a failure too: the pages must work under it.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** The pages' session cookie, as the API sets it. */
export const SESSION_COOKIE = "vitrine_session";

/**
 * Runs `body(page, { newPage })` on a 390×844 page; exits 1 with the reasons if it or a page
 * failed. `newPage()` opens another page in a browser context of its own (another person: its
 * own cookies and storage). `session` (a session token from the Rust test) signs the first page
 * in, as if the person had signed in in this browser.
 */
export async function run(name, artifacts, body, { autoplay = false, permissions = [], origin, session, base } = {}) {
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
  const failures = [];
  const pages = [];
  const newPage = async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    if (permissions.length) await context.grantPermissions(permissions, { origin });
    const page = await context.newPage();
    const label = pages.length ? `page ${pages.length + 1}: ` : "";
    page.on("pageerror", (e) => failures.push(`${label}page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      console.error(`${label}console: ${m.text()}`);
      if (/Content Security Policy/i.test(m.text())) failures.push(`${label}blocked by the CSP: ${m.text()}`);
    });
    pages.push(page);
    return page;
  };
  const page = await newPage();
  if (session) await signInAs(page, base, session);
  let result;
  try {
    result = await body(page, { newPage });
  } catch (e) {
    failures.push(e.stack || String(e));
    for (const [i, p] of pages.entries()) {
      const suffix = i ? `-${i + 1}` : "";
      await p.screenshot({ path: join(artifacts, `${name}-failure${suffix}.png`), fullPage: true })
        .catch(() => {});
    }
  }
  await browser.close();
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
  if (result !== undefined) console.log(JSON.stringify(result));
}

/** Puts a session token in `page`'s cookie jar, as the API's answer to a sign-in would. */
export async function signInAs(page, base, token) {
  await page.context().addCookies([
    { name: SESSION_COOKIE, value: token, url: base, httpOnly: true, sameSite: "Lax" },
  ]);
}
