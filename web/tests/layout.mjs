// Every page at phone size (390×844) and on a desktop (1280×800), signed in and out: nothing
// wider than the screen (no sideways scrolling), and a screenshot of each. Run by tests/api/web.rs:
//
//   node web/tests/layout.mjs BASE_URL VIEWER_SESSION CREATOR_SESSION MERCHANT_SESSION VIDEO_ID ARTIFACTS_DIR

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run, signInAs } from "./browser.mjs";

const [base, viewer, creator, merchant, video, artifacts] = process.argv.slice(2);
const pages = [
  // A shared link: the viewer has seen the feed's only clip by the second visit.
  ["feed", `/?v=${video}`, viewer, ".slide"],
  ["studio", "/studio", creator, "#app:not([hidden])"],
  ["merchant", "/merchant", merchant, "#app:not([hidden])"],
  // Signed out: the sign-in panel, and the viewer's sign-up sheet.
  ["signin", "/studio", null, "#auth:not([hidden])"],
  ["account", "/", null, "#account[open]", (page) => page.click("#signin-open")],
];

await run("layout", artifacts, async (page) => {
  for (const [size, viewport] of [["phone", { width: 390, height: 844 }], ["desktop", { width: 1280, height: 800 }]]) {
    await page.setViewportSize(viewport);
    for (const [name, path, session, ready, open] of pages) {
      await page.context().clearCookies();
      if (session) await signInAs(page, base, session);
      await page.goto(`${base}${path}`);
      if (open) await open(page);
      await page.waitForSelector(ready, { timeout: 15_000 });
      const [scroll, width] = await page.evaluate(
        () => [document.documentElement.scrollWidth, window.innerWidth],
      );
      assert.ok(scroll <= width, `${name} at ${size}: ${scroll} px wide in a ${width} px window`);
      if (size === "desktop") await page.screenshot({ path: join(artifacts, `${name}-desktop.png`) });
    }
  }
});
