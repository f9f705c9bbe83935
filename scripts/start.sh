#!/usr/bin/env bash
# Sets up, builds and starts the whole system on the embedded defaults: SQLite and the filesystem
# store under ./data, API, transcode worker and web pages in one process on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked
# The web pages' npm packages, vendored into this checkout by setup.sh (the binary's own default
# is $VITRINE_DATA_DIR/vendor: it knows nothing of the checkout it was built in).
export VITRINE_WEB_VENDOR_DIR="${VITRINE_WEB_VENDOR_DIR:-$PWD/web/node_modules}"
exec target/release/vitrine serve "$@"
