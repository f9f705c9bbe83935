// @ts-check
// The pages' shared module: their one door to the HTTP API (JSON in and out, the API's error
// body `{"error": {"code", "message"}}` turned into an exception with both), the types of what
// the API answers, the event types the feed sends, the one video player, and the one sign-in,
// sign-up and forgotten-password UI every page uses.
//
// The pages never hold a token: signing in sets the API's session cookie (HttpOnly,
// SameSite=Lax), which every same-origin `fetch` (and tus's XHR) carries, and which the
// browser's `Origin` header vouches for on the requests that change something.

// ---- What the API answers (its views, as /openapi.json describes them). ----

/**
 * An amount in the currency's minor unit (cents for USD, yen for JPY).
 * @typedef {{amount_minor: number, currency: string}} Money
 */

/** @typedef {{error: {code: string, message: string}}} ErrorBody */

/**
 * A page of a list, and the cursor of the next one (null at the end).
 * @template T
 * @typedef {{items: T[], next_cursor: string | null}} Page
 */

/**
 * @typedef {object} Account
 * @property {string} id
 * @property {string} display_name
 * @property {string | null} email  null for anonymous viewers
 * @property {boolean} email_verified
 * @property {"user" | "admin"} role
 * @property {string | null} handle
 * @property {boolean} creator
 * @property {boolean} anonymous
 * @property {number} created_at  Unix seconds
 */

/**
 * The signed-in account (`GET /v1/me`), with the shops it works for.
 * @typedef {Account & {
 *   shops: {shop_id: string, name: string, role: string}[],
 *   credential: "session" | "api_key",
 *   scopes: string[],
 * }} Me
 */

/**
 * What signing in, signing up or an anonymous visit answers (the cookie comes with it).
 * @typedef {{account: Account, token: string, expires_at: number}} SessionGranted
 */

/** @typedef {{x: number, y: number}} Position */

/**
 * A product placed in a clip over a time range.
 * @typedef {object} Tag
 * @property {string} id
 * @property {string} video_id
 * @property {string} product_id
 * @property {string | null} variant_id
 * @property {number} start_ms
 * @property {number} end_ms
 * @property {"pending" | "live" | "rejected" | "invalid"} status
 * @property {string} [reason]
 * @property {Position | null} position
 * @property {string | null} label
 * @property {string} title
 * @property {Money} price
 * @property {string | null} image
 * @property {boolean} in_stock
 */

/** @typedef {{width: number, height: number, url: string}} Mp4 */

/**
 * Where a clip plays from: empty until it is playable; `mp4` largest first.
 * @typedef {object} Playback
 * @property {string | null} hls
 * @property {Mp4[]} mp4
 * @property {string | null} poster
 * @property {{width: number, height: number, jpeg: string, webp: string}[]} posters
 * @property {string | null} preview
 * @property {string | null} storyboard
 */

/** @typedef {"uploading" | "queued" | "processing" | "playable" | "ready" | "failed"} VideoStatus */

/**
 * The video object (an item of the feed is one too).
 * @typedef {object} Video
 * @property {string} id
 * @property {string} creator_id
 * @property {string} title
 * @property {VideoStatus} status
 * @property {number} progress  0..1
 * @property {string | null} error
 * @property {number | null} duration_ms
 * @property {number | null} width
 * @property {number | null} height
 * @property {Playback} playback
 * @property {Tag[]} tags
 * @property {{offset: number, length: number | null}} [upload]  while uploading
 * @property {{stage: number, pool: string, impressions: number,
 *   stage_ends_at: number | null}} [distribution]  the clip's traffic pool (its creator only)
 */

/**
 * @typedef {object} Variant
 * @property {string} id
 * @property {string} sku
 * @property {Record<string, string>} options
 * @property {Money} price
 * @property {number} stock
 * @property {boolean} in_stock
 */

/**
 * @typedef {object} Product
 * @property {string} id
 * @property {string} shop_id
 * @property {string} title
 * @property {string} description
 * @property {Money} price
 * @property {number} stock
 * @property {boolean} in_stock
 * @property {"draft" | "active" | "archived"} status
 * @property {number} commission_bps
 * @property {string | null} category
 * @property {Variant[]} variants
 * @property {{id: string, width: number, height: number, sizes: Mp4[]}[]} images
 *   each at several widths, largest first
 */

