// The pages a mailed link opens: `/reset-password?token=…` (choose a new password, which signs
// in, then the feed) and `/verify-email?token=…` (the address is confirmed). The token leaves
// the address bar at once, so that it stays out of the history.

import { api, ApiError, authPanel } from "/assets/api.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
history.replaceState(null, "", location.pathname);

/** A link that expired or was used: the forgotten-password form, to ask for a new one. */
function askAgain(message) {
  const auth = $("auth");
  auth.hidden = false;
  const panel = authPanel(auth, { start: "forgot", onSignedIn: () => location.assign("/") });
  panel.show("forgot");
  if (message) auth.querySelector('form[data-form="forgot"] .error').textContent = message;
}

function resetPassword() {
  if (!token) return askAgain("This page needs the link from the email.");
  const form = $("reset");
  const error = $("reset-error");
  form.hidden = false;
  form.password.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (form.password.value !== form.repeat.value) {
      error.textContent = "The two passwords differ.";
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      // Signs in: the answer sets the session cookie.
      await api("/v1/auth/password-reset/confirm", {
        method: "POST",
        body: { token, password: form.password.value },
      });
      location.assign("/");
    } catch (err) {
      button.disabled = false;
      if (err instanceof ApiError && err.code === "invalid_token") {
        form.hidden = true;
        askAgain("This link has expired or was already used: ask for a new one.");
      } else {
        error.textContent = err.message;
      }
    }
  });
}

async function verifyEmail() {
  const result = $("verify-result");
  $("verify").hidden = false;
  if (!token) {
    result.textContent = "This page needs the link from the email.";
    return;
  }
  try {
    const account = await api("/v1/auth/verify-email", { method: "POST", body: { token } });
    result.textContent = `${account.email || "Your email address"} is verified. Thank you!`;
    result.dataset.verified = "true";
  } catch (err) {
    result.className = "result error";
    result.textContent = err instanceof ApiError && err.code === "invalid_token"
      ? "This link has expired or was already used."
      : `Cannot verify the address now: ${err.message}`;
    result.dataset.verified = "false";
  }
}

if (location.pathname === "/verify-email") await verifyEmail();
else resetPassword();
