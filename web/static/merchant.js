// The merchant's console: products (with pictures), tagging a product into a clip on its
// timeline (storyboard to scrub, start and end, a pin on the frame), and per-video analytics.

import { api, ApiError, consoleGate, money, seconds } from "/assets/api.js";

/** The shop this console works for: the signed-in account's first. */
function shopId() {
  return state.shop.shop_id;
}

const state = { me: null, products: new Map(), video: null, start: null, end: null, pin: null, cues: [] };
const $ = (id) => document.getElementById(id);

// ---- Products. ----

async function loadProducts() {
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
  const select = $("tag-product");
  const chosen = select.value;
  select.replaceChildren(...page.items.map((p) => new Option(`${p.title} (${money(p.price)})`, p.id)));
  if (chosen && state.products.has(chosen)) select.value = chosen;
}

$("product-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.currentTarget;
  const error = $("product-error");
  error.textContent = "";
  const currency = f.currency.value.trim().toUpperCase();
  let digits;
  try {
    digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    error.textContent = `${currency || "That"} is not a currency code (e.g. USD, EUR, JPY).`;
    return;
  }
  const body = {
    title: f.title.value.trim(),
    price: { amount_minor: Math.round(Number(f.price.value) * 10 ** digits), currency },
    stock: Number(f.stock.value),
  };
  if (f.category.value.trim()) body.category = f.category.value.trim();
  try {
    const product = await api("/v1/products", { method: "POST", body });
    const image = f.image.files[0];
    if (image) {
      const r = await fetch(`/v1/products/${encodeURIComponent(product.id)}/images`, {
        method: "POST",
        headers: { "Content-Type": image.type },
        body: image,
      });
      if (!r.ok) {
        const err = await r.json().catch(() => ({}));
        error.textContent = `Product created, picture refused: ${err.error?.message || r.status}`;
      }
    }
    f.reset();
    await loadProducts();
    $("tag-product").value = product.id;
  } catch (err) {
    error.textContent = err.message;
  }
});

// ---- Opening a clip: player, storyboard, timeline. ----

async function recent() {
  const page = await api("/v1/feed?limit=12").catch(() => ({ items: [] }));
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
  const raw = $("video-id").value.trim();
  const id = raw.match(/vid_[0-9a-f]+/)?.[0] || raw;
  openVideo(id);
});

async function openVideo(id) {
  const error = $("tag-error");
  error.textContent = "";
  let video;
  try {
    video = await api(`/v1/videos/${encodeURIComponent(id)}`);
  } catch (e) {
    error.textContent = e.message;
    $("tagger").hidden = false;
    return;
  }
  Object.assign(state, { video, start: null, end: null, pin: null, cues: [] });
  $("tagger").hidden = false;
  $("tagger").dataset.videoId = video.id;
  $("video-id").value = video.id;
  const el = $("tag-video");
  if (state.hls) state.hls.destroy();
  state.hls = null;
  const pb = video.playback;
  if (pb.hls && window.Hls && window.Hls.isSupported()) {
    state.hls = new window.Hls({ maxBufferLength: 30 });
    state.hls.loadSource(pb.hls);
    state.hls.attachMedia(el);
  } else if (pb.hls && el.canPlayType("application/vnd.apple.mpegurl")) {
    el.src = pb.hls;
  } else if (pb.mp4.length) {
    el.src = pb.mp4[pb.mp4.length - 1].url;
  }
  if (pb.poster) el.poster = pb.poster;
  $("tag-pin").hidden = true;
  await storyboard(pb.storyboard);
  drawRange();
  tags();
}

/** The storyboard's WebVTT cues (`sprite.jpg#xywh=x,y,w,h`) as a strip of frames. */
async function storyboard(url) {
  const strip = $("strip");
  strip.replaceChildren();
  if (!url) return;
  const text = await fetch(url).then((r) => (r.ok ? r.text() : ""));
  const cues = [];
  const re = /(\d+):(\d+):(\d+\.\d+)\s+-->\s+(\d+):(\d+):(\d+\.\d+)\s*\n\s*(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)/g;
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
    frame.style.setProperty("--x", c.x);
    frame.style.setProperty("--y", c.y);
    frame.style.setProperty("--w", c.w);
    frame.style.setProperty("--h", c.h);
    strip.appendChild(frame);
  }
  layoutThumbs();
}

function layoutThumbs() {
  const height = $("strip").clientHeight || 48;
  const sprite = state.sprite;
  if (!sprite || !sprite.h) return;
  for (const f of $("strip").children) {
    // One tile of the sprite sheet fills the thumb's height.
    const s = height / Number(f.style.getPropertyValue("--h"));
    f.style.backgroundSize = `${sprite.w * s}px ${sprite.h * s}px`;
    f.style.backgroundPosition = `-${Number(f.style.getPropertyValue("--x")) * s}px -${Number(f.style.getPropertyValue("--y")) * s}px`;
  }
}
addEventListener("resize", layoutThumbs);

function durationMs() {
  const d = $("tag-video").duration;
  if (Number.isFinite(d) && d > 0) return d * 1000;
  return state.video?.duration_ms || 0;
}

// Scrub: a click (or a drag) on the timeline seeks there.
function seekFromPointer(e) {
  const box = $("timeline").getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
  const el = $("tag-video");
  el.currentTime = (f * durationMs()) / 1000;
}
$("timeline").addEventListener("pointerdown", (e) => {
  seekFromPointer(e);
  const move = (ev) => seekFromPointer(ev);
  $("timeline").addEventListener("pointermove", move);
  addEventListener("pointerup", () => $("timeline").removeEventListener("pointermove", move), { once: true });
});

$("tag-video").addEventListener("timeupdate", drawRange);
$("tag-video").addEventListener("seeked", drawRange);
$("tag-video").addEventListener("loadedmetadata", () => {
  layoutThumbs();
  drawRange();
});
$("play").addEventListener("click", () => {
  const el = $("tag-video");
  if (el.paused) el.play().catch(() => {});
  else el.pause();
});
$("set-start").addEventListener("click", () => {
  state.start = Math.round($("tag-video").currentTime * 1000);
  if (state.end !== null && state.end <= state.start) state.end = null;
  drawRange();
});
$("set-end").addEventListener("click", () => {
  state.end = Math.round($("tag-video").currentTime * 1000);
  if (state.start !== null && state.start >= state.end) state.start = null;
  drawRange();
});

function drawRange() {
  const total = durationMs() || 1;
  const now = $("tag-video").currentTime * 1000;
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
  tagger.dataset.start = start ?? "";
  tagger.dataset.end = end ?? "";
}

// The pin: where on the picture (not the letterbox) the card points.
$("stage").addEventListener("click", (e) => {
  const el = $("tag-video");
  const box = el.getBoundingClientRect();
  const vw = el.videoWidth || 9;
  const vh = el.videoHeight || 16;
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
  const body = {
    product_id: $("tag-product").value,
    start_ms: state.start,
    end_ms: state.end,
  };
  if (state.pin) body.position = state.pin;
  const label = $("tag-label").value.trim();
  if (label) body.label = label;
  try {
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
  const list = await api(`/v1/videos/${encodeURIComponent(state.video.id)}/tags`).catch(() => []);
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
  const rows = await api(`/v1/shops/${encodeURIComponent(shopId())}/analytics`).catch(() => []);
  $("analytics").querySelector("tbody").replaceChildren(...rows.map((r) => {
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
  setup: (f) => api("/v1/shops", { method: "POST", body: { name: f.name.value.trim() } }),
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