/**
 * @typedef {object} Order
 * @property {string} id
 * @property {string} viewer_id
 * @property {string} status
 * @property {{product_id: string, variant_id: string | null, title: string, unit_price: Money,
 *   quantity: number, subtotal: Money}[]} items
 * @property {Money} total
 * @property {string | null} video_id
 * @property {string | null} tag_id
 * @property {number} expires_at
 */

/**
 * A shop's (or a creator's) figures for one product in one clip.
 * @typedef {object} Stats
 * @property {string} product_id
 * @property {string} video_id
 * @property {number} tag_impressions
 * @property {number} clicks
 * @property {number} orders
 * @property {number} units
 * @property {Money} gmv
 * @property {Money} commission
 * @property {number} ctr
 * @property {number} cvr
 * @property {Money} gpm
 */

/**
 * The kinds of viewer event `POST /v1/events` accepts: the server's list (`TYPES` in
 * feed/src/events.rs), which this one mirrors.
 */
export const EVENT_TYPES = Object.freeze({
  impression: "impression",
  play: "play",
  progress: "progress",
  complete: "complete",
  replay: "replay",
  like: "like",
  unlike: "unlike",
  share: "share",
  comment: "comment",
  follow: "follow",
  not_interested: "not_interested",
  product_click: "product_click",
  purchase: "purchase",
});

/** @typedef {typeof EVENT_TYPES[keyof typeof EVENT_TYPES]} EventType */

/**
 * One thing a viewer did, as `POST /v1/events` takes it.
 * @typedef {object} ViewerEvent
 * @property {string} id  the client's, so that a retry is counted once
 * @property {string} viewer_id
 * @property {string} video_id
 * @property {EventType} type
 * @property {number} at  Unix milliseconds
 * @property {number} [watch_ms]
 * @property {string} [product_id]
 * @property {string} [tag_id]
 */

// ---- Calling the API. ----

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * `fetch` against the API: `body` is sent as JSON (or `file` as it is, with its own type), the
 * answer parsed as JSON. The caller says what it expects (`T`, e.g. `@type {Video}` on the
 * variable it assigns): the answer is not checked against it.
 * @template [T=unknown]
 * @param {string} path
 * @param {{method?: string, body?: unknown, file?: Blob, headers?: Record<string, string>,
 *   keepalive?: boolean}} [options]
 * @returns {Promise<T>}
 */
export async function api(path, { method = "GET", body, file, headers = {}, keepalive = false } = {}) {
  const h = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (file !== undefined) h["Content-Type"] = file.type;
  const response = await fetch(path, {
    method,
    headers: h,
    body: file ?? (body === undefined ? undefined : JSON.stringify(body)),
    keepalive,
  });
  const text = await response.text();
  /** @type {unknown} */
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    // The API's error body; anything else (a proxy's page) stands for itself.
    const e = /** @type {Partial<ErrorBody> | null} */ (data)?.error
      || { code: "http_" + response.status, message: text };
    throw new ApiError(response.status, e.code, e.message || `HTTP ${response.status}`);
  }
  return /** @type {T} */ (data);
}

/**
 * The signed-in account (`GET /v1/me`), or null when there is no session (or it ended).
 * @returns {Promise<Me | null>}
 */
