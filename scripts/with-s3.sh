#!/usr/bin/env bash
# Runs a command with a throwaway S3-compatible server (moto) on a free loopback port:
#
#   scripts/with-s3.sh cargo test -p vitrine-assets
#
# The command sees VITRINE_TEST_S3_ENDPOINT=http://127.0.0.1:PORT plus dummy AWS credentials and
# region; the server is stopped when the command ends, and the command's exit code is returned.
# Needs `moto_server` on PATH, moto 5.2.2 or later: 5.2.0 and 5.2.1 answer CompleteMultipartUpload
# with the wrong XML root element (getmoto/moto#10055), which fails every multipart upload.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
if ! command -v moto_server >/dev/null; then
    echo "with-s3: moto_server not found on PATH; install it with: pip install 'moto[server]>=5.2.2'" >&2
    exit 1
fi

readonly startup_timeout_s=30

# Ask the kernel for a free port. Another process could take it before moto binds it; moto then
# exits and we report that below rather than talking to a stranger.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp "${TMPDIR:-/tmp}/moto-server.XXXXXX.log")

moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
server_pid=$!

stop_server() {
    if kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

endpoint="http://127.0.0.1:$port"
deadline=$((SECONDS + startup_timeout_s))
until curl --silent --output /dev/null --max-time 2 "$endpoint/moto-api/"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "with-s3: moto_server exited during startup; its log ($log):" >&2
        cat "$log" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "with-s3: moto_server did not answer on $endpoint within ${startup_timeout_s}s; its log ($log):" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.2
done

export VITRINE_TEST_S3_ENDPOINT="$endpoint"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
echo "with-s3: moto_server on $endpoint (pid $server_pid, log $log)" >&2

set +e
"$@"
status=$?
set -e
if ((status == 0)); then
    rm -f "$log"
else
    echo "with-s3: command failed with status $status; moto_server log kept at $log" >&2
fi
exit "$status"
