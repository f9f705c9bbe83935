"""tuspy (the tus project's Python client) against a running Vitrine.

Usage: python3 py_client.py MODE ENDPOINT TOKEN FILE
Prints one line of JSON describing what happened; tests/tus_clients.rs checks it.
"""

import json
import sys

import requests
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

mode, endpoint, token, path = sys.argv[1:5]
size = len(open(path, "rb").read())
metadata = {"filename": "clip.mp4", "filetype": "video/mp4", "title": f"tuspy {mode}"}


def video_id(url):
    head = requests.head(url, headers={"Tus-Resumable": "1.0.0"}, timeout=30)
    return head.headers.get("Video-Id"), int(head.headers["Upload-Offset"])


def client(extra=None):
    headers = {"Authorization": f"Bearer {token}"}
    headers.update(extra or {})
    return tus_client.TusClient(endpoint, headers=headers)


if mode == "plain":
    # upload_checksum: every PATCH carries `Upload-Checksum: sha1 …`, which the server verifies.
    uploader = client().uploader(path, chunk_size=128 * 1024, metadata=metadata, upload_checksum=True)
    uploader.upload()
    vid, offset = video_id(uploader.url)
    out = {"success": True, "url": uploader.url, "videoId": vid, "offset": offset}
elif mode == "resume":
    first = client().uploader(path, chunk_size=64 * 1024, metadata=metadata)
    # Send about half the file, then stop: the "app" is killed.
    while first.offset < size // 2:
        first.upload_chunk()
    url = first.url
    # A new uploader, as after a restart, given the URL: it asks the server for the offset.
    second = client().uploader(path, chunk_size=64 * 1024, metadata=metadata, url=url)
    resumed_from = second.offset
    second.upload()
    vid, offset = video_id(url)
    out = {"success": True, "url": url, "resumedFrom": resumed_from, "videoId": vid, "offset": offset}
elif mode == "checksum-mismatch":
    uploader = client({"Upload-Checksum": "sha256 " + "A" * 43 + "="}).uploader(
        path, chunk_size=64 * 1024, metadata=metadata, retries=0
    )
    try:
        uploader.upload_chunk()
        out = {"success": True, "url": uploader.url}
    except (TusCommunicationError, TusUploadFailed) as err:
        out = {"error": str(err), "status": err.status_code, "url": uploader.url}
else:
    raise SystemExit(f"unknown mode {mode}")
print(json.dumps(out))
