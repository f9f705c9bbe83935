// @ts-check
// The merchant's console: products (with pictures), tagging a product into a clip on its
// timeline (storyboard to scrub, start and end, a pin on the frame), and per-video analytics.

import {
  api, ApiError, attachPlayback, byId, consoleGate, find, minorDigits, money, reason, seconds,
} from "/assets/api.js";

/**
 * @import { Me, Money, Page, Player, Position, Product, Stats, Tag, Video } from "/assets/api.js"
 */

/**
 * One frame of the storyboard: its time range (ms) and its tile in the sprite sheet.
 * @typedef {{start: number, end: number, image: string, x: number, y: number, w: number,
 *   h: number}} Cue
 */

/** The shop this console works for: the signed-in account's first. */
function shopId() {
  if (!state.shop) throw new Error("the console has no shop yet");
  return state.shop.shop_id;
}

const state = {
  /** @type {Me | null} */
  me: null,
  /** @type {Me["shops"][number] | null} */
  shop: null,
  /** @type {Map<string, Product>} the shop's, by id */
  products: new Map(),
  /** @type {Video | null} the clip being tagged */
  video: null,
  /** @type {number | null} the tag's start (ms) */
  start: null,
  /** @type {number | null} the tag's end (ms) */
  end: null,
  /** @type {Position | null} */
  pin: null,
  /** @type {Cue[]} */
  cues: [],
  /** @type {{w: number, h: number} | null} the storyboard's sprite sheet size */
  sprite: null,
  /** @type {Player | null} */
  player: null,
};
/** @param {string} id */
const $ = (id) => byId(id, HTMLElement);
const videoEl = byId("tag-video", HTMLVideoElement);
const productSelect = byId("tag-product", HTMLSelectElement);

// ---- Products. ----

async function loadProducts() {
  /** @type {Page<Product>} */
  const page = await api(`/v1/products?shop_id=${encodeURIComponent(shopId())}&limit=100`);
  state.products = new Map(page.items.map((p) => [p.id, p]));
  const list = $("products");
  list.replaceChildren(...page.items.map((p) => {
    const li = document.createElement("li");
    li.className = "product";
    li.dataset.productId = p.id;
    const img = document.createElement("img");
    img.alt = "";
    img.width = 40;
    img.height = 40;
    const small = p.images[0]?.sizes?.[0]?.url;
    if (small) img.src = small;
    li.append(img, `${p.title} · ${money(p.price)} · ${p.stock} in stock`);
    return li;
  }));
  const chosen = productSelect.value;
  productSelect.replaceChildren(...page.items.map((p) =>
    new Option(`${p.title} (${money(p.price)})`, p.id)));
  if (chosen && state.products.has(chosen)) productSelect.value = chosen;
}

const productForm = byId("product-form", HTMLFormElement);
productForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  /** @param {string} id */
  const input = (id) => byId(id, HTMLInputElement);
  const error = $("product-error");
  error.textContent = "";
  const currency = input("p-currency").value.trim().toUpperCase();
  let digits;
  try {
    digits = minorDigits(currency);
  } catch {
    error.textContent = `${currency || "That"} is not a currency code (e.g. USD, EUR, JPY).`;
    return;
  }
  /** @type {{title: string, price: Money, stock: number, category?: string}} */
  const body = {
    title: input("p-title").value.trim(),
    price: { amount_minor: Math.round(Number(input("p-price").value) * 10 ** digits), currency },
    stock: Number(input("p-stock").value),
  };
  if (input("p-category").value.trim()) body.category = input("p-category").value.trim();
  try {
    /** @type {Product} */
    const product = await api("/v1/products", { method: "POST", body });
    const image = input("p-image").files?.[0];
    if (image) {
      try {
        await api(`/v1/products/${encodeURIComponent(product.id)}/images`, {
          method: "POST", file: image,
        });
      } catch (err) {
        // The product stands: say why its picture does not, and go on.
        if (!(err instanceof ApiError)) throw err;
        error.textContent = `Product created, picture refused: ${err.message}`;
      }
    }
    productForm.reset();
    await loadProducts();
    productSelect.value = product.id;
  } catch (err) {
    error.textContent = reason(err);
  }
});

// ---- Opening a clip: player, storyboard, timeline. ----

async function recent() {
  const page = await /** @type {Promise<Page<Video>>} */ (api("/v1/feed?limit=12"))
    .catch(() => ({ items: [] }));
  $("recent").replaceChildren(...page.items.map((v) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "recent-clip";
    b.dataset.videoId = v.id;
    b.setAttribute("aria-label", `Open ${v.title || v.id}`);
    if (v.playback.poster) {
      const img = document.createElement("img");
      img.src = v.playback.poster;
      img.alt = "";
      b.appendChild(img);
    }
    const span = document.createElement("span");
    span.textContent = v.title || v.id;
    b.appendChild(span);
    b.addEventListener("click", () => openVideo(v.id));
    return b;
  }));
}

$("open-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const raw = byId("video-id", HTMLInputElement).value.trim();
  const id = raw.match(/vid_[0-9a-f]+/)?.[0] || raw;
  openVideo(id);
});

