// Two people, each in a browser of their own, from signing up to a sale. Run by tests/api/web.rs on a
// fresh server (no accounts):
//
//   node web/tests/journey.mjs BASE_URL VIDEO_FILE ARTIFACTS_DIR
//
// Mia signs up in the studio (her first password refused as too common), becomes a creator,
// uploads VIDEO_FILE through tus and waits for it to be ready, opens a shop in the console,
// lists a product with stock, tags it into her clip over a range inside it, and signs out. Ben
// opens the clip's link: the page made him an anonymous viewer; he taps the product card, and
// buying asks him to sign up, in the sheet, then goes on to the paid order. Mia signs in again
// and her console shows the sale. Along the way: the pages' security headers, an HttpOnly
// session cookie the page's scripts cannot read, and signing out ending the session. Prints
// `{"video", "product", "tag", "order", "seller", "buyer"}` as the last line.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run, SESSION_COOKIE } from "./browser.mjs";
import { createProduct, createTag, openClip, setRange, signIn, signUp, waitReady } from "./pages.mjs";

const [base, file, artifacts] = process.argv.slice(2);
const mia = { name: "Mia", email: "mia@example.com", password: "carrot lip balm 42" };
const ben = { name: "Ben", email: "ben@example.com", password: "blue bicycle bells" };

/** The session cookie as the browser keeps it for `page`, if any. */
async function sessionCookie(page) {
  return (await page.context().cookies(base)).find((c) => c.name === SESSION_COOKIE);
}

/** Where the pages' headers fall short of what the issue asks; empty when they do not. */
function securityGaps(headers) {
  const gaps = [];
  const csp = headers["content-security-policy"] || "";
  const directive = (name) => csp.split(";").map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) || "";
  if (!directive("frame-ancestors").includes("'none'")) gaps.push(`frame-ancestors 'none' missing: ${csp}`);
  const scripts = directive("script-src") || directive("default-src");
  if (!scripts || /unsafe-inline|unsafe-eval/.test(scripts)) gaps.push(`script-src: ${scripts}`);
  if (!directive("object-src").includes("'none'")) gaps.push(`object-src 'none' missing: ${csp}`);
  if (headers["x-content-type-options"] !== "nosniff") gaps.push("X-Content-Type-Options");
  if (headers["referrer-policy"] !== "strict-origin-when-cross-origin") gaps.push("Referrer-Policy");
  return gaps;
}

