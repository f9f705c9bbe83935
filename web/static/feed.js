// The viewer's feed: one full-screen clip at a time, the next one already loading, product
// cards while their tag's range plays, a buy sheet over the video, and every viewing action
// sent to `POST /v1/events` in batches, as any app would. Whoever opens the page watches under
// a session: their own once signed in, else an anonymous viewer's, made on the first visit (the
// feed learns from it, and signing up later keeps what it learnt).

import { api, ApiError, authPanel, me, money, signOut, uuid } from "/assets/api.js";

const PAGE = 5;
const FLUSH_MS = 3000;
const SWIPE_PX = 50;
const WHEEL_GAP_MS = 450;

const feed = document.getElementById("feed");
const template = document.getElementById("slide-template");
const toastEl = document.getElementById("toast");
const muteButton = document.getElementById("mute");
const sheet = document.getElementById("sheet");
const buyButton = document.getElementById("buy");
const sheetAuth = document.getElementById("sheet-auth");
const accountDialog = document.getElementById("account");

const state = {
  viewer: null, // the session's account, maybe anonymous (events and orders need its id)
  items: [],
  cursor: null,
  done: false,
  loading: null,
  index: 0,
  muted: true,
  slides: new Map(), // index → { el, video, hls, item, watched, last, completed }
  queue: [],
  sheetTag: null,
};

// ---- Events: queued, sent in batches (and on leaving the page, with keepalive). ----

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

/** The batch being sent, if any. */
let flushing = Promise.resolve();

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
      const page = await api(`/v1/feed?${q}`);
      const seen = new Set(state.items.map((i) => i.id));
      state.items.push(...page.items.filter((i) => !seen.has(i.id)));
      state.cursor = page.next_cursor;
      state.done = !page.next_cursor;
    } catch (e) {
      toast(`Feed unavailable: ${e.message}`);
    } finally {
      state.loading = null;
    }
  })();
  return state.loading;
}

// ---- Slides: the current clip and its neighbours exist; the rest are torn down. ----

function slideFor(i) {
  let s = state.slides.get(i);
  if (s || !state.items[i]) return s;
  const item = state.items[i];
  const el = template.content.firstElementChild.cloneNode(true);
  el.dataset.index = String(i);
  el.dataset.videoId = item.id;
  el.setAttribute("aria-label", item.title || "Clip");
  el.querySelector(".title").textContent = item.title || "";
  const poster = el.querySelector(".poster");
  const video = el.querySelector(".video");
  const pb = item.playback || {};
  if (pb.poster) {
    poster.src = pb.poster;
    video.poster = pb.poster;
  } else {
    poster.hidden = true;
  }
  video.muted = state.muted;
  video.loop = true;
  s = { el, video, hls: null, item, watched: 0, last: 0, completed: false, shownTag: null };
  attach(s);
  video.addEventListener("playing", () => { poster.hidden = true; });
  video.addEventListener("timeupdate", () => onTime(s));
  wireRail(s);
  el.querySelector(".card").addEventListener("click", () => openSheet(s));
  feed.appendChild(el);
  state.slides.set(i, s);
  return s;
}

/** HLS through hls.js, native HLS where the browser plays it, else the progressive MP4. */
function attach(s) {
  const pb = s.item.playback || {};
  const video = s.video;
  const Hls = window.Hls;
  if (pb.hls && Hls && Hls.isSupported()) {
    const hls = new Hls({ capLevelToPlayerSize: true, startLevel: -1, maxBufferLength: 10 });
    hls.on(Hls.Events.LEVEL_LOADED, (_, data) => {
      s.el.dataset.levelLoaded = String(data.level);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
      s.el.dataset.level = String(data.level);
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) {
        hls.destroy();
        s.hls = null;
        progressive(s);
      }
    });
    hls.loadSource(pb.hls);
    hls.attachMedia(video);
    s.hls = hls;
    s.el.dataset.player = "hls.js";
  } else if (pb.hls && video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = pb.hls;
    s.el.dataset.player = "native";
  } else {
    progressive(s);
  }
}

function progressive(s) {
  const mp4 = [...(s.item.playback?.mp4 || [])].sort((a, b) => a.height - b.height);
  // The smallest rendition at least as tall as the screen, else the largest.
  const want = innerHeight * devicePixelRatio;
  const pick = mp4.find((r) => r.height >= want) || mp4[mp4.length - 1];
  if (pick) s.video.src = pick.url;
  s.el.dataset.player = "mp4";
}

function teardown(i) {
  const s = state.slides.get(i);
  if (!s) return;
  leave(s);
  if (s.hls) s.hls.destroy();
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
  const s = state.slides.get(to);
  // The next clip buffers while this one plays, so a swipe starts it at once.
  const next = state.slides.get(to + 1);
  if (next) next.video.preload = "auto";
  enter(s);
  const url = new URL(location.href);
  url.searchParams.set("v", s.item.id);
  history.replaceState(null, "", url);
  if (to >= state.items.length - 2) more();
}

