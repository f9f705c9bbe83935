// @ts-check
// The viewer's feed: one full-screen clip at a time, the next one already loading, product
// cards while their tag's range plays, a buy sheet over the video, and every viewing action
// sent to `POST /v1/events` in batches, as any app would. Whoever opens the page watches under
// a session: their own once signed in, else an anonymous viewer's, made on the first visit (the
// feed learns from it, and signing up later keeps what it learnt).

import {
  api, ApiError, attachPlayback, authPanel, byId, cloneTemplate, EVENT_TYPES, find, me, money,
  reason, signOut, uuid,
} from "/assets/api.js";

/**
 * @import {
 *   Account, EventType, Order, Page, Player, Product, SessionGranted, Tag, Video, ViewerEvent,
 * } from "/assets/api.js"
 */

const PAGE = 5;
const FLUSH_MS = 3000;
const SWIPE_PX = 50;
const WHEEL_GAP_MS = 450;
/** hls.js for a phone's feed: no level above the player's size, a short buffer. */
const HLS_CONFIG = { capLevelToPlayerSize: true, startLevel: -1, maxBufferLength: 10 };

const feed = byId("feed", HTMLElement);
const template = byId("slide-template", HTMLTemplateElement);
const toastEl = byId("toast", HTMLElement);
const muteButton = byId("mute", HTMLButtonElement);
const sheet = byId("sheet", HTMLDialogElement);
const buyButton = byId("buy", HTMLButtonElement);
const sheetAuth = byId("sheet-auth", HTMLElement);
const accountDialog = byId("account", HTMLDialogElement);

/**
 * A clip on screen or next to it.
 * @typedef {object} Slide
 * @property {HTMLElement} el
 * @property {HTMLVideoElement} video
 * @property {Player} player
 * @property {Video} item
 * @property {number} watched  seconds watched since it came on screen
 * @property {number} last  the playhead at the last look, in seconds
 * @property {boolean} completed  watched to the end at least once
 * @property {boolean} [entered]  on screen
 * @property {Tag | null} shownTag  the tag whose card shows
 */

/**
 * The product in the buy sheet: the tag whose card was tapped, the clip, the purchase's
 * idempotency key, and the product once loaded.
 * @typedef {{tag: Tag, item: Video, key: string, product?: Product}} SheetTag
 */

const state = {
  /** @type {Account | null} the session's account, maybe anonymous (events, orders need its id) */
  viewer: null,
  /** @type {Video[]} */
  items: [],
  /** @type {string | null} */
  cursor: null,
  done: false,
  /** @type {Promise<void> | null} */
  loading: null,
  index: 0,
  moving: false,
  muted: true,
  /** @type {Map<number, Slide>} by index in `items` */
  slides: new Map(),
  /** @type {ViewerEvent[]} */
  queue: [],
  /** @type {SheetTag | null} */
  sheetTag: null,
};

// ---- Events: queued, sent in batches (and on leaving the page, with keepalive). ----

/**
 * @param {EventType} type
 * @param {Video} item
 * @param {{watch_ms?: number, tag_id?: string, product_id?: string}} [extra]
 */
function track(type, item, extra = {}) {
  if (!state.viewer || !item) return;
  state.queue.push({
    id: uuid(),
    viewer_id: state.viewer.id,
    video_id: item.id,
    type,
    at: Date.now(),
    ...extra,
  });
  if (state.queue.length >= 50) flush();
}

/**
 * The batch being sent, if any.
 * @type {Promise<unknown>}
 */
let flushing = Promise.resolve();

/** @param {boolean} [keepalive] sent even if the page is closing */
function flush(keepalive = false) {
  if (!state.queue.length || !state.viewer) return flushing;
  const events = state.queue.splice(0, 1000);
  const send = async () => {
    try {
      await api("/v1/events", { method: "POST", body: { events }, keepalive });
    } catch (e) {
      // Not lost: a retry sends the same ids, which the server counts once.
      if (!(e instanceof ApiError) || e.status >= 500) state.queue.unshift(...events);
    }
  };
  // In order: a batch waits for the one before it, so awaiting `flushing` awaits them all.
  flushing = keepalive ? Promise.all([flushing, send()]) : flushing.then(send);
  return flushing;
}
setInterval(flush, FLUSH_MS);
addEventListener("pagehide", () => flush(true));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") flush(true);
});