await run("journey", artifacts, async (page, { newPage }) => {
  // ---- Mia signs up in the studio. ----
  await page.goto(`${base}/studio`);
  await page.waitForSelector("#auth:not([hidden])");
  assert.ok(await page.locator("#app").isHidden(), "no studio before signing in");
  const form = await signUp(page, "#auth", { ...mia, password: "password" });
  const refused = form.locator(".error");
  await refused.filter({ hasText: /./ }).waitFor({ timeout: 10_000 });
  assert.match(await refused.textContent(), /common/, "the API's reason is shown");
  await signUp(page, "#auth", mia);

  // Signed in, with a cookie the page's scripts cannot read.
  await page.waitForSelector("#setup:not([hidden])", { timeout: 10_000 });
  assert.equal(await page.locator("#who").textContent(), mia.name);
  const cookie = await sessionCookie(page);
  assert.ok(cookie, "the sign-up set the session cookie");
  assert.ok(cookie.httpOnly, "the session cookie is HttpOnly");
  assert.equal(cookie.sameSite, "Lax");
  assert.ok(!(await page.evaluate(() => document.cookie)).includes(SESSION_COOKIE),
    "document.cookie does not show the session");
  assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing kept in localStorage");

  // She becomes a creator (a handle), and the studio opens.
  await page.fill("#handle", "mia.makes");
  await page.click("#setup button[type=submit]");
  await page.waitForSelector("#app:not([hidden])", { timeout: 10_000 });

  // Her clip, uploaded through tus (the cookie signs its requests), until it is ready.
  await page.fill("#title", "Carrot balm in 2 seconds");
  await page.setInputFiles("#file", file);
  await page.click("#upload-start");
  await page.waitForSelector('#transfer[data-done="true"]', { timeout: 60_000 });
  const video = await page.locator("#transfer").getAttribute("data-video-id");
  assert.ok(video, "the upload named its video");
  await waitReady(page, video);
  await page.screenshot({ path: join(artifacts, "journey-studio.png"), fullPage: true });

  // ---- Her shop: opened in the console, a product listed and tagged into the clip. ----
  await page.goto(`${base}/merchant`);
  await page.waitForSelector("#setup:not([hidden])");
  await page.fill("#shop-name", "Mia's Balms");
  await page.click("#setup button[type=submit]");
  await page.waitForSelector("#app:not([hidden])", { timeout: 10_000 });
  const product = await createProduct(page, { title: "Carrot lip balm", price: "12.99", stock: 5 });
  await openClip(page, video);
  const range = await setRange(page, 0.15, 0.75);
  const { tag, said } = await createTag(page);
  assert.match(said, /live/, "her own product on her own clip needs no approval");
  await page.waitForSelector(`#video-tags .tag[data-tag-id="${tag}"][data-status="live"]`);

  // She signs out: the session ends, the cookie goes.
  await page.click("#signout");
  await page.waitForSelector("#auth:not([hidden])");
  assert.equal(await sessionCookie(page), undefined, "signing out cleared the cookie");
  assert.equal(await page.evaluate(() => fetch("/v1/me").then((r) => r.status)), 401);

  // ---- Ben, in a browser of his own, opens the clip's link. ----
  const buyer = await newPage();
  const response = await buyer.goto(`${base}/?v=${video}`);
  assert.deepEqual(securityGaps(response.headers()), [], "the page's security headers");
  await buyer.waitForSelector('body[data-anonymous="true"][data-viewer-id^="acc_"]');
  await buyer.waitForSelector("#signin-open:not([hidden])");
  assert.ok(await buyer.locator("#who").isHidden(), "an anonymous viewer has no name in the header");
  const current = buyer.locator('.slide[aria-hidden="false"]');
  assert.equal(await current.getAttribute("data-video-id"), video);

  // The card shows while its range plays; he pauses there and taps it.
  const card = current.locator(`.card[data-tag-id="${tag}"]`);
  let tapped = false;
  for (let attempt = 0; attempt < 5 && !tapped; attempt++) {
    await card.waitFor({ state: "visible", timeout: 20_000 });
    await buyer.locator("#feed").focus();
    await buyer.keyboard.press(" ");
    await buyer.waitForFunction(() => document.querySelector('.slide[aria-hidden="false"] video').paused);
    if (await card.isVisible()) {
      await card.click();
      tapped = true;
    } else {
      await buyer.keyboard.press(" "); // paused just past the range: play on, try again
    }
  }
  assert.ok(tapped, "the card could be tapped");
  await buyer.locator("#sheet").waitFor({ state: "visible" });
  await buyer.waitForFunction(() => document.getElementById("sheet-stock").dataset.units === "5");

  // Buying asks him to sign up, in the sheet; then the order goes through.
  await buyer.locator("#buy").click();
  await buyer.waitForSelector('#sheet-auth:not([hidden]) form[data-form="signup"]:not([hidden])');
  assert.ok(await buyer.locator("#buy").isHidden(), "no buying before signing up");
  await buyer.screenshot({ path: join(artifacts, "journey-sign-up-to-buy.png") });
  await signUp(buyer, "#sheet-auth", ben);
  const result = buyer.locator("#sheet-result[data-order-id]");
  await result.waitFor({ timeout: 20_000 });
  assert.match(await result.textContent(), /paid/);
  assert.match(await result.textContent(), /12\.99/);
  const order = await result.getAttribute("data-order-id");
  await buyer.waitForFunction(() => document.getElementById("sheet-stock").dataset.units === "4");
  assert.equal(await buyer.locator("#who").textContent(), ben.name);
  assert.equal(await buyer.locator("body").getAttribute("data-anonymous"), "false");
  await buyer.screenshot({ path: join(artifacts, "journey-bought.png") });

  // ---- Mia signs in again: the console shows the sale. ----
  await signIn(page, "#auth", mia);
  await page.waitForSelector("#app:not([hidden])", { timeout: 10_000 });
  const row = page.locator(`#analytics tr[data-product-id="${product}"][data-video-id="${video}"]`);
  await row.waitFor({ timeout: 15_000 });
  const cell = async (name) => (await row.locator(`td.${name}`).textContent()).trim();
  assert.ok(Number(await cell("clicks")) >= 1, "Ben's tap on the card");
  assert.equal(await cell("orders"), "1");
  assert.match(await cell("gmv"), /12\.99/);
  await row.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifacts, "journey-sale.png") });

  return { video, product, tag, order, range, seller: mia.email, buyer: ben.email };
}, { autoplay: true });
