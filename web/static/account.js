// @ts-check
// The pages a mailed link opens: `/reset-password?token=…` (choose a new password, which signs
// in, then the feed) and `/verify-email?token=…` (the address is confirmed). The token leaves
// the address bar at once, so that it stays out of the history.

import { api, ApiError, authPanel, byId, find, reason } from "/assets/api.js";

/** @import { Account } from "/assets/api.js" */

const token = new URLSearchParams(location.search).get("token");
history.replaceState(null, "", location.pathname);

/**
 * A link that expired or was used: the forgotten-password form, to ask for a new one.
 * @param {string} message
 */
function askAgain(message) {
  const auth = byId("auth", HTMLElement);
  auth.hidden = false;
  const panel = authPanel(auth, { start: "forgot", onSignedIn: () => location.assign("/") });
  panel.show("forgot");
  if (message) find(auth, 'form[data-form="forgot"] .error', HTMLElement).textContent = message;
}

function resetPassword() {
  if (!token) return askAgain("This page needs the link from the email.");
  const form = byId("reset", HTMLFormElement);
  const password = byId("password", HTMLInputElement);
  const error = byId("reset-error", HTMLElement);
  form.hidden = false;
  password.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (password.value !== byId("repeat", HTMLInputElement).value) {
      error.textContent = "The two passwords differ.";
      return;
    }
    const button = find(form, "button[type=submit]", HTMLButtonElement);
    button.disabled = true;
    try {
      // Signs in: the answer sets the session cookie.
      await api("/v1/auth/password-reset/confirm", {
        method: "POST",
        body: { token, password: password.value },
      });
      location.assign("/");
    } catch (err) {
      button.disabled = false;
      if (err instanceof ApiError && err.code === "invalid_token") {
        form.hidden = true;
        askAgain("This link has expired or was already used: ask for a new one.");
      } else {
        error.textContent = reason(err);
      }
    }
  });
}

async function verifyEmail() {
  const result = byId("verify-result", HTMLElement);
  byId("verify", HTMLElement).hidden = false;
  if (!token) {
    result.textContent = "This page needs the link from the email.";
    return;
  }
  try {
    /** @type {Account} */
    const account = await api("/v1/auth/verify-email", { method: "POST", body: { token } });
    result.textContent = `${account.email || "Your email address"} is verified. Thank you!`;
    result.dataset.verified = "true";
  } catch (err) {
    result.className = "result error";
    result.textContent = err instanceof ApiError && err.code === "invalid_token"
      ? "This link has expired or was already used."
      : `Cannot verify the address now: ${reason(err)}`;
    result.dataset.verified = "false";
  }
}

if (location.pathname === "/verify-email") await verifyEmail();
else resetPassword();
