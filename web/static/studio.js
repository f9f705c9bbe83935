// @ts-check
// The creator's studio: resumable uploads (tus) with rate and ETA, transcode progress live,
// poster and renditions when ready, merchants' tags to approve or reject, each clip's
// traffic-pool stage, and earnings.

import {
  api, byId, bytes, clock, cloneTemplate, consoleGate, find, money, reason, seconds,
} from "/assets/api.js";

/** @import { Page, Stats, Tag, Video, VideoStatus } from "/assets/api.js" */

/** @type {Set<VideoStatus>} the states a video leaves by itself: the list polls while one is */
const ACTIVE = new Set(["uploading", "queued", "processing", "playable"]);
const POLL_MS = 1000;

const list = byId("videos", HTMLElement);
const template = byId("video-template", HTMLTemplateElement);
const state = {
  /** @type {string | null} where "More" continues */
  cursor: null,
  /** @type {Map<string, HTMLElement>} each video's row, by id */
  rows: new Map(),
  /** @type {Map<string, Video>} */
  videos: new Map(),
  timer: 0,
  /** @type {import("tus-js-client").Upload | null} the upload under way */
  upload: null,
  /** @type {string | null} its video's id, once the server said it */
  uploadVideo: null,
  /** whether older pages are shown */
  older: false,
};

// ---- Upload (tus-js-client against /v1/uploads). ----

const form = byId("upload-form", HTMLFormElement);
const pauseButton = byId("upload-pause", HTMLButtonElement);
const startButton = byId("upload-start", HTMLButtonElement);
const transfer = byId("transfer", HTMLElement);
const progress = byId("upload-progress", HTMLProgressElement);
const text = byId("upload-text", HTMLElement);
const moreButton = byId("more-videos", HTMLButtonElement);

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = byId("file", HTMLInputElement).files?.[0];
  if (!file || state.upload) return; // one upload at a time: they share the progress bar
  const tus = window.tus;
  if (!tus || !tus.isSupported) {
    text.textContent = "Resumable uploads need tus-js-client (run npm ci --prefix web).";
    return;
  }
  const title = byId("title", HTMLInputElement).value.trim() || file.name;
  const started = performance.now();
  /** @type {number | null} */
  let startOffset = null;
  const upload = new tus.Upload(file, {
    endpoint: "/v1/uploads",
    // Pieces a phone can resend cheaply after a drop (only the unacknowledged piece is).
    chunkSize: 5 * 1024 * 1024,
    // Through a server restart or a database failover (503 with Retry-After, or no answer):
    // about two minutes of tries before the upload waits for the person to resume it.
    retryDelays: [0, 1000, 3000, 5000, 10000, 15000, 15000, 15000, 15000, 15000, 15000, 15000],
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream", title },
    // No token: the session cookie goes with tus's requests, as with any same-origin XHR.
    // Survives a reload: the upload URL is kept under the file's fingerprint until it is done.
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    onAfterResponse(_req, res) {
      const id = res.getHeader("Video-Id");
      if (id && !state.uploadVideo) {
        state.uploadVideo = id;
        transfer.dataset.videoId = id;
      }
    },
    onProgress(sent, total) {
      if (startOffset === null) startOffset = sent;
      const elapsed = (performance.now() - started) / 1000;
      const rate = elapsed > 0 ? (sent - startOffset) / elapsed : 0;
      const eta = rate > 0 ? (total - sent) / rate : Infinity;
      progress.value = total ? (100 * sent) / total : 0;
      text.textContent = `${bytes(sent)} of ${bytes(total)} · ${bytes(rate)}/s · `
        + (Number.isFinite(eta) ? `${clock(eta)} left` : "estimating…");
    },
    onSuccess() {
      progress.value = 100;
      text.textContent = `Uploaded ${bytes(file.size)}: transcoding…`;
      pauseButton.hidden = true;
      state.upload = null;
      startButton.disabled = false;
      transfer.dataset.done = "true";
      refresh();
    },
    onError(err) {
      text.textContent = `Upload stopped: ${err.message}. Press Upload to try again; it resumes.`;
      pauseButton.hidden = true;
      state.upload = null;
      startButton.disabled = false;
    },
  });
  state.upload = upload;
  state.uploadVideo = null;
  startButton.disabled = true;
  transfer.hidden = false;
  delete transfer.dataset.done;
  delete transfer.dataset.videoId;
  progress.value = 0;
  const previous = await upload.findPreviousUploads();
  if (previous.length) {
    upload.resumeFromPreviousUpload(previous[0]);
    text.textContent = "Resuming the earlier upload of this file…";
    transfer.dataset.resumed = "true";
  } else {
    text.textContent = "Starting…";
    delete transfer.dataset.resumed;
  }
  upload.start();
  pauseButton.hidden = false;
  pauseButton.textContent = "Pause";
  refresh();
});

