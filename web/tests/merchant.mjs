// The merchant's console in a real browser at phone size. Run by tests/web.rs:
//
//   node web/tests/merchant.mjs BASE_URL MERCHANT_TOKEN VIDEO_ID IMAGE ARTIFACTS_DIR
//
// Creates a product with a picture, opens the clip, scrubs with the storyboard, sets a tag's
// start (20 %) and end (50 %) on the timeline and its pin at the frame's centre, creates the
// tag, and prints `{"tag", "product"}` as the last line.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run } from "./browser.mjs";

const [base, merchantToken, video, image, artifacts] = process.argv.slice(2);
/** The test\'s page (set when the run starts), for the helpers below. */
let page;
async function clickTimelineAt(fraction) {
  await page.locator("#timeline").scrollIntoViewIfNeeded();
  const box = await page.locator("#timeline").boundingBox();
  await page.mouse.click(box.x + box.width * fraction, box.y + box.height / 2);
  await page.waitForFunction(
    (f) => {
      const v = document.getElementById("tag-video");
      return !v.seeking && Math.abs(v.currentTime - f * v.duration) < 0.05 * v.duration;
    },
    fraction,
    { timeout: 10_000 },
  );
}

await run("merchant", artifacts, async (p) => {
  page = p;
  await page.addInitScript((t) => localStorage.setItem("vitrine.token.merchant", t), merchantToken);
  await page.goto(`${base}/merchant`);
  await page.waitForSelector("#app:not([hidden])");

  // A product with a picture.
  await page.fill("#p-title", "Carrot plush");
  await page.fill("#p-price", "19.99");
  await page.fill("#p-stock", "5");
  await page.fill("#p-category", "toys");
  await page.setInputFiles("#p-image", image);
  await page.click("#product-form button[type=submit]");
  const product = page.locator(".product", { hasText: "Carrot plush" });
  await product.waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => document.querySelector(".product img")?.naturalWidth > 0);
  const productId = await product.getAttribute("data-product-id");
  assert.equal(await page.locator("#tag-product").inputValue(), productId);

  // The clip, with its storyboard under it.
  await page.fill("#video-id", video);
  await page.click("#open-form button[type=submit]");
  await page.waitForSelector("#tagger:not([hidden])");
  await page.waitForFunction(() => {
    const v = document.getElementById("tag-video");
    return v.readyState >= 1 && v.duration > 0;
  }, null, { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelectorAll(".frame-thumb").length > 1, null, {
    timeout: 10_000,
  });

  // Start at 20 %, end at 50 %, pin at the centre of the picture.
  await clickTimelineAt(0.2);
  await page.click("#set-start");
  await clickTimelineAt(0.5);
  await page.click("#set-end");
  const tagger = page.locator("#tagger");
  const start = Number(await tagger.getAttribute("data-start"));
  const end = Number(await tagger.getAttribute("data-end"));
  assert.ok(end > start && start > 0, `range ${start}–${end}`);
  await page.locator("#tag-video").scrollIntoViewIfNeeded();
  const stage = await page.locator("#tag-video").boundingBox();
  await page.mouse.click(stage.x + stage.width / 2, stage.y + stage.height / 2);
  const [px, py] = (await tagger.getAttribute("data-pin")).split(",").map(Number);
  assert.ok(Math.abs(px - 0.5) < 0.01 && Math.abs(py - 0.5) < 0.01, `pin at ${px},${py}`);

  await page.fill("#tag-label", "Soft & cuddly");
  await page.click("#tag-form button[type=submit]");
  const result = page.locator("#tag-result[data-tag-id]");
  await result.waitFor({ timeout: 10_000 });
  assert.match(await result.textContent(), /approval/);
  const tag = await result.getAttribute("data-tag-id");
  await page.waitForSelector(`#video-tags .tag[data-tag-id="${tag}"][data-status="pending"]`);
  await page.screenshot({ path: join(artifacts, "merchant.png"), fullPage: true });
  return { tag, product: productId, start, end };
});