/** @param {string} id */
async function openVideo(id) {
  const error = $("tag-error");
  error.textContent = "";
  /** @type {Video} */
  let video;
  try {
    video = await api(`/v1/videos/${encodeURIComponent(id)}`);
  } catch (e) {
    error.textContent = reason(e);
    $("tagger").hidden = false;
    return;
  }
  Object.assign(state, { video, start: null, end: null, pin: null, cues: [] });
  $("tagger").hidden = false;
  $("tagger").dataset.videoId = video.id;
  byId("video-id", HTMLInputElement).value = video.id;
  state.player?.destroy();
  const pb = video.playback;
  // A longer buffer than the feed's: the merchant scrubs back and forth.
  state.player = attachPlayback(videoEl, pb, { hls: { maxBufferLength: 30 } });
  if (pb.poster) videoEl.poster = pb.poster;
  $("tag-pin").hidden = true;
  await storyboard(pb.storyboard);
  drawRange();
  tags();
}

/**
 * The storyboard's WebVTT cues (`sprite.jpg#xywh=x,y,w,h`) as a strip of frames.
 * @param {string | null} url
 */
async function storyboard(url) {
  const strip = $("strip");
  strip.replaceChildren();
  if (!url) return;
  // Media, not the API: a WebVTT text from where the clip's files are served.
  const text = await fetch(url).then((r) => (r.ok ? r.text() : ""));
  /** @type {Cue[]} */
  const cues = [];
  const re = /(\d+):(\d+):(\d+\.\d+)\s+-->\s+(\d+):(\d+):(\d+\.\d+)\s*\n\s*(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)/g;
  /**
   * @param {string} h
   * @param {string} m
   * @param {string} s
   */
  const t = (h, m, s) => (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1000;
  for (const m of text.matchAll(re)) {
    cues.push({
      start: t(m[1], m[2], m[3]), end: t(m[4], m[5], m[6]),
      image: new URL(m[7], url).href, x: +m[8], y: +m[9], w: +m[10], h: +m[11],
    });
  }
  state.cues = cues;
  state.sprite = null;
  if (cues.length) {
    const sprite = new Image();
    sprite.src = cues[0].image;
    await sprite.decode().catch(() => {});
    state.sprite = { w: sprite.naturalWidth, h: sprite.naturalHeight };
  }
  const total = durationMs() || (cues.length ? cues[cues.length - 1].end : 1);
  for (const c of cues) {
    const frame = document.createElement("span");
    frame.className = "frame-thumb";
    frame.style.left = `${(100 * c.start) / total}%`;
    frame.style.width = `${(100 * (c.end - c.start)) / total}%`;
    frame.style.backgroundImage = `url("${c.image}")`;
    // Scale the sprite so that one tile fills the thumb's height.
    frame.style.setProperty("--x", String(c.x));
    frame.style.setProperty("--y", String(c.y));
    frame.style.setProperty("--w", String(c.w));
    frame.style.setProperty("--h", String(c.h));
    strip.appendChild(frame);
  }
  layoutThumbs();
}

function layoutThumbs() {
  const height = $("strip").clientHeight || 48;
  const sprite = state.sprite;
  if (!sprite || !sprite.h) return;
  for (const f of $("strip").children) {
    if (!(f instanceof HTMLElement)) continue;
    // One tile of the sprite sheet fills the thumb's height.
    const s = height / Number(f.style.getPropertyValue("--h"));
    f.style.backgroundSize = `${sprite.w * s}px ${sprite.h * s}px`;
    f.style.backgroundPosition = `-${Number(f.style.getPropertyValue("--x")) * s}px -${Number(f.style.getPropertyValue("--y")) * s}px`;
  }
}
addEventListener("resize", layoutThumbs);

function durationMs() {
  const d = videoEl.duration;
  if (Number.isFinite(d) && d > 0) return d * 1000;
  return state.video?.duration_ms || 0;
}

/**
 * Scrub: a click (or a drag) on the timeline seeks there.
 * @param {PointerEvent} e
 */
function seekFromPointer(e) {
  const box = $("timeline").getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
  videoEl.currentTime = (f * durationMs()) / 1000;
}
$("timeline").addEventListener("pointerdown", (e) => {
  seekFromPointer(e);
  /** @param {PointerEvent} ev */
  const move = (ev) => seekFromPointer(ev);
  $("timeline").addEventListener("pointermove", move);
  addEventListener("pointerup", () => $("timeline").removeEventListener("pointermove", move), { once: true });
});

videoEl.addEventListener("timeupdate", drawRange);
videoEl.addEventListener("seeked", drawRange);
videoEl.addEventListener("loadedmetadata", () => {
  layoutThumbs();
  drawRange();
});
$("play").addEventListener("click", () => {
  if (videoEl.paused) videoEl.play().catch(() => {});
  else videoEl.pause();
});
$("set-start").addEventListener("click", () => {
  state.start = Math.round(videoEl.currentTime * 1000);
  if (state.end !== null && state.end <= state.start) state.end = null;
  drawRange();
});
$("set-end").addEventListener("click", () => {
  state.end = Math.round(videoEl.currentTime * 1000);
  if (state.start !== null && state.start >= state.end) state.start = null;
  drawRange();
});

function drawRange() {
  const total = durationMs() || 1;
  const now = videoEl.currentTime * 1000;
  $("now").textContent = seconds(now);
  $("playhead").style.left = `${(100 * now) / total}%`;
  const range = $("range");
  const { start, end } = state;
  range.hidden = start === null;
  if (start !== null) {
    const stop = end ?? now;
    range.style.left = `${(100 * start) / total}%`;
    range.style.width = `${(100 * Math.max(0, stop - start)) / total}%`;
  }
  $("range-text").textContent = start === null ? "not set"
    : `${seconds(start)} – ${end === null ? "…" : seconds(end)}`;
  const tagger = $("tagger");
  tagger.dataset.start = String(start ?? "");
  tagger.dataset.end = String(end ?? "");
}

// The pin: where on the picture (not the letterbox) the card points.
$("stage").addEventListener("click", (e) => {
  const box = videoEl.getBoundingClientRect();
  const vw = videoEl.videoWidth || 9;
  const vh = videoEl.videoHeight || 16;
  const scale = Math.min(box.width / vw, box.height / vh);
  const w = vw * scale;
  const h = vh * scale;
  const left = box.left + (box.width - w) / 2;
  const top = box.top + (box.height - h) / 2;
  const x = (e.clientX - left) / w;
  const y = (e.clientY - top) / h;
  if (x < 0 || x > 1 || y < 0 || y > 1) return;
  state.pin = { x: Math.round(x * 1000) / 1000, y: Math.round(y * 1000) / 1000 };
  const pin = $("tag-pin");
  pin.hidden = false;
  pin.style.left = `${e.clientX - $("stage").getBoundingClientRect().left}px`;
  pin.style.top = `${e.clientY - $("stage").getBoundingClientRect().top}px`;
  $("tagger").dataset.pin = `${state.pin.x},${state.pin.y}`;
});

$("tag-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = $("tag-error");
  const result = $("tag-result");
  error.textContent = "";
  result.textContent = "";
  if (!state.video) return;
  if (state.start === null || state.end === null) {
    error.textContent = "Set the tag's start and end on the timeline first.";
    return;
  }
  /**
   * @type {{product_id: string, start_ms: number, end_ms: number, position?: Position,
   *   label?: string}}
   */
  const body = {
    product_id: productSelect.value,
    start_ms: state.start,
    end_ms: state.end,
  };
  if (state.pin) body.position = state.pin;
  const label = byId("tag-label", HTMLInputElement).value.trim();
  if (label) body.label = label;
  try {
    /** @type {Tag} */
    const tag = await api(`/v1/videos/${encodeURIComponent(state.video.id)}/tags`, { method: "POST", body });
    result.textContent = tag.status === "pending"
      ? "Tag created: waiting for the creator's approval."
      : `Tag created: ${tag.status}.`;
    result.dataset.tagId = tag.id;
    tags();
    analytics();
  } catch (err) {
    error.textContent = err instanceof ApiError ? err.message : String(err);
  }
});

