// The viewer's feed in a real browser (Debian's Chromium, driven by playwright-core), at phone
// size. Run by tests/api/web.rs against a `vitrine serve` it started and filled:
//
//   node web/tests/viewer.mjs BASE_URL VIEWER_SESSION TAGGED_VIDEO_ID TAG_ID ARTIFACTS_DIR
//
// Exits non-zero (with the reason) at the first expectation that fails.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run } from "./browser.mjs";

const [base, viewerSession, taggedVideo, tagId, artifacts] = process.argv.slice(2);
/** The test\'s page (set when the run starts), for the helpers below. */
let page;
const current = () => page.locator('.slide[aria-hidden="false"]');

const currentTime = () => page.evaluate(
  () => document.querySelector('.slide[aria-hidden="false"] video')?.currentTime ?? -1,
);

/** Waits until the clip on screen plays past `after` seconds (and before `before`, if given). */
async function waitTime(after, before, what, timeout = 30_000) {
  await page.waitForFunction(
    ([lo, hi]) => {
      const t = document.querySelector('.slide[aria-hidden="false"] video')?.currentTime ?? -1;
      return t > lo && (hi === null || t < hi);
    },
    [after, before],
    { timeout, polling: 50 },
  ).catch(async () => {
    throw new Error(`${what}: currentTime stayed ${await currentTime()}`);
  });
}