// ---- The feed's pages. ----

async function more() {
  if (state.done) return;
  if (state.loading) return state.loading;
  state.loading = (async () => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (state.cursor) q.set("cursor", state.cursor);
    try {
      /** @type {Page<Video>} */
      const page = await api(`/v1/feed?${q}`);
      const seen = new Set(state.items.map((i) => i.id));
      state.items.push(...page.items.filter((i) => !seen.has(i.id)));
      state.cursor = page.next_cursor;
      state.done = !page.next_cursor;
    } catch (e) {
      toast(`Feed unavailable: ${reason(e)}`);
    } finally {
      state.loading = null;
    }
  })();
  return state.loading;
}

// ---- Slides: the current clip and its neighbours exist; the rest are torn down. ----

/**
 * The slide of the `i`th clip, made if it is not there yet (none past the last clip loaded).
 * @param {number} i
 */
function slideFor(i) {
  let s = state.slides.get(i);
  if (s || !state.items[i]) return s;
  const item = state.items[i];
  const el = cloneTemplate(template);
  el.dataset.index = String(i);
  el.dataset.videoId = item.id;
  el.setAttribute("aria-label", item.title || "Clip");
  find(el, ".title", HTMLElement).textContent = item.title || "";
  const poster = find(el, ".poster", HTMLImageElement);
  const video = find(el, ".video", HTMLVideoElement);
  const pb = item.playback;
  if (pb.poster) {
    poster.src = pb.poster;
    video.poster = pb.poster;
  } else {
    poster.hidden = true;
  }
  video.muted = state.muted;
  video.loop = true;
  const player = attachPlayback(video, pb, { hls: HLS_CONFIG, status: el });
  const slide = { el, video, player, item, watched: 0, last: 0, completed: false, shownTag: null };
  video.addEventListener("playing", () => { poster.hidden = true; });
  video.addEventListener("timeupdate", () => onTime(slide));
  wireRail(slide);
  find(el, ".card", HTMLElement).addEventListener("click", () => openSheet(slide));
  feed.appendChild(el);
  state.slides.set(i, slide);
  return slide;
}

/** @param {number} i */
function teardown(i) {
  const s = state.slides.get(i);
  if (!s) return;
  leave(s);
  s.player.destroy();
  s.video.removeAttribute("src");
  s.video.load();
  s.el.remove();
  state.slides.delete(i);
}

function layout() {
  for (const [i, s] of state.slides) {
    s.el.style.transform = `translateY(${(i - state.index) * 100}%)`;
    s.el.setAttribute("aria-hidden", String(i !== state.index));
    s.el.inert = i !== state.index;
  }
}

/** @param {number} to */
async function go(to) {
  // One move at a time: a second swipe while the next page loads would enter a clip twice.
  if (to < 0 || state.moving) return;
  state.moving = true;
  try {
    await move(to);
  } finally {
    state.moving = false;
  }
}

/** @param {number} to */
async function move(to) {
  if (to >= state.items.length - 2) await more();
  if (to >= state.items.length) {
    toast(state.items.length ? "You're all caught up" : "No clips yet");
    return;
  }
  const from = state.slides.get(state.index);
  if (from && to !== state.index) {
    leave(from);
    from.video.pause();
  }
  state.index = to;
  for (const i of [...state.slides.keys()]) if (Math.abs(i - to) > 1) teardown(i);
  for (const i of [to - 1, to, to + 1]) slideFor(i);
  layout();
  const s = /** @type {Slide} */ (state.slides.get(to)); // made just above
  // The next clip buffers while this one plays, so a swipe starts it at once.
  const next = state.slides.get(to + 1);
  if (next) next.video.preload = "auto";
  enter(s);
  const url = new URL(location.href);
  url.searchParams.set("v", s.item.id);
  history.replaceState(null, "", url);
  if (to >= state.items.length - 2) more();
}