async function tags() {
  if (!state.video) return;
  const path = `/v1/videos/${encodeURIComponent(state.video.id)}/tags`;
  const list = await /** @type {Promise<Tag[]>} */ (api(path)).catch(() => []);
  $("video-tags").replaceChildren(...list
    .filter((t) => state.products.has(t.product_id))
    .map((t) => {
      const li = document.createElement("li");
      li.className = "tag";
      li.dataset.tagId = t.id;
      li.dataset.status = t.status;
      li.textContent = `${t.title} · ${seconds(t.start_ms)}–${seconds(t.end_ms)} · ${t.status}`;
      return li;
    }));
}

// ---- Analytics. ----

async function analytics() {
  const path = `/v1/shops/${encodeURIComponent(shopId())}/analytics`;
  const rows = await /** @type {Promise<Stats[]>} */ (api(path)).catch(() => []);
  find($("analytics"), "tbody", HTMLTableSectionElement).replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.productId = r.product_id;
    tr.dataset.videoId = r.video_id;
    const product = state.products.get(r.product_id);
    const cells = [
      ["product", product?.title || r.product_id], ["video", r.video_id],
      ["impressions", String(r.tag_impressions)], ["clicks", String(r.clicks)],
      ["orders", String(r.orders)], ["gmv", money(r.gmv)], ["gpm", money(r.gpm)],
    ];
    for (const [name, value] of cells) {
      const td = document.createElement("td");
      td.className = name;
      td.textContent = value;
      tr.appendChild(td);
    }
    return tr;
  }));
}

// A signed-in person with no shop opens one first; the console then works for their first.
await consoleGate({
  ready: (account) => account.shops.length > 0,
  setup: () => api("/v1/shops", {
    method: "POST", body: { name: byId("shop-name", HTMLInputElement).value.trim() },
  }),
  onReady: async (account) => {
    state.me = account;
    state.shop = account.shops[0];
    await loadProducts();
    recent();
    analytics();
    const shared = new URLSearchParams(location.search).get("v");
    if (shared) openVideo(shared);
  },
});