pauseButton.addEventListener("click", () => {
  const upload = state.upload;
  if (!upload) return;
  if (pauseButton.textContent === "Pause") {
    upload.abort();
    pauseButton.textContent = "Resume";
    text.textContent += " · paused";
  } else {
    upload.start();
    pauseButton.textContent = "Pause";
  }
});

// ---- Your videos: live while any of them is still moving. ----

async function refresh() {
  clearTimeout(state.timer);
  try {
    /** @type {Page<Video>} */
    const page = await api("/v1/creators/me/videos?limit=20");
    render(page.items);
    // Once older pages are shown, "More" continues from the last of them, not from page one.
    if (!state.older) {
      state.cursor = page.next_cursor;
      moreButton.hidden = !page.next_cursor;
    }
    if (page.items.some((v) => ACTIVE.has(v.status)) || state.upload) {
      state.timer = setTimeout(refresh, POLL_MS);
    }
  } catch (e) {
    list.dataset.error = reason(e);
    state.timer = setTimeout(refresh, 5 * POLL_MS);
  }
}

moreButton.addEventListener("click", async () => {
  if (!state.cursor) return;
  moreButton.disabled = true;
  try {
    /** @type {Page<Video>} */
    const page = await api(`/v1/creators/me/videos?limit=20&cursor=${encodeURIComponent(state.cursor)}`);
    render(page.items, true);
    state.older = true;
    state.cursor = page.next_cursor;
    moreButton.hidden = !page.next_cursor;
  } catch (err) {
    list.dataset.error = reason(err);
  } finally {
    moreButton.disabled = false;
  }
});

/**
 * Shows `videos`: the first page (in place of the rows shown), or an older one (`append`).
 * @param {Video[]} videos
 * @param {boolean} [append]
 */
function render(videos, append = false) {
  const rows = videos.map((v) => {
    let row = state.rows.get(v.id);
    if (!row) {
      row = cloneTemplate(template);
      row.dataset.videoId = v.id;
      state.rows.set(v.id, row);
    }
    if (append) row.dataset.older = "true";
    fill(row, v);
    return row;
  });
  if (append) {
    list.append(...rows);
  } else {
    // The first page, refreshed; rows of later pages ("More") stay below it.
    const older = [...list.children].filter((r) => r instanceof HTMLElement && r.dataset.older
      && !rows.includes(r));
    list.replaceChildren(...rows, ...older);
  }
}

/** @type {Record<VideoStatus, string>} */
const STATUS = {
  uploading: "Uploading",
  queued: "Waiting to transcode",
  processing: "Transcoding",
  playable: "Playable (finishing the other sizes)",
  ready: "Ready",
  failed: "Failed",
};

/**
 * @param {HTMLElement} row
 * @param {Video} v
 */