/** @param {Slide} s */
function enter(s) {
  s.watched = 0;
  s.last = 0;
  s.entered = true;
  s.video.muted = state.muted;
  track(EVENT_TYPES.impression, s.item);
  const played = s.video.play();
  if (played) played.catch(() => { /* autoplay refused: the first tap plays */ });
  onTime(s);
}

/**
 * The clip leaves the screen: how much of it was watched.
 * @param {Slide} s
 */
function leave(s) {
  if (!s.entered) return;
  s.entered = false;
  if (s.watched > 0) track(EVENT_TYPES.progress, s.item, { watch_ms: Math.round(s.watched * 1000) });
  showTag(s, null);
}

// ---- Playback: progress, completion, and the product card of the tag on screen. ----

/** @param {Slide} s */
function onTime(s) {
  const t = s.video.currentTime;
  if (s.entered) {
    if (t + 0.5 < s.last) {
      // Looped back to the start: watched to the end.
      track(s.completed ? EVENT_TYPES.replay : EVENT_TYPES.complete, s.item, {
        watch_ms: Math.round((s.video.duration || s.last) * 1000),
      });
      s.completed = true;
    }
    s.watched = Math.max(s.watched, t);
    s.last = t;
  }
  const ms = t * 1000;
  const tag = (s.item.tags || []).find((g) => g.status === "live" && g.in_stock
    && g.start_ms <= ms && ms < g.end_ms) || null;
  showTag(s, tag);
}

/**
 * @param {Slide} s
 * @param {Tag | null} tag
 */
function showTag(s, tag) {
  if (s.shownTag?.id === tag?.id) return;
  s.shownTag = tag;
  const card = find(s.el, ".card", HTMLElement);
  const pins = find(s.el, ".pins", HTMLElement);
  pins.replaceChildren();
  if (!tag) {
    card.hidden = true;
    delete card.dataset.tagId;
    return;
  }
  card.dataset.tagId = tag.id;
  find(card, ".card-title", HTMLElement).textContent = tag.label || tag.title;
  find(card, ".card-price", HTMLElement).textContent = money(tag.price);
  const img = find(card, ".card-image", HTMLImageElement);
  if (tag.image) img.src = tag.image;
  else img.removeAttribute("src");
  card.hidden = false;
  if (tag.position) {
    const pin = document.createElement("span");
    pin.className = "pin";
    pin.style.left = `${tag.position.x * 100}%`;
    pin.style.top = `${tag.position.y * 100}%`;
    pins.appendChild(pin);
  }
}

// ---- The action rail. ----

/** @param {Slide} s */
function wireRail(s) {
  const like = find(s.el, ".like", HTMLButtonElement);
  like.addEventListener("click", () => {
    if (!needViewer()) return;
    const on = like.getAttribute("aria-pressed") !== "true";
    like.setAttribute("aria-pressed", String(on));
    track(on ? EVENT_TYPES.like : EVENT_TYPES.unlike, s.item);
  });
  const follow = find(s.el, ".follow", HTMLButtonElement);
  follow.addEventListener("click", () => {
    if (!needViewer()) return;
    track(EVENT_TYPES.follow, s.item);
    follow.disabled = true;
    toast("Following");
  });
  find(s.el, ".share", HTMLButtonElement).addEventListener("click", async () => {
    const link = `${location.origin}/?v=${encodeURIComponent(s.item.id)}`;
    try {
      await navigator.clipboard.writeText(link);
      toast("Link copied");
    } catch {
      toast(link);
    }
    track(EVENT_TYPES.share, s.item);
  });
  find(s.el, ".not-interested", HTMLButtonElement).addEventListener("click", () => {
    if (!needViewer()) return;
    track(EVENT_TYPES.not_interested, s.item);
    flush(); // the next page must already know
    toast("You'll see less like this");
    go(state.index + 1);
  });
}

