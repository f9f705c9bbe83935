#!/usr/bin/env bash
# Sets up, builds and starts the whole system on the embedded defaults: SQLite and the filesystem
# store under ./data, API, transcode worker and web pages in one process on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked
exec target/release/vitrine serve "$@"