function fill(row, v) {
  state.videos.set(v.id, v);
  row.dataset.status = v.status;
  find(row, ".video-title", HTMLElement).textContent = v.title || "Untitled";
  const thumb = find(row, ".thumb", HTMLImageElement);
  if (v.playback.poster && thumb.getAttribute("src") !== v.playback.poster) thumb.src = v.playback.poster;
  thumb.hidden = !v.playback.poster;
  let status = STATUS[v.status] || v.status;
  if (v.status === "uploading" && v.upload && v.upload.length) {
    status += ` ${Math.floor((100 * v.upload.offset) / v.upload.length)}%`;
  }
  if (v.status === "processing") status += ` ${Math.round(v.progress * 100)}%`;
  if (v.status === "failed" && v.error) status += `: ${v.error}`;
  find(row, ".status", HTMLElement).textContent = status;
  const bar = find(row, ".transcode", HTMLProgressElement);
  bar.value = v.progress;
  bar.hidden = !["processing", "playable", "queued"].includes(v.status);

  const d = v.distribution;
  find(row, ".video-stage", HTMLElement).textContent = d
    ? `Traffic pool: ${d.pool === "testing" ? `stage ${d.stage}` : d.pool} · ${d.impressions} impressions`
      + (d.stage_ends_at ? ` of ${d.stage_ends_at} for this stage` : "")
    : "";

  const r = find(row, ".renditions", HTMLElement);
  r.replaceChildren();
  if (v.status === "ready" || v.status === "playable") {
    const sizes = v.playback.mp4.map((m) => `${m.width}×${m.height}`);
    r.append(`Renditions: ${sizes.join(", ") || "HLS only"} · `);
    const watch = document.createElement("a");
    watch.href = `/?v=${encodeURIComponent(v.id)}`;
    watch.textContent = "watch";
    r.append(watch);
  }

  const tags = find(row, ".tags", HTMLElement);
  tags.replaceChildren(...v.tags.map((t) => tagItem(v, t)));
}

/**
 * A tag of one of your clips, with Approve and Reject while it waits for you.
 * @param {Video} video
 * @param {Tag} tag
 */
function tagItem(video, tag) {
  const li = document.createElement("li");
  li.className = "tag";
  li.dataset.tagId = tag.id;
  li.dataset.status = tag.status;
  const range = `${seconds(tag.start_ms)}–${seconds(tag.end_ms)}`;
  li.append(`${tag.title} · ${money(tag.price)} · ${range} · ${tag.status}`);
  if (tag.status === "pending") {
    for (const [action, label] of [["approve", "Approve"], ["reject", "Reject"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = action;
      b.textContent = label;
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          await api(`/v1/videos/${encodeURIComponent(video.id)}/tags/${encodeURIComponent(tag.id)}/${action}`, { method: "POST" });
        } catch (e) {
          li.append(` (${reason(e)})`);
        }
        refresh();
        earnings();
      });
      li.append(" ", b);
    }
  }
  return li;
}

// ---- Earnings. ----

async function earnings() {
  const rows = await /** @type {Promise<Stats[]>} */ (api("/v1/creators/me/earnings"))
    .catch(() => []);
  const body = find(document, "#earnings tbody", HTMLTableSectionElement);
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    const video = state.videos.get(r.video_id);
    const product = video?.tags.find((t) => t.product_id === r.product_id);
    const cells = [video?.title || r.video_id, product?.title || r.product_id, String(r.orders),
      money(r.gmv), money(r.commission)];
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    return tr;
  }));
  /** @type {Map<string, number>} minor units by currency */
  const totals = new Map();
  for (const r of rows) {
    totals.set(r.commission.currency, (totals.get(r.commission.currency) || 0) + r.commission.amount_minor);
  }
  byId("earnings-total", HTMLElement).textContent = rows.length
    ? `Commission earned: ${[...totals].map(([currency, amount_minor]) => money({ currency, amount_minor })).join(" + ")}`
    : "No sales through your clips yet.";
}

// A signed-in person who is not a creator yet takes a handle first.
await consoleGate({
  ready: (account) => account.creator,
  setup: () => api("/v1/me/creator", {
    method: "POST", body: { handle: byId("handle", HTMLInputElement).value.trim() },
  }),
  onReady: async () => {
    await refresh();
    earnings();
  },
});
