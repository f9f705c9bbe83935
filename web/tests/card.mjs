// A viewer (not signed in) opens a shared link to a clip and sees the product card of TAG_ID
// while its range plays, watching as an anonymous viewer the page made for them. Run by
// tests/api/web.rs:
//
//   node web/tests/card.mjs BASE_URL VIDEO_ID TAG_ID ARTIFACTS_DIR

import { join } from "node:path";
import { run } from "./browser.mjs";

const [base, video, tag, artifacts] = process.argv.slice(2);
await run("card", artifacts, async (page) => {
  await page.goto(`${base}/?v=${video}`);
  await page.waitForSelector('body[data-anonymous="true"][data-viewer-id^="acc_"]');
  await page.waitForSelector("#signin-open:not([hidden])");
  await page.waitForSelector(`.slide[aria-hidden="false"] .card[data-tag-id="${tag}"]`, {
    state: "visible",
    timeout: 30_000,
  });
  await page.screenshot({ path: join(artifacts, "viewer-merchant-tag.png") });
}, { autoplay: true });
