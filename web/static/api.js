// The pages' one door to the HTTP API: JSON in and out, the API's error body
// (`{"error": {"code", "message"}}`) turned into an exception with both, and the one sign-in,
// sign-up and forgotten-password UI every page uses.
//
// The pages never hold a token: signing in sets the API's session cookie (HttpOnly,
// SameSite=Lax), which every same-origin `fetch` (and tus's XHR) carries, and which the
// browser's `Origin` header vouches for on the requests that change something.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** `fetch` against the API: `body` is sent as JSON, the answer parsed as JSON. */
export async function api(path, { method = "GET", body, headers = {}, keepalive = false } = {}) {
  const h = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const e = data && data.error ? data.error : { code: "http_" + response.status, message: text };
    throw new ApiError(response.status, e.code, e.message || `HTTP ${response.status}`);
  }
  return data;
}

/** The signed-in account (`GET /v1/me`), or null when there is no session (or it ended). */
export async function me() {
  try {
    return await api("/v1/me");
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

/** Signs out (the API clears the cookie); a session that already ended is signed out too. */
export async function signOut() {
  await api("/v1/auth/logout", { method: "POST" }).catch((e) => {
    if (e.status !== 401) throw e;
  });
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

// ---- Sign in, sign up, forgotten password. ----

/** `h("p", {className: "x"}, "text", child)`: an element with properties and children. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof el[k] !== "function") el[k] = v;
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

/** A labelled input: the label wraps it, so several panels on one page need no ids. */
function field(label, props, hint) {
  return h("label", { className: "auth-field" }, h("span", {}, label), h("input", props),
    ...(hint ? [h("small", { className: "hint" }, hint)] : []));
}

const email = () => field("Email", {
  name: "email", type: "email", autocomplete: "email", required: true, spellcheck: false,
});

/** The three forms: what each asks, what it sends, and where its links lead. */
const FORMS = {
  signin: {
    title: "Sign in",
    fields: () => [email(), field("Password", {
      name: "password", type: "password", autocomplete: "current-password", required: true,
    })],
    submit: "Sign in",
    links: [["forgot", "Forgot your password?"], ["signup", "New here? Sign up"]],
    send: (f) => api("/v1/auth/login", {
      method: "POST", body: { email: f.email.value.trim(), password: f.password.value },
    }),
  },
  signup: {
    title: "Sign up",
    fields: () => [
      field("Your name", {
        name: "display_name", autocomplete: "name", required: true, maxLength: 60,
      }),
      email(),
      field("Password", {
        name: "password", type: "password", autocomplete: "new-password", required: true,
        minLength: 8,
      }, "At least 8 characters, and not a common password."),
    ],
    submit: "Sign up",
    links: [["signin", "Have an account? Sign in"]],
    send: (f) => api("/v1/auth/signup", {
      method: "POST",
      body: {
        email: f.email.value.trim(), password: f.password.value,
        display_name: f.display_name.value.trim(),
      },
    }),
  },
  forgot: {
    title: "Forgot your password?",
    intro: "We'll email you a link to choose a new one.",
    fields: () => [email()],
    submit: "Send me a link",
    links: [["signin", "Back to sign in"]],
    send: async (f) => {
      await api("/v1/auth/password-reset", { method: "POST", body: { email: f.email.value.trim() } });
      return null;
    },
    sent: "If an account exists for that email, a link to reset its password is on its way.",
  },
};

/**
 * Fills `container` with the sign-in form, and the sign-up and forgotten-password forms its
 * links switch to (one shown at a time). `before()` runs before a sign-in or sign-up is sent
 * (the feed sends the events it queued for the session that is about to end);
 * `onSignedIn(account)` runs after one succeeds. The API's own message is shown when it refuses
 * (a weak password, an email already taken, too many attempts).
 */
export function authPanel(container, { start = "signin", before = async () => {}, onSignedIn }) {
  const forms = {};
  const show = (name) => {
    const typed = Object.values(forms).map((f) => f.email.value).find(Boolean);
    for (const [n, f] of Object.entries(forms)) {
      f.hidden = n !== name;
      if (typed && !f.email.value) f.email.value = typed;
    }
    container.dataset.form = name;
  };
  for (const [name, spec] of Object.entries(FORMS)) {
    const error = h("p", { className: "error", role: "alert" });
    const done = h("p", { className: "result", role: "status" });
    const button = h("button", { type: "submit" }, spec.submit);
    const form = h("form", { className: "auth-form", dataset: { form: name } },
      h("h2", {}, spec.title),
      ...(spec.intro ? [h("p", { className: "hint" }, spec.intro)] : []),
      ...spec.fields(), button, error, done,
      h("p", { className: "auth-links" }, ...spec.links.map(([to, text]) => {
        const link = h("button", { type: "button", className: "link", dataset: { to } }, text);
        link.addEventListener("click", () => show(to));
        return link;
      })));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      done.textContent = "";
      button.disabled = true;
      try {
        if (name !== "forgot") await before();
        const granted = await spec.send(form);
        if (spec.sent) {
          done.textContent = spec.sent;
        } else {
          form.password.value = "";
          await onSignedIn(granted.account);
        }
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : `Cannot reach Vitrine: ${err.message}`;
      } finally {
        button.disabled = false;
      }
    });
    forms[name] = form;
  }
  container.replaceChildren(...Object.values(forms));
  show(start);
  return { show };
}

/**
 * The door of the studio and the console. Signed out (or an anonymous viewer): the sign-in
 * panel (`#auth`). Signed in without what the page needs (`ready(me)`: a creator handle, a
 * shop): the page's own setup form (`#setup`, sent by `setup(form)`). Then the page (`#app`)
 * and `onReady(me)`, once. The header shows who is signed in and a sign-out button.
 */
export async function consoleGate({ ready, setup, onReady }) {
  const auth = document.getElementById("auth");
  const setupForm = document.getElementById("setup");
  const setupError = document.getElementById("setup-error");
  const app = document.getElementById("app");
  const who = document.getElementById("who");
  const out = document.getElementById("signout");
  let started = false;

  const show = (part, account) => {
    auth.hidden = part !== "auth";
    setupForm.hidden = part !== "setup";
    app.hidden = part !== "app";
    const signedIn = Boolean(account && !account.anonymous);
    who.hidden = !signedIn;
    out.hidden = !signedIn;
    who.textContent = signedIn ? account.display_name : "";
  };

  const enter = async () => {
    let account;
    try {
      account = await me();
    } catch (e) {
      show("auth", null);
      panel.show("signin");
      auth.querySelector("form:not([hidden]) .error").textContent = `Cannot reach Vitrine: ${e.message}`;
      return;
    }
    if (!account || account.anonymous) {
      show("auth", account);
    } else if (!ready(account)) {
      show("setup", account);
      setupForm.querySelector("input")?.focus();
    } else {
      show("app", account);
      if (!started) {
        started = true;
        await onReady(account);
      }
    }
  };

  const panel = authPanel(auth, { onSignedIn: enter });
  setupForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    setupError.textContent = "";
    const button = setupForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await setup(setupForm);
      await enter();
    } catch (err) {
      setupError.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  out.addEventListener("click", async () => {
    await signOut();
    location.reload();
  });
  await enter();
}

// ---- Formatting. ----

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
