// The creator's studio in a real browser at phone size. Run by tests/api/web.rs:
//
//   node web/tests/studio.mjs BASE_URL CREATOR_SESSION FILE TAGGED_VIDEO_ID TAG_ID OTHER_TAG_ID ARTIFACTS_DIR
//
// Uploads FILE through tus, reloads the page half-way and resumes, watches the video reach
// `ready` with its poster and renditions, approves the pending tag TAG_ID and rejects
// OTHER_TAG_ID.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run } from "./browser.mjs";
import { waitReady } from "./pages.mjs";

const [base, creatorSession, file, taggedVideo, tagId, otherTagId, artifacts] = process.argv.slice(2);
await run("studio", artifacts, async (page) => {
  // Signed in (the session cookie, which tus's requests carry too).
  await page.goto(`${base}/studio`);
  await page.waitForSelector("#app:not([hidden])");
  assert.equal(await page.locator("#who").textContent(), "Cleo");

  // Each acknowledged piece is held back a little, so that the reload lands mid-upload.
  await page.route("**/v1/uploads/**", async (route) => {
    const response = await route.fetch();
    if (route.request().method() === "PATCH") await new Promise((r) => setTimeout(r, 1500));
    await route.fulfill({ response });
  });
  await page.fill("#title", "Test pattern");
  await page.setInputFiles("#file", file);
  await page.click("#upload-start");
  await page.waitForFunction(() => {
    const p = document.getElementById("upload-progress");
    return p.value > 0 && p.value < 100;
  }, null, { timeout: 20_000 });
  const text = await page.locator("#upload-text").textContent();
  assert.match(text, /of .* · .*\/s · /, `rate and ETA shown: ${text}`);
  const halfway = await page.locator("#upload-progress").evaluate((p) => p.value);
  await page.screenshot({ path: join(artifacts, "studio-uploading.png") });

  // The page goes away mid-upload; choosing the same file again resumes, not restarts.
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.reload();
  await page.waitForSelector("#app:not([hidden])");
  await page.setInputFiles("#file", file);
  await page.click("#upload-start");
  await page.waitForSelector('#transfer[data-resumed="true"]', { timeout: 10_000 });
  await page.waitForSelector('#transfer[data-done="true"]', { timeout: 60_000 });
  const video = await page.locator("#transfer").getAttribute("data-video-id");
  assert.ok(video, "the upload named its video");
  console.log(`resumed after ${halfway.toFixed(0)} %: ${video}`);

  // Transcoding is watched live until the video is ready, with its poster and renditions.
  const row = await waitReady(page, video);
  assert.match(await row.locator(".renditions").textContent(), /\d+×\d+/);
  assert.match(await row.locator(".video-stage").textContent(), /stage 0/);

  // The merchant's pending tags on the other clip: approve one…
  const tag = page.locator(`.video-row[data-video-id="${taggedVideo}"] .tag[data-tag-id="${tagId}"]`);
  assert.equal(await tag.getAttribute("data-status"), "pending");
  await tag.locator("button.approve").click();
  await page.waitForSelector(`.tag[data-tag-id="${tagId}"][data-status="live"]`, { timeout: 10_000 });
  // …and reject the other one.
  await page.locator(`.tag[data-tag-id="${otherTagId}"] button.reject`).click();
  await page.waitForSelector(`.tag[data-tag-id="${otherTagId}"][data-status="rejected"]`, { timeout: 10_000 });
  await page.screenshot({ path: join(artifacts, "studio.png"), fullPage: true });
}, { session: creatorSession, base });
