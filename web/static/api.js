// The pages' one door to the HTTP API: the signed-in token, JSON in and out, and the API's
// error body (`{"error": {"code", "message"}}`) turned into an exception with both.

// One token per role: a creator's studio, a merchant's console and a viewer's feed can be open
// side by side in one browser.
let tokenKey = "vitrine.token.viewer";

/** Which role's token this page uses (`viewer`, `creator` or `merchant`). */
export function useTokenOf(role) {
  tokenKey = `vitrine.token.${role}`;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return localStorage.getItem(tokenKey);
}

export function setToken(value) {
  if (value) localStorage.setItem(tokenKey, value);
  else localStorage.removeItem(tokenKey);
}

/** `fetch` against the API: `body` is sent as JSON, the answer parsed as JSON. */
export async function api(path, { method = "GET", body, headers = {}, keepalive = false } = {}) {
  const h = { ...headers };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const e = data && data.error ? data.error : { code: "http_" + response.status, message: text };
    throw new ApiError(response.status, e.code, e.message);
  }
  return data;
}

/** The account behind the stored token, or null (no token, or a token the API refuses). */
export async function me() {
  if (!token()) return null;
  try {
    return await api("/v1/me");
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

/** `{amount_minor, currency}` as the viewer's locale writes it. */
export function money(m) {
  if (!m) return "";
  const digits = new Intl.NumberFormat("en", { style: "currency", currency: m.currency })
    .resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency })
    .format(m.amount_minor / 10 ** digits);
}

export function uuid() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The sign-in of the studio and the console: a token of `role`, kept in localStorage. Calls
 * `onReady(account)` once signed in (now, if a stored token is still good).
 */
export async function consoleSignIn(role, onReady) {
  useTokenOf(role);
  const form = document.getElementById("signin");
  const error = document.getElementById("signin-error");
  const app = document.getElementById("app");
  const who = document.getElementById("who");
  const out = document.getElementById("signout");
  const show = (account) => {
    form.hidden = Boolean(account);
    app.hidden = !account;
    who.hidden = !account;
    out.hidden = !account;
    who.textContent = account ? account.display_name : "";
  };
  out.addEventListener("click", () => {
    setToken(null);
    location.reload();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    setToken(form.token.value.trim());
    let account;
    try {
      account = await me();
    } catch (e) {
      setToken(null);
      error.textContent = `Cannot check the token now: ${e.message}`;
      return;
    }
    if (!account || !can(account, role)) {
      setToken(null);
      error.textContent = account
        ? `That account is not a ${role} yet.`
        : "That token is not valid.";
      return;
    }
    form.token.value = "";
    show(account);
    onReady(account);
  });
  // A stored token is dropped only when the API refuses it, not when it cannot be reached.
  const account = await me().catch(() => null);
  if (account && can(account, role)) {
    show(account);
    onReady(account);
  } else {
    show(null);
  }
}

/** Whether an account (`GET /v1/me`) may use a console: a creator's studio, a shop's console. */
function can(account, role) {
  if (role === "creator") return account.creator;
  if (role === "merchant") return account.shops.length > 0;
  return true;
}

/** Seconds as `1:05` (or `1:02:05`). */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Milliseconds of a clip's timeline as `1.5 s`. */
export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
