// Signing up from the feed's header, and the links the mail brings. Run by tests/api/web.rs in two
// steps, the test reading the mail in between:
//
//   node web/tests/account.mjs BASE_URL ask ARTIFACTS_DIR
//     Mia, watching anonymously, signs up from the header's "Sign in / Sign up", signs out
//     (anonymous again), and asks for a password-reset link ("Forgot your password?").
//   node web/tests/account.mjs BASE_URL links VERIFY_TOKEN RESET_TOKEN ARTIFACTS_DIR
//     She opens the verification link (verified; a second time, refused), then the reset link:
//     two different passwords and a common one are refused, a good one signs her in on the
//     feed; the used link then offers to send a new one. Last, a browser still holding a session
//     that ended (the reset ended them all) signs in with the new password all the same.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { run, signInAs } from "./browser.mjs";
import { signIn, signUp } from "./pages.mjs";

const [base, step, ...rest] = process.argv.slice(2);
const artifacts = rest.pop();
const mia = { name: "Mia", email: "mia@example.com", password: "carrot lip balm 42" };
const NEW_PASSWORD = "beetroot tint 2027";

async function ask(page) {
  await page.goto(base);
  await page.waitForSelector('body[data-anonymous="true"] #signin-open:not([hidden])');
  await page.click("#signin-open");
  await page.waitForSelector("#account[open]");
  await signUp(page, "#account", mia);
  // The page starts again as her.
  await page.waitForSelector('body[data-anonymous="false"] #who:not([hidden])', { timeout: 10_000 });
  assert.equal(await page.locator("#who").textContent(), mia.name);

  await page.click("#signout");
  await page.waitForSelector('body[data-anonymous="true"] #signin-open:not([hidden])', { timeout: 10_000 });

  await page.click("#signin-open");
  await page.click('#account form[data-form="signin"] [data-to="forgot"]');
  const forgot = page.locator('#account form[data-form="forgot"]');
  await forgot.locator("[name=email]").fill(mia.email);
  await forgot.locator("button[type=submit]").click();
  await forgot.locator(".result").filter({ hasText: /./ }).waitFor({ timeout: 10_000 });
  assert.match(await forgot.locator(".result").textContent(), /If an account exists .* on its way/);
  await page.screenshot({ path: join(artifacts, "account-forgot.png") });
}

async function links(page, verifyToken, resetToken) {
  // The verification link: once, then no more.
  await page.goto(`${base}/verify-email?token=${verifyToken}`);
  const verified = page.locator("#verify-result[data-verified]");
  await verified.waitFor({ timeout: 10_000 });
  assert.equal(await verified.getAttribute("data-verified"), "true", await verified.textContent());
  assert.match(await verified.textContent(), /mia@example\.com is verified/);
  assert.equal(new URL(page.url()).search, "", "the token left the address bar");
  await page.goto(`${base}/verify-email?token=${verifyToken}`);
  await page.waitForSelector('#verify-result[data-verified="false"]', { timeout: 10_000 });
  assert.match(await page.locator("#verify-result").textContent(), /expired or was already used/);

  // The reset link: the page checks the two passwords agree, the API refuses a common one.
  await page.goto(`${base}/reset-password?token=${resetToken}`);
  const form = page.locator("#reset");
  await form.waitFor();
  const error = page.locator("#reset-error");
  await page.fill("#password", NEW_PASSWORD);
  await page.fill("#repeat", "beetroot tint 2028");
  await form.locator("button[type=submit]").click();
  assert.match(await error.textContent(), /differ/);
  await page.fill("#password", "password");
  await page.fill("#repeat", "password");
  await form.locator("button[type=submit]").click();
  await error.filter({ hasText: /common/ }).waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(artifacts, "account-reset.png") });
  // A good one signs her in, on the feed.
  await page.fill("#password", NEW_PASSWORD);
  await page.fill("#repeat", NEW_PASSWORD);
  await form.locator("button[type=submit]").click();
  await page.waitForURL(`${base}/`, { timeout: 10_000 });
  await page.waitForSelector('body[data-anonymous="false"] #who:not([hidden])', { timeout: 10_000 });
  assert.equal(await page.locator("#who").textContent(), mia.name);

  // Used: the page offers to send another link.
  await page.goto(`${base}/reset-password?token=${resetToken}`);
  await page.fill("#password", NEW_PASSWORD);
  await page.fill("#repeat", NEW_PASSWORD);
  await page.locator("#reset button[type=submit]").click();
  const again = page.locator('#auth form[data-form="forgot"]');
  await again.waitFor({ timeout: 10_000 });
  assert.match(await again.locator(".error").textContent(), /expired or was already used/);

  // A cookie whose session ended does not stand in the way of signing in.
  await page.context().clearCookies();
  await signInAs(page, base, "vt_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  await page.goto(`${base}/studio`);
  await page.waitForSelector("#auth:not([hidden])");
  await signIn(page, "#auth", { email: mia.email, password: NEW_PASSWORD });
  await page.waitForSelector("#setup:not([hidden])", { timeout: 10_000 });
  assert.equal(await page.locator("#who").textContent(), mia.name);
}

await run(`account-${step}`, artifacts, async (page) => {
  if (step === "ask") await ask(page);
  else if (step === "links") await links(page, ...rest);
  else throw new Error(`unknown step ${step}`);
}, { autoplay: true });