export async function me() {
  try {
    return await api("/v1/me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

/** Signs out (the API clears the cookie); a session that already ended is signed out too. */
export async function signOut() {
  await api("/v1/auth/logout", { method: "POST" }).catch((e) => {
    if (!(e instanceof ApiError && e.status === 401)) throw e;
  });
}

/**
 * What a failure says: the API's own message, or the error's.
 * @param {unknown} err
 */
export function reason(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `{amount_minor, currency}` as the viewer's locale writes it.
 * @param {Money | null | undefined} m
 */
export function money(m) {
  if (!m) return "";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency })
    .format(m.amount_minor / 10 ** minorDigits(m.currency));
}

/**
 * How many digits a currency's minor unit has (2 for USD, 0 for JPY); a RangeError for what is
 * not an ISO 4217 code.
 * @param {string} currency
 */
export function minorDigits(currency) {
  // Always set for the currency style (the ISO 4217 digits); 2 is that standard's default.
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
    .maximumFractionDigits ?? 2;
}

export function uuid() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- The page's elements. ----

/**
 * The element with this id, of this type: the page's HTML has it (else the page is broken,
 * and says so at once).
 * @template {Element} T
 * @param {string} id
 * @param {{new (): T, prototype: T}} type  e.g. `HTMLInputElement`
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} is missing or not the element the script expects`);
  return el;
}

/**
 * The first element under `root` that matches `selector`, of this type: the page's HTML (or
 * template) has it.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {{new (): T, prototype: T}} type
 * @returns {T}
 */
export function find(root, selector, type) {
  const el = root.querySelector(selector);
  if (!(el instanceof type)) {
    throw new Error(`${selector} is missing or not the element the script expects`);
  }
  return el;
}

/**
 * A copy of the element a `<template>` holds.
 * @param {HTMLTemplateElement} template
 */
export function cloneTemplate(template) {
  const el = template.content.firstElementChild?.cloneNode(true);
  if (!(el instanceof HTMLElement)) throw new Error(`#${template.id} holds no element`);
  return el;
}

// ---- Sign in, sign up, forgotten password. ----

/**
 * `h("p", {className: "x"}, "text", child)`: an element with properties (attributes for what
 * is not one) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node | string)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof Reflect.get(el, k) !== "function") Reflect.set(el, k, v);
    else el.setAttribute(k, String(v));
  }
  el.append(...children);
  return el;
}

/**
 * A labelled input: the label wraps it, so several panels on one page need no ids.
 * @param {string} label
 * @param {Record<string, unknown>} props
 * @param {string} [hint]
 */
function field(label, props, hint) {
  return h("label", { className: "auth-field" }, h("span", {}, label), h("input", props),
    ...(hint ? [h("small", { className: "hint" }, hint)] : []));
}

const email = () => field("Email", {
  name: "email", type: "email", autocomplete: "email", required: true, spellcheck: false,
});

/**
 * A form's input by its name (the forms' inputs have no ids: several panels share a page).
 * @param {HTMLFormElement} form
 * @param {string} name
 */
const input = (form, name) => find(form, `input[name="${name}"]`, HTMLInputElement);

/** @typedef {"signin" | "signup" | "forgot"} FormName */

/**
 * One of the forms: what it asks, what it sends, where its links lead, and what it says once
 * sent (the forms that sign in say nothing: the page moves on).
 * @typedef {object} FormSpec
 * @property {string} title
 * @property {string} [intro]
 * @property {() => HTMLElement[]} fields
 * @property {string} submit
 * @property {[FormName, string][]} links
 * @property {(form: HTMLFormElement) => Promise<SessionGranted | null>} send
 * @property {string} [sent]
 */

/** @type {Record<FormName, FormSpec>} */
const FORMS = {
  signin: {
    title: "Sign in",
    fields: () => [email(), field("Password", {
      name: "password", type: "password", autocomplete: "current-password", required: true,
    })],
    submit: "Sign in",
    links: [["forgot", "Forgot your password?"], ["signup", "New here? Sign up"]],
    send: (f) => api("/v1/auth/login", {
      method: "POST",
      body: { email: input(f, "email").value.trim(), password: input(f, "password").value },
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
        email: input(f, "email").value.trim(), password: input(f, "password").value,
        display_name: input(f, "display_name").value.trim(),
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
      await api("/v1/auth/password-reset", {
        method: "POST", body: { email: input(f, "email").value.trim() },
      });
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
 * @param {HTMLElement} container
 * @param {{start?: FormName, before?: () => Promise<void>,
 *   onSignedIn: (account: Account) => unknown}} options
 * @returns {{show: (name: FormName) => void}}
 */
export function authPanel(container, { start = "signin", before = async () => {}, onSignedIn }) {
  /** @type {Partial<Record<FormName, HTMLFormElement>>} */
  const forms = {};
  /** @param {FormName} name */
  const show = (name) => {
    const typed = Object.values(forms).map((f) => input(f, "email").value).find(Boolean);
    for (const [n, f] of Object.entries(forms)) {
      f.hidden = n !== name;
      if (typed && !input(f, "email").value) input(f, "email").value = typed;
    }
    container.dataset.form = name;
  };
  for (const [name, spec] of /** @type {[FormName, FormSpec][]} */ (Object.entries(FORMS))) {
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
        } else if (granted) {
          input(form, "password").value = "";
          await onSignedIn(granted.account);
        }
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message
          : `Cannot reach Vitrine: ${reason(err)}`;
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
 * @param {{ready: (me: Me) => boolean, setup: (form: HTMLFormElement) => Promise<unknown>,
 *   onReady: (me: Me) => Promise<void>}} page
 */
export async function consoleGate({ ready, setup, onReady }) {
  const auth = byId("auth", HTMLElement);
  const setupForm = byId("setup", HTMLFormElement);
  const setupError = byId("setup-error", HTMLElement);
  const app = byId("app", HTMLElement);
  const who = byId("who", HTMLElement);
  const out = byId("signout", HTMLButtonElement);
  let started = false;

  /**
   * @param {"auth" | "setup" | "app"} part
   * @param {Me | null} account
   */
  const show = (part, account) => {
    auth.hidden = part !== "auth";
    setupForm.hidden = part !== "setup";
    app.hidden = part !== "app";
    const signedIn = Boolean(account && !account.anonymous);
    who.hidden = !signedIn;
    out.hidden = !signedIn;
    who.textContent = signedIn && account ? account.display_name : "";
  };

  const enter = async () => {
    let account;
    try {
      account = await me();
    } catch (e) {
      show("auth", null);
      panel.show("signin");
      find(auth, "form:not([hidden]) .error", HTMLElement).textContent =
        `Cannot reach Vitrine: ${reason(e)}`;
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
    const button = find(setupForm, "button[type=submit]", HTMLButtonElement);
    button.disabled = true;
    try {
      await setup(setupForm);
      await enter();
    } catch (err) {
      setupError.textContent = reason(err);
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

// ---- Playing a clip. ----

/**
 * A clip playing in a `<video>`: `destroy()` stops its HLS player, if it has one (the element
 * keeps whatever source it has).
 * @typedef {{destroy: () => void}} Player
 */

/**
 * Plays `playback` in `video`: HLS through hls.js (vendored: absent when the server has no
 * copy), native HLS where the browser plays it, else the progressive MP4 — also when hls.js
 * gives up on a fatal error (a network that stays down, a codec MediaSource refuses). The MP4 is
 * the smallest rendition at least as tall as the screen, else the largest. `status.dataset`
 * says which plays (`player`: `hls.js`, `native` or `mp4`) and hls.js's levels (`level`, the
 * one playing; `levelLoaded`, the last loaded).
 * @param {HTMLVideoElement} video
 * @param {Playback} playback
 * @param {{hls?: Partial<import("hls.js").HlsConfig>, status?: HTMLElement}} [options]
 *   `hls`: hls.js's settings for this page; `status`: the element that tells (the video's own
 *   by default)
 * @returns {Player}
 */
export function attachPlayback(video, playback, { hls: config = {}, status = video } = {}) {
  /** @type {import("hls.js").default | null} */
  let hls = null;
  const progressive = () => {
    const mp4 = [...playback.mp4].sort((a, b) => a.height - b.height);
    const want = innerHeight * devicePixelRatio;
    const pick = mp4.find((r) => r.height >= want) || mp4[mp4.length - 1];
    if (pick) video.src = pick.url;
    status.dataset.player = "mp4";
  };
  const Hls = window.Hls;
  if (playback.hls && Hls && Hls.isSupported()) {
    const player = new Hls({ ...config }); // a copy: each player owns its settings
    player.on(Hls.Events.LEVEL_LOADED, (_, data) => {
      status.dataset.levelLoaded = String(data.level);
    });
    player.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
      status.dataset.level = String(data.level);
    });
    player.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) {
        player.destroy();
        hls = null;
        progressive();
      }
    });
    player.loadSource(playback.hls);
    player.attachMedia(video);
    hls = player;
    status.dataset.player = "hls.js";
  } else if (playback.hls && video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = playback.hls;
    status.dataset.player = "native";
  } else {
    progressive();
  }
  return {
    destroy() {
      hls?.destroy();
      hls = null;
    },
  };
}

// ---- Formatting. ----

/**
 * Seconds as `1:05` (or `1:02:05`).
 * @param {number} seconds
 */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/**
 * Milliseconds of a clip's timeline as `1.5 s`.
 * @param {number} ms
 */
export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * A size in bytes as `1.5 MB`.
 * @param {number} n
 */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