/** The session's account; null (and the viewer is told) while there is none. */
function needViewer() {
  if (state.viewer) return state.viewer;
  toast("Not connected to Vitrine: try again in a moment");
  return null;
}

// ---- The buy sheet: the product, its variants and stock, and one tap to order. ----

const sheetVariants = byId("sheet-variants", HTMLFieldSetElement);
const sheetStock = byId("sheet-stock", HTMLElement);
const sheetDescription = byId("sheet-description", HTMLElement);
const sheetResult = byId("sheet-result", HTMLElement);
const sheetPrice = byId("sheet-price", HTMLElement);

/** @param {Slide} s */
async function openSheet(s) {
  const tag = s.shownTag;
  if (!tag) return;
  state.sheetTag = { tag, item: s.item, key: uuid() };
  buyButton.disabled = true; // until this product is loaded
  buyButton.hidden = false;
  sheetAuth.hidden = true;
  sheetVariants.querySelectorAll("label").forEach((l) => l.remove());
  sheetStock.textContent = "";
  delete sheetStock.dataset.units;
  sheetDescription.textContent = "";
  track(EVENT_TYPES.product_click, s.item, { tag_id: tag.id, product_id: tag.product_id });
  // At once: the shop credits a sale to the clip whose card was tapped, by this click.
  flush();
  sheetResult.textContent = "";
  sheetResult.className = "result";
  byId("sheet-title", HTMLElement).textContent = tag.title;
  sheetPrice.textContent = money(tag.price);
  const image = byId("sheet-image", HTMLImageElement);
  if (tag.image) image.src = tag.image;
  else image.removeAttribute("src");
  sheet.showModal();
  await showProduct(tag.product_id, tag.variant_id);
}

/**
 * @param {string} productId
 * @param {string | null} preferred  the variant to choose first
 */
async function showProduct(productId, preferred) {
  const sheetTag = state.sheetTag;
  /** @type {Product} */
  let product;
  try {
    product = await api(`/v1/products/${encodeURIComponent(productId)}`);
  } catch (e) {
    if (state.sheetTag !== sheetTag) return;
    sheetStock.textContent = reason(e);
    buyButton.disabled = true;
    return;
  }
  // The sheet may have moved on to another card meanwhile.
  if (!sheetTag || state.sheetTag !== sheetTag) return;
  sheetTag.product = product;
  sheetDescription.textContent = product.description || "";
  sheetVariants.querySelectorAll("label").forEach((l) => l.remove());
  sheetVariants.hidden = product.variants.length === 0;
  product.variants.forEach((v, n) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "variant";
    input.value = v.id;
    input.disabled = !v.in_stock;
    input.checked = preferred ? v.id === preferred : n === product.variants.findIndex((x) => x.in_stock);
    input.addEventListener("change", () => renderStock());
    const span = document.createElement("span");
    span.textContent = `${Object.values(v.options).join(" / ") || v.sku} · ${money(v.price)}`;
    label.append(input, span);
    sheetVariants.appendChild(label);
  });
  renderStock();
}

function chosenVariant() {
  const product = state.sheetTag?.product;
  const checked = sheet.querySelector("input[name=variant]:checked");
  const id = checked instanceof HTMLInputElement ? checked.value : undefined;
  return product?.variants.find((v) => v.id === id) || null;
}

function renderStock() {
  const product = state.sheetTag?.product;
  if (!product) return;
  const variant = chosenVariant();
  const units = variant ? variant.stock : product.stock;
  const price = variant ? variant.price : product.price;
  sheetPrice.textContent = money(price);
  sheetStock.textContent = units > 0 ? `${units} in stock` : "Sold out";
  sheetStock.dataset.units = String(units);
  buyButton.disabled = units <= 0;
}