function enter(s) {
  s.watched = 0;
  s.last = 0;
  s.entered = true;
  s.video.muted = state.muted;
  track("impression", s.item);
  const played = s.video.play();
  if (played) played.catch(() => { /* autoplay refused: the first tap plays */ });
  onTime(s);
}

/** The clip leaves the screen: how much of it was watched. */
function leave(s) {
  if (!s.entered) return;
  s.entered = false;
  if (s.watched > 0) track("progress", s.item, { watch_ms: Math.round(s.watched * 1000) });
  showTag(s, null);
}

// ---- Playback: progress, completion, and the product card of the tag on screen. ----

function onTime(s) {
  const t = s.video.currentTime;
  if (s.entered) {
    if (t + 0.5 < s.last) {
      // Looped back to the start: watched to the end.
      track(s.completed ? "replay" : "complete", s.item, {
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

function showTag(s, tag) {
  if (s.shownTag?.id === tag?.id) return;
  s.shownTag = tag;
  const card = s.el.querySelector(".card");
  const pins = s.el.querySelector(".pins");
  pins.replaceChildren();
  if (!tag) {
    card.hidden = true;
    delete card.dataset.tagId;
    return;
  }
  card.dataset.tagId = tag.id;
  card.querySelector(".card-title").textContent = tag.label || tag.title;
  card.querySelector(".card-price").textContent = money(tag.price);
  const img = card.querySelector(".card-image");
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

function wireRail(s) {
  const like = s.el.querySelector(".like");
  like.addEventListener("click", () => {
    if (!needViewer()) return;
    const on = like.getAttribute("aria-pressed") !== "true";
    like.setAttribute("aria-pressed", String(on));
    track(on ? "like" : "unlike", s.item);
  });
  s.el.querySelector(".follow").addEventListener("click", (e) => {
    if (!needViewer()) return;
    track("follow", s.item);
    e.currentTarget.disabled = true;
    toast("Following");
  });
  s.el.querySelector(".share").addEventListener("click", async () => {
    const link = `${location.origin}/?v=${encodeURIComponent(s.item.id)}`;
    try {
      await navigator.clipboard.writeText(link);
      toast("Link copied");
    } catch {
      toast(link);
    }
    track("share", s.item);
  });
  s.el.querySelector(".not-interested").addEventListener("click", () => {
    if (!needViewer()) return;
    track("not_interested", s.item);
    flush(); // the next page must already know
    toast("You'll see less like this");
    go(state.index + 1);
  });
}

function needViewer() {
  if (state.viewer) return true;
  toast("Not connected to Vitrine: try again in a moment");
  return false;
}

// ---- The buy sheet: the product, its variants and stock, and one tap to order. ----

async function openSheet(s) {
  const tag = s.shownTag;
  if (!tag) return;
  state.sheetTag = { tag, item: s.item, key: uuid() };
  buyButton.disabled = true; // until this product is loaded
  buyButton.hidden = false;
  sheetAuth.hidden = true;
  document.getElementById("sheet-variants").querySelectorAll("label").forEach((l) => l.remove());
  document.getElementById("sheet-stock").textContent = "";
  delete document.getElementById("sheet-stock").dataset.units;
  document.getElementById("sheet-description").textContent = "";
  track("product_click", s.item, { tag_id: tag.id, product_id: tag.product_id });
  // At once: the shop credits a sale to the clip whose card was tapped, by this click.
  flush();
  document.getElementById("sheet-result").textContent = "";
  document.getElementById("sheet-result").className = "result";
  document.getElementById("sheet-title").textContent = tag.title;
  document.getElementById("sheet-price").textContent = money(tag.price);
  const image = document.getElementById("sheet-image");
  if (tag.image) image.src = tag.image;
  else image.removeAttribute("src");
  sheet.showModal();
  await showProduct(tag.product_id, tag.variant_id);
}

async function showProduct(productId, preferred) {
  const stock = document.getElementById("sheet-stock");
  const sheetTag = state.sheetTag;
  let product;
  try {
    product = await api(`/v1/products/${encodeURIComponent(productId)}`);
  } catch (e) {
    if (state.sheetTag !== sheetTag) return;
    stock.textContent = e.message;
    buyButton.disabled = true;
    return;
  }
  // The sheet may have moved on to another card meanwhile.
  if (state.sheetTag !== sheetTag) return;
  sheetTag.product = product;
  document.getElementById("sheet-description").textContent = product.description || "";
  const box = document.getElementById("sheet-variants");
  box.querySelectorAll("label").forEach((l) => l.remove());
  box.hidden = product.variants.length === 0;
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
    box.appendChild(label);
  });
  renderStock();
}

function chosenVariant() {
  const product = state.sheetTag?.product;
  const id = sheet.querySelector("input[name=variant]:checked")?.value;
  return product?.variants.find((v) => v.id === id) || null;
}

function renderStock() {
  const product = state.sheetTag.product;
  const variant = chosenVariant();
  const units = variant ? variant.stock : product.stock;
  const price = variant ? variant.price : product.price;
  document.getElementById("sheet-price").textContent = money(price);
  const stock = document.getElementById("sheet-stock");
  stock.textContent = units > 0 ? `${units} in stock` : "Sold out";
  stock.dataset.units = String(units);
  buyButton.disabled = units <= 0;
}

buyButton.addEventListener("click", buy);
sheet.querySelector(".close").addEventListener("click", () => sheet.close());

async function buy() {
  if (!needViewer() || !state.sheetTag?.product) return;
  // Orders are for people who signed up: the sheet asks for it, then goes on with the purchase.
  if (state.viewer.anonymous) return askToSignUp();
  const { tag, item, key, product } = state.sheetTag;
  const variant = chosenVariant();
  const result = document.getElementById("sheet-result");
  buyButton.disabled = true;
  result.className = "result";
  result.textContent = "Placing your order…";
  try {
    // The card's tap must be stored before the order, or the sale is credited to no clip.
    await flushing;
    await flush();
    // The same key for every retry of this purchase: the server places it once.
    const order = await api("/v1/orders", {
      method: "POST",
      headers: { "Idempotency-Key": key },
      body: {
        viewer_id: state.viewer.id,
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
    result.textContent = `Order ${order.id} paid · ${money(order.total)}`;
    result.dataset.orderId = order.id;
    state.sheetTag.key = uuid(); // the next tap is a new purchase
    await showProduct(product.id, variant ? variant.id : null);
  } catch (e) {
    if (e.code === "sign_up_required") return askToSignUp();
    result.className = "result error";
    result.textContent = e.message;
    buyButton.disabled = false;
  }
}

function askToSignUp() {
  const result = document.getElementById("sheet-result");
  result.className = "result";
  result.textContent = "";
  buyButton.hidden = true;
  sheetAuth.hidden = false;
  sheetAuth.querySelector("form:not([hidden]) input")?.focus();
}

authPanel(document.getElementById("sheet-auth-forms"), {
  start: "signup",
  before: async () => { await flush(); },
  onSignedIn: async (account) => {
    const before = state.viewer;
    setViewer(account);
    sheetAuth.hidden = true;
    buyButton.hidden = false;
    const { tag, item } = state.sheetTag;
    // Signing in to another account (not signing this one up): the card's tap is credited to
    // whoever taps, so it is told again, as the account that buys.
    if (before?.id !== account.id) {
      track("product_click", item, { tag_id: tag.id, product_id: tag.product_id });
    }
    await buy();
  },
});

// ---- Input: swipe, wheel, keys, tap. ----

let pointer = null;
feed.addEventListener("pointerdown", (e) => {
  if (e.target.closest("button")) return;
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
  if (e.target.closest("input, textarea, select, dialog")) return;
  if (["ArrowDown", "PageDown", "j"].includes(e.key)) { e.preventDefault(); go(state.index + 1); }
  else if (["ArrowUp", "PageUp", "k"].includes(e.key)) { e.preventDefault(); go(state.index - 1); }
  else if (e.key === " " && !e.target.closest("button")) { e.preventDefault(); togglePause(); }
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
  let account = null;
  try {
    account = await me();
    if (!account) account = (await api("/v1/auth/anonymous", { method: "POST" })).account;
  } catch (e) {
    toast(`Vitrine is unreachable: ${e.message}`);
  }
  setViewer(account);
}

/** The header: who is signed in and "Sign out", or "Sign in / Sign up" for anonymous viewers. */
function setViewer(account) {
  state.viewer = account;
  const person = Boolean(account && !account.anonymous);
  const who = document.getElementById("who");
  who.hidden = !person;
  who.textContent = person ? account.display_name : "";
  document.getElementById("signout").hidden = !person;
  document.getElementById("signin-open").hidden = person;
  document.body.dataset.viewerId = account ? account.id : "";
  document.body.dataset.anonymous = String(!person);
}

authPanel(document.getElementById("account-forms"), {
  // What this session watched is sent before it ends.
  before: async () => { await flush(); },
  // The person's own feed, from the clip on screen (it is in the address).
  onSignedIn: () => location.reload(),
});
document.getElementById("signin-open").addEventListener("click", () => accountDialog.showModal());
accountDialog.querySelector(".close").addEventListener("click", () => accountDialog.close());

document.getElementById("signout").addEventListener("click", async () => {
  await flush();
  try {
    await signOut();
  } catch (e) {
    toast(e.message);
    return;
  }
  location.reload();
});

async function start() {
  // A shared link opens on its clip, then the feed follows.
  const shared = new URLSearchParams(location.search).get("v");
  if (shared && !state.items.length) {
    try {
      const v = await api(`/v1/videos/${encodeURIComponent(shared)}`);
      if (v.playback && (v.playback.hls || v.playback.mp4.length)) state.items.push(v);
    } catch { /* gone: the feed alone */ }
  }
  await more();
  const empty = document.getElementById("empty");
  empty.textContent = state.viewer ? "You're all caught up: no clips you haven't seen." : "No clips yet.";
  empty.hidden = state.items.length > 0;
  if (state.items.length) await go(0);
  feed.focus();
}

await session();
await start();