await run("viewer", artifacts, async (p) => {
  page = p;
  // Signed in as the viewer; a shared link opens on the tagged clip.
  await page.addInitScript(() => {
    // The Layout Instability API: every unexpected shift of the page's layout, summed.
    window.layoutShift = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.layoutShift += e.value;
    }).observe({ type: "layout-shift", buffered: true });
  });
  await page.goto(`${base}/?v=${taggedVideo}`);
  await page.waitForSelector('.who:not([hidden])');
  assert.equal(await page.locator("#who").textContent(), "Vic");
  assert.ok(await page.locator("#signin-open").isHidden(), "no sign-in button for a signed-in person");

  // It plays, through hls.js, which loaded a level.
  assert.equal(await current().getAttribute("data-video-id"), taggedVideo);
  await waitTime(1.0, null, "the clip plays past 1 s");
  assert.equal(await current().getAttribute("data-player"), "hls.js");
  assert.ok(await current().getAttribute("data-level-loaded") !== null, "hls.js loaded a level");
  assert.ok(await page.locator('.slide[aria-hidden="false"] .poster').isHidden(), "poster gone once playing");

  // The product card shows inside its tag's range (1.5–4 s), with its pin, and not after it.
  const card = current().locator(".card");
  await card.waitFor({ state: "visible", timeout: 10_000 });
  let t = await currentTime();
  assert.ok(t >= 1.4 && t < 4.1, `card visible at ${t}`);
  assert.equal(await card.getAttribute("data-tag-id"), tagId);
  assert.equal(await current().locator(".pin").count(), 1, "the tag's pin is on the frame");
  const slot = await current().locator(".card-slot").boundingBox();
  await page.screenshot({ path: join(artifacts, "viewer-card.png") });
  await waitTime(4.3, 9, "the clip plays past the tag's end");
  assert.ok(await card.isHidden(), "card hidden after the range");
  const slotAfter = await current().locator(".card-slot").boundingBox();
  assert.deepEqual(slotAfter, slot, "the card's slot does not move");
  assert.equal(await page.evaluate(() => window.layoutShift), 0, "no layout shift as cards come and go");

  // Back in range (the clip loops): the card, reached with the keyboard, opens the sheet; buy one.
  await card.waitFor({ state: "visible", timeout: 15_000 });
  await card.focus();
  await page.keyboard.press("Enter");
  const sheet = page.locator("#sheet");
  await sheet.waitFor({ state: "visible" });
  await page.waitForFunction(() => document.getElementById("sheet-stock").dataset.units);
  // The sizes: S sold out (not selectable), L chosen, with its own price and stock.
  const sizes = page.locator("#sheet-variants input[name=variant]");
  assert.equal(await sizes.count(), 2);
  assert.ok(await sizes.nth(0).isDisabled(), "the sold-out size cannot be chosen");
  assert.ok(await sizes.nth(1).isChecked(), "the size in stock is chosen");
  assert.match(await page.locator("#sheet-price").textContent(), /24\.99/);
  const before = Number(await page.locator("#sheet-stock").getAttribute("data-units"));
  assert.equal(before, 3);
  await page.screenshot({ path: join(artifacts, "viewer-sheet.png") });
  const ordered = page.waitForResponse((r) => r.url().endsWith("/pay") && r.status() === 200);
  await page.locator("#buy").click();
  await ordered;
  await page.waitForFunction(
    (n) => Number(document.getElementById("sheet-stock").dataset.units) === n,
    before - 1,
    { timeout: 10_000 },
  );
  assert.match(await page.locator("#sheet-result").textContent(), /paid/);
  await page.locator("#sheet .close").click();
  await sheet.waitFor({ state: "hidden" });

  // The next clip is already buffered before the swipe, so it starts at once.
  await page.waitForFunction(
    () => document.querySelector('.slide[data-index="1"] video')?.readyState >= 2,
    null,
    { timeout: 10_000 },
  );

  // Swipe up: the next clip comes and plays.
  const first = await current().getAttribute("data-video-id");
  const box = await page.locator("#feed").boundingBox();
  const x = box.x + box.width / 3;
  await page.mouse.move(x, box.y + box.height * 0.7);
  await page.mouse.down();
  await page.mouse.move(x, box.y + box.height * 0.3, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(
    (id) => document.querySelector('.slide[aria-hidden="false"]')?.dataset.videoId !== id,
    first,
    { timeout: 5_000 },
  );
  const second = await current().getAttribute("data-video-id");
  assert.notEqual(second, first);
  await waitTime(0.3, null, "the next clip plays");
  await page.screenshot({ path: join(artifacts, "viewer-next.png") });

  // Arrow up goes back.
  await page.keyboard.press("ArrowUp");
  await page.waitForFunction(
    (id) => document.querySelector('.slide[aria-hidden="false"]')?.dataset.videoId === id,
    first,
    { timeout: 5_000 },
  );

  // Space pauses, m unmutes (and the speaker button says so).
  await page.locator("#feed").focus();
  await page.keyboard.press(" ");
  await page.waitForFunction(() => document.querySelector('.slide[aria-hidden="false"] video').paused);
  await page.keyboard.press("m");
  assert.equal(await page.evaluate(() => document.querySelector('.slide[aria-hidden="false"] video').muted), false);
  assert.equal(await page.locator("#mute").getAttribute("aria-pressed"), "false");

  // Share copies a link that opens on this clip.
  await current().locator(".share").click();
  await page.locator("#toast.show").waitFor({ timeout: 5_000 });
  const link = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(link, `${base}/?v=${first}`);

  // The viewing actions reach the API in batches.
  const sent = page.waitForResponse(
    (r) => r.url().endsWith("/v1/events") && r.status() === 200
      && (r.request().postData() || "").includes('"like"'),
    { timeout: 10_000 },
  );
  await current().locator(".like").click();
  assert.equal(await current().locator(".like").getAttribute("aria-pressed"), "true");
  await sent;

  // Not interested: the clip goes, the next one comes (and the server hears of it).
  const told = page.waitForResponse(
    (r) => r.url().endsWith("/v1/events") && r.status() === 200
      && (r.request().postData() || "").includes('"not_interested"'),
    { timeout: 10_000 },
  );
  await current().locator(".not-interested").click();
  await told;
  await page.waitForFunction(
    (id) => document.querySelector('.slide[aria-hidden="false"]')?.dataset.videoId !== id,
    first,
    { timeout: 5_000 },
  );
}, {
  autoplay: true, permissions: ["clipboard-read", "clipboard-write"], origin: base,
  session: viewerSession, base,
});