buyButton.addEventListener("click", buy);
find(sheet, ".close", HTMLButtonElement).addEventListener("click", () => sheet.close());

async function buy() {
  const viewer = needViewer();
  const sheetTag = state.sheetTag;
  const product = sheetTag?.product;
  if (!viewer || !sheetTag || !product) return;
  // Orders are for people who signed up: the sheet asks for it, then goes on with the purchase.
  if (viewer.anonymous) return askToSignUp();
  const { tag, item, key } = sheetTag;
  const variant = chosenVariant();
  buyButton.disabled = true;
  sheetResult.className = "result";
  sheetResult.textContent = "Placing your order…";
  try {
    // The card's tap must be stored before the order, or the sale is credited to no clip.
    await flushing;
    await flush();
    // The same key for every retry of this purchase: the server places it once.
    /** @type {Order} */
    const order = await api("/v1/orders", {
      method: "POST",
      headers: { "Idempotency-Key": key },
      body: {
        viewer_id: viewer.id,
        items: [{ product_id: product.id, variant_id: variant ? variant.id : null, quantity: 1 }],
        video_id: item.id,
        tag_id: tag.id,
      },
    });
    await api(`/v1/orders/${encodeURIComponent(order.id)}/pay`, {
      method: "POST",
      // The provider's token for the buyer's card (the test provider's approved one): card
      // numbers never reach the API.
      body: { payment_method: "pm_card_approved" },
    });
    sheetResult.textContent = `Order ${order.id} paid · ${money(order.total)}`;
    sheetResult.dataset.orderId = order.id;
    if (state.sheetTag) state.sheetTag.key = uuid(); // the next tap is a new purchase
    await showProduct(product.id, variant ? variant.id : null);
  } catch (e) {
    if (e instanceof ApiError && e.code === "sign_up_required") return askToSignUp();
    sheetResult.className = "result error";
    sheetResult.textContent = reason(e);
    buyButton.disabled = false;
  }
}

function askToSignUp() {
  sheetResult.className = "result";
  sheetResult.textContent = "";
  buyButton.hidden = true;
  sheetAuth.hidden = false;
  /** @type {HTMLInputElement | null} */ (sheetAuth.querySelector("form:not([hidden]) input"))?.focus();
}

authPanel(byId("sheet-auth-forms", HTMLElement), {
  start: "signup",
  before: async () => { await flush(); },
  onSignedIn: async (account) => {
    const before = state.viewer;
    setViewer(account);
    sheetAuth.hidden = true;
    buyButton.hidden = false;
    const { tag, item } = /** @type {SheetTag} */ (state.sheetTag); // the sheet is open
    // Signing in to another account (not signing this one up): the card's tap is credited to
    // whoever taps, so it is told again, as the account that buys.
    if (before?.id !== account.id) {
      track(EVENT_TYPES.product_click, item, { tag_id: tag.id, product_id: tag.product_id });
    }
    await buy();
  },
});

// ---- Input: swipe, wheel, keys, tap. ----

/**
 * Whether an event happened in (or on) an element that matches `selector`.
 * @param {Event} e
 * @param {string} selector
 */
const within = (e, selector) => e.target instanceof Element && e.target.closest(selector) !== null;

/** @type {{y: number, t: number} | null} where and when the finger went down */
let pointer = null;
feed.addEventListener("pointerdown", (e) => {
  if (within(e, "button")) return;
  pointer = { y: e.clientY, t: performance.now() };
});
feed.addEventListener("pointerup", (e) => {
  if (!pointer) return;
  const dy = e.clientY - pointer.y;
  const quick = performance.now() - pointer.t < 400;
  pointer = null;
  if (dy <= -SWIPE_PX) go(state.index + 1);
  else if (dy >= SWIPE_PX) go(state.index - 1);
  else if (Math.abs(dy) < 10 && quick) togglePause();
});
let lastWheel = 0;
feed.addEventListener("wheel", (e) => {
  e.preventDefault();
  const now = performance.now();
  if (Math.abs(e.deltaY) < 20 || now - lastWheel < WHEEL_GAP_MS) return;
  lastWheel = now;
  go(state.index + (e.deltaY > 0 ? 1 : -1));
}, { passive: false });
document.addEventListener("keydown", (e) => {
  if (within(e, "input, textarea, select, dialog")) return;
  if (["ArrowDown", "PageDown", "j"].includes(e.key)) { e.preventDefault(); go(state.index + 1); }
  else if (["ArrowUp", "PageUp", "k"].includes(e.key)) { e.preventDefault(); go(state.index - 1); }
  else if (e.key === " " && !within(e, "button")) { e.preventDefault(); togglePause(); }
  else if (e.key === "m") toggleMute();
});

