#!/usr/bin/env bash
# Installs what Vitrine needs on a fresh Debian 12 machine: GStreamer with its plugins (the
# transcode pipeline), the web pages' npm packages, ffmpeg (tests and benchmarks only, never the
# product path), and — with --test — the S3-compatible server the tests start (moto), the SMTP
# server the mail tests send through (aiosmtpd) and the browser the web tests drive (Chromium);
# with --cluster, what scripts/cluster.sh runs (PostgreSQL's server, HAProxy, Garage). Safe to run
# again: it skips what is already there.
set -euo pipefail

packages=(
    pkg-config libssl-dev curl jq
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools libwebp-dev
)
# npm vendors the web pages' packages (hls.js, tus-js-client) from the npm registry; Node.js
# also runs tus-js-client and Playwright in the tests (any node >= 18 on PATH will do).
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
if [[ "${1:-}" == "--test" ]]; then
    # Chromium: the browser the web client's tests drive (through playwright-core).
    # postgresql-15: its server binaries (initdb, pg_ctl), for the tests that restart a PostgreSQL
    # of their own (tests/api/outages.rs); the shared test server stays the machine's.
    packages+=(ffmpeg postgresql-client postgresql-15 chromium)
fi
if [[ "${1:-}" == "--cluster" ]]; then
    # scripts/cluster.sh: a PostgreSQL server of its own (initdb, pg_ctl), HAProxy in front of
    # the API processes and the Garage nodes, ffmpeg for the chaos run's checks (it decodes every rung).
    packages+=(postgresql-15 postgresql-client haproxy ffmpeg)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# moto 5.2.0/5.2.1 answer CompleteMultipartUpload with the wrong XML root (getmoto/moto#10055),
# which the AWS SDK rejects: insist on 5.2.2 or later.
if [[ "${1:-}" == "--test" ]] && ! python3 - <<'PY' 2>/dev/null
import importlib.metadata as m, flask_cors  # noqa: F401  (server extra present)
v = tuple(int(x) for x in m.version("moto").split(".")[:3])
raise SystemExit(0 if (5, 2, 2) <= v < (6,) else 1)
PY
then
    echo "setup: installing moto[server] (the S3-compatible server the tests use)" >&2
    python3 -m pip install --quiet --upgrade 'moto[server]>=5.2.2,<6'
    hash -r
fi

# Garage, the distributed S3 store scripts/cluster.sh runs as 3 nodes (crates.io; Debian has
# none). Compiling it takes ~8 minutes: the binary is kept in ~/.cargo/bin, so once per machine.
if [[ "${1:-}" == "--cluster" ]] && ! command -v garage >/dev/null && [[ ! -x "$HOME/.cargo/bin/garage" ]]; then
    echo "setup: building garage (the distributed S3 store of scripts/cluster.sh; once, ~8 min)" >&2
    cargo install garage --locked --version '^2.5'
fi

# The web pages' vendored packages, pinned by web/package-lock.json (served under /vendor/), and
# their development tools (devDependencies, which `npm ci` installs too): Playwright's driver for
# the browser tests and TypeScript, whose checker the test command runs over the pages' scripts.
web_dir="$(dirname "$0")/../web"
if [[ ! -f "$web_dir/node_modules/hls.js/dist/hls.min.js" || ! -d "$web_dir/node_modules/playwright-core" \
    || ! -x "$web_dir/node_modules/.bin/tsc" ]]; then
    echo "setup: vendoring the web pages' npm packages" >&2
    npm ci --prefix "$web_dir" --no-audit --no-fund --loglevel=error
fi

# The real tus clients the upload tests drive: tus-js-client (npm, pinned by the lock file) and
# tuspy (PyPI).
if [[ "${1:-}" == "--test" ]]; then
    tus_dir="$(dirname "$0")/../tests/tus"
    if [[ ! -d "$tus_dir/node_modules/tus-js-client" ]]; then
        echo "setup: installing tus-js-client for the upload tests" >&2
        npm ci --prefix "$tus_dir" --no-audit --no-fund --loglevel=error
    fi
    if ! python3 -c 'import tusclient' 2>/dev/null; then
        echo "setup: installing tuspy for the upload tests" >&2
        python3 -m pip install --quiet 'tuspy>=1.0,<2'
    fi
    # The SMTP server the mail tests send through (tests/smtp/server.py).
    if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
        echo "setup: installing aiosmtpd for the mail tests" >&2
        python3 -m pip install --quiet 'aiosmtpd>=1.4,<2'
    fi
    # The contract fuzzer the API test runs against /openapi.json (tests/api/contract.rs).
    if ! command -v st >/dev/null || ! st --version 2>/dev/null | grep -q 'version 4\.'; then
        echo "setup: installing schemathesis for the API contract test" >&2
        python3 -m pip install --quiet 'schemathesis>=4.32,<5'
    fi
fi

command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
