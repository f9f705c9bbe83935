// The merchant's console in a real browser at phone size. Run by tests/api/web.rs:
//
//   node web/tests/merchant.mjs BASE_URL MERCHANT_SESSION VIDEO_ID IMAGE ARTIFACTS_DIR
//
// Creates a product with a picture, opens the clip, scrubs with the storyboard, sets a tag's
// start (20 %) and end (50 %) on the timeline and its pin at the frame's centre, creates the
// tag, and prints `{"tag", "product"}` as the last line.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run } from "./browser.mjs";
import { createProduct, createTag, openClip, setRange } from "./pages.mjs";

const [base, merchantSession, video, image, artifacts] = process.argv.slice(2);

await run("merchant", artifacts, async (page) => {
  await page.goto(`${base}/merchant`);
  await page.waitForSelector("#app:not([hidden])");

  // A product with a picture.
  const productId = await createProduct(page, {
    title: "Carrot plush", price: "19.99", stock: 5, category: "toys", image,
  });

  // The clip, with its storyboard under it: start at 20 %, end at 50 %, pin at the centre of
  // the picture.
  await openClip(page, video);
  const { start, end } = await setRange(page, 0.2, 0.5);
  const tagger = page.locator("#tagger");
  await page.locator("#tag-video").scrollIntoViewIfNeeded();
  const stage = await page.locator("#tag-video").boundingBox();
  await page.mouse.click(stage.x + stage.width / 2, stage.y + stage.height / 2);
  const [px, py] = (await tagger.getAttribute("data-pin")).split(",").map(Number);
  assert.ok(Math.abs(px - 0.5) < 0.01 && Math.abs(py - 0.5) < 0.01, `pin at ${px},${py}`);

  await page.fill("#tag-label", "Soft & cuddly");
  const { tag, said } = await createTag(page);
  assert.match(said, /approval/);
  await page.waitForSelector(`#video-tags .tag[data-tag-id="${tag}"][data-status="pending"]`);
  await page.screenshot({ path: join(artifacts, "merchant.png"), fullPage: true });
  return { tag, product: productId, start, end };
}, { session: merchantSession, base });