function togglePause() {
  const s = state.slides.get(state.index);
  if (!s) return;
  if (s.video.paused) s.video.play().catch(() => {});
  else s.video.pause();
}

function toggleMute() {
  state.muted = !state.muted;
  for (const s of state.slides.values()) s.video.muted = state.muted;
  muteButton.setAttribute("aria-pressed", String(state.muted));
  muteButton.setAttribute("aria-label", state.muted ? "Unmute" : "Mute");
}
muteButton.addEventListener("click", toggleMute);

let toastTimer = 0;
/** @param {string} text */
function toast(text) {
  toastEl.textContent = text;
  toastEl.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toastEl.classList.remove("show"), 1800);
}

// ---- Who is watching. ----

/**
 * The session's account: the signed-in person's, else an anonymous viewer's, made on the first
 * visit (and again after signing out, or when the old session ended).
 */
async function session() {
  /** @type {Account | null} */
  let account = null;
  try {
    account = await me();
    if (!account) {
      /** @type {SessionGranted} */
      const anonymous = await api("/v1/auth/anonymous", { method: "POST" });
      account = anonymous.account;
    }
  } catch (e) {
    toast(`Vitrine is unreachable: ${reason(e)}`);
  }
  setViewer(account);
}

const signInButton = byId("signin-open", HTMLButtonElement);
const signOutButton = byId("signout", HTMLButtonElement);

/**
 * The header: who is signed in and "Sign out", or "Sign in / Sign up" for anonymous viewers.
 * @param {Account | null} account
 */
function setViewer(account) {
  state.viewer = account;
  const person = Boolean(account && !account.anonymous);
  const who = byId("who", HTMLElement);
  who.hidden = !person;
  who.textContent = person && account ? account.display_name : "";
  signOutButton.hidden = !person;
  signInButton.hidden = person;
  document.body.dataset.viewerId = account ? account.id : "";
  document.body.dataset.anonymous = String(!person);
}

authPanel(byId("account-forms", HTMLElement), {
  // What this session watched is sent before it ends.
  before: async () => { await flush(); },
  // The person's own feed, from the clip on screen (it is in the address).
  onSignedIn: () => location.reload(),
});
signInButton.addEventListener("click", () => accountDialog.showModal());
find(accountDialog, ".close", HTMLButtonElement).addEventListener("click", () => accountDialog.close());

signOutButton.addEventListener("click", async () => {
  await flush();
  try {
    await signOut();
  } catch (e) {
    toast(reason(e));
    return;
  }
  location.reload();
});

async function start() {
  // A shared link opens on its clip, then the feed follows.
  const shared = new URLSearchParams(location.search).get("v");
  if (shared && !state.items.length) {
    try {
      /** @type {Video} */
      const v = await api(`/v1/videos/${encodeURIComponent(shared)}`);
      if (v.playback && (v.playback.hls || v.playback.mp4.length)) state.items.push(v);
    } catch { /* gone: the feed alone */ }
  }
  await more();
  const empty = byId("empty", HTMLElement);
  empty.textContent = state.viewer ? "You're all caught up: no clips you haven't seen." : "No clips yet.";
  empty.hidden = state.items.length > 0;
  if (state.items.length) await go(0);
  feed.focus();
}

await session();
await start();
