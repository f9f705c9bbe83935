#!/usr/bin/env bash
# The chaos run (about 10-15 minutes, loopback only; not part of the test command):
#
#   scripts/chaos.sh [vitrine chaos options, e.g. --seconds 480 --seed 7]
#
# Starts a fresh cluster (scripts/cluster.sh up, in target/chaos/cluster), drives a mixed
# workload through HAProxy while it kills a worker mid-transcode and an API process mid-upload,
# stops a Garage node for a minute, restarts PostgreSQL and fills a worker's scratch space (a
# small tmpfs: run as root) mid-job, then checks that nothing was lost or done twice. Prints the
# faults and the checks as tables and the last line
#   chaos: <uploads> uploads, <orders> orders, <faults> faults, lost N, duplicated N, 5xx outside faults N
# and writes target/chaos/summary.json. Exits non-zero if anything was lost, duplicated or failed
# outside a fault. KEEP_CLUSTER=1 leaves the cluster running afterwards (scripts/cluster.sh down).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
export VITRINE_CLUSTER_DIR="${VITRINE_CLUSTER_DIR:-$repo/target/chaos/cluster}"

(cd "$repo" && cargo build --release --locked)
# worker3's scratch on a 192 MiB tmpfs, which the run fills while it transcodes.
export SMALL_SCRATCH_MB="${SMALL_SCRATCH_MB:-192}"
"$repo/scripts/cluster.sh" down >/dev/null 2>&1 || true
"$repo/scripts/cluster.sh" up
if [[ "${KEEP_CLUSTER:-}" != 1 ]]; then
    trap '"$repo/scripts/cluster.sh" down' EXIT
fi
cd "$repo"
# The checks read the originals straight from the bucket, with the cluster's key.
# shellcheck disable=SC1091
source "$VITRINE_CLUSTER_DIR/cluster.env"
export AWS_ACCESS_KEY_ID="$S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET"
target/release/vitrine chaos --cluster-dir "$VITRINE_CLUSTER_DIR" --out "$repo/target/chaos/summary.json" "$@"
