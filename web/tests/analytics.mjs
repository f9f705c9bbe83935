// The merchant's console shows what a viewer's visit did: run by tests/api/web.rs after the viewer
// test bought one unit through the clip's card.
//
//   node web/tests/analytics.mjs BASE_URL MERCHANT_SESSION PRODUCT_ID VIDEO_ID ARTIFACTS_DIR

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run } from "./browser.mjs";

const [base, merchantSession, product, video, artifacts] = process.argv.slice(2);

await run("analytics", artifacts, async (page) => {
  await page.goto(`${base}/merchant`);
  const row = page.locator(`#analytics tr[data-product-id="${product}"][data-video-id="${video}"]`);
  await row.waitFor({ timeout: 15_000 });
  const cell = async (name) => (await row.locator(`td.${name}`).textContent()).trim();
  assert.ok(Number(await cell("impressions")) >= 1, "the viewer's impression of the live tag");
  assert.ok(Number(await cell("clicks")) >= 1, "the viewer's tap on the card");
  assert.equal(await cell("orders"), "1");
  assert.match(await cell("gmv"), /24\.99/);
  await row.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifacts, "merchant-analytics.png") });
}, { session: merchantSession, base });
