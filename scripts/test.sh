#!/usr/bin/env bash
# Sets up and runs the whole test suite: formatting, lints, the web pages' type check, then
# every test of every crate against real components — GStreamer on real media, PostgreSQL (the
# machine's, at 127.0.0.1:5432, or VITRINE_TEST_POSTGRES_URL), and an S3-compatible server
# (moto) started here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

admin_url=${VITRINE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
export VITRINE_TEST_POSTGRES_URL=$admin_url
# Databases left by earlier runs (each test creates its own).
psql "$admin_url" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'vitrine_t_%'" 2>/dev/null |
    while read -r db; do psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The web pages' scripts: TypeScript's checker over their JSDoc types (web/tsconfig.json; the
# compiler is pinned in web/package.json, installed by setup.sh).
npm exec --prefix web -- tsc -p web --noEmit
scripts/with-s3.sh cargo test --workspace --locked -- "$@"
