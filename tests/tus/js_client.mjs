// tus-js-client (the tus project's own browser/Node client) against a running Vitrine.
// Usage: node js_client.mjs MODE ENDPOINT TOKEN FILE
// Prints one line of JSON describing what happened; tests/tus_clients.rs checks it.
import fs from 'node:fs';
import * as tus from 'tus-js-client';

const [mode, endpoint, token, file] = process.argv.slice(2);
const bytes = fs.readFileSync(file);
const size = bytes.length;

function upload(options) {
  return new tus.Upload(bytes, {
    endpoint,
    headers: { Authorization: `Bearer ${token}` },
    metadata: { filename: 'clip.mp4', filetype: 'video/mp4', title: `tus-js-client ${mode}` },
    chunkSize: 64 * 1024,
    retryDelays: [0, 200, 500, 1000, 2000],
    ...options,
  });
}

// Starts an upload and resolves when it succeeds, fails, or `stopAt(bytesSent)` says to abort.
function run(u, stopAt = () => false) {
  return new Promise((resolve) => {
    let aborted = false;
    u.options.onProgress = (sent) => {
      if (!aborted && stopAt(sent)) {
        aborted = true;
        u.abort().then(() => resolve({ aborted: true, sent }));
      }
    };
    u.options.onSuccess = () => resolve({ success: true });
    u.options.onError = (err) =>
      resolve({ error: String(err), status: err.originalResponse ? err.originalResponse.getStatus() : null });
    u.start();
  });
}

const videoIds = [];
const offsetsSeen = [];
const trace = {
  onAfterResponse: (req, res) => {
    const id = res.getHeader('Video-Id');
    if (id) videoIds.push(id);
    if (req.getMethod() === 'HEAD') offsetsSeen.push(Number(res.getHeader('Upload-Offset')));
  },
};

let out;
if (mode === 'plain') {
  const u = upload(trace);
  const result = await run(u);
  out = { ...result, url: u.url, videoId: videoIds[0] };
} else if (mode === 'resume') {
  const first = upload(trace);
  const cut = await run(first, (sent) => sent >= size / 2);
  // A new Upload object for the same file and URL, as an app does after a restart.
  const second = upload({ ...trace, uploadUrl: first.url });
  const result = await run(second);
  out = { ...result, cut, url: second.url, resumedFrom: offsetsSeen[0], videoId: videoIds[0] };
} else if (mode === 'checksum-mismatch') {
  const u = upload({
    headers: { Authorization: `Bearer ${token}`, 'Upload-Checksum': 'sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
    retryDelays: [],
  });
  const result = await run(u);
  out = { ...result, url: u.url };
} else if (mode === 'parallel') {
  const u = upload({ ...trace, parallelUploads: 3, chunkSize: Infinity });
  const result = await run(u);
  out = { ...result, url: u.url, videoId: videoIds[videoIds.length - 1] };
} else if (mode === 'terminate') {
  const u = upload(trace);
  const cut = await run(u, (sent) => sent >= size / 3);
  await tus.Upload.terminate(u.url, { headers: { Authorization: `Bearer ${token}` } });
  out = { cut, terminated: true, url: u.url, videoId: videoIds[0] };
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log(JSON.stringify(out));
