// What a person does on the pages, shared by the browser tests: signing up and in through the
// shared sign-in panel, listing a product and tagging a clip in the merchant's console, waiting
// for a clip in the studio.

import { strict as assert } from "node:assert";

/**
 * Fills and sends the sign-up form of the sign-in panel in `scope` (a selector: the console's
 * `#auth`, the feed's sheet…), switching to it first if needed.
 */
export async function signUp(page, scope, { name, email, password }) {
  const form = page.locator(`${scope} form[data-form="signup"]`);
  if (await form.isHidden()) await page.locator(`${scope} form:not([hidden]) [data-to="signup"]`).click();
  await form.locator("[name=display_name]").fill(name);
  await form.locator("[name=email]").fill(email);
  await form.locator("[name=password]").fill(password);
  await form.locator("button[type=submit]").click();
  return form;
}

/** Fills and sends the sign-in form of the sign-in panel in `scope`. */
export async function signIn(page, scope, { email, password }) {
  const form = page.locator(`${scope} form[data-form="signin"]`);
  if (await form.isHidden()) await page.locator(`${scope} form:not([hidden]) [data-to="signin"]`).click();
  await form.locator("[name=email]").fill(email);
  await form.locator("[name=password]").fill(password);
  await form.locator("button[type=submit]").click();
  return form;
}

/** In the merchant's console: creates a product; returns its id once it is listed. */
export async function createProduct(page, { title, price, stock, category, image }) {
  await page.fill("#p-title", title);
  await page.fill("#p-price", price);
  await page.fill("#p-stock", String(stock));
  if (category) await page.fill("#p-category", category);
  if (image) await page.setInputFiles("#p-image", image);
  await page.click("#product-form button[type=submit]");
  const product = page.locator(".product", { hasText: title });
  await product.waitFor({ timeout: 15_000 });
  if (image) await page.waitForFunction(() => document.querySelector(".product img")?.naturalWidth > 0);
  const id = await product.getAttribute("data-product-id");
  assert.equal(await page.locator("#tag-product").inputValue(), id, "the new product is chosen for tagging");
  return id;
}

/** In the merchant's console: opens `video` in the tagger, with its storyboard under it. */
export async function openClip(page, video) {
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
}

/** Clicks the tagger's timeline at `fraction` of the clip and waits for the seek. */
export async function clickTimelineAt(page, fraction) {
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

/** Sets the tag's range on the timeline (fractions of the clip); returns `{start, end}` in ms. */
export async function setRange(page, from, to) {
  await clickTimelineAt(page, from);
  await page.click("#set-start");
  await clickTimelineAt(page, to);
  await page.click("#set-end");
  const tagger = page.locator("#tagger");
  const start = Number(await tagger.getAttribute("data-start"));
  const end = Number(await tagger.getAttribute("data-end"));
  assert.ok(end > start && start > 0, `range ${start}–${end}`);
  return { start, end };
}

/** Sends the tag form; returns the new tag's id and what the console said of it. */
export async function createTag(page) {
  await page.click("#tag-form button[type=submit]");
  const result = page.locator("#tag-result[data-tag-id]");
  await result.waitFor({ timeout: 10_000 });
  return { tag: await result.getAttribute("data-tag-id"), said: await result.textContent() };
}

/** In the studio: waits until `video`'s row is ready, with its poster shown. */
export async function waitReady(page, video) {
  const row = page.locator(`.video-row[data-video-id="${video}"]`);
  await row.waitFor({ timeout: 10_000 });
  await page.waitForSelector(`.video-row[data-video-id="${video}"][data-status="ready"]`, { timeout: 180_000 });
  await page.waitForFunction(
    (id) => document.querySelector(`.video-row[data-video-id="${id}"] .thumb`)?.naturalWidth > 0,
    video,
    { timeout: 10_000 },
  );
  return row;
}
