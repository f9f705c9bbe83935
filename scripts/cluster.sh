#!/usr/bin/env bash
# A production-shaped Vitrine cluster on this machine, on loopback only:
#
#   scripts/cluster.sh up        # start it (installs what is missing first: scripts/setup.sh --cluster)
#   scripts/cluster.sh status    # each part, its port and health
#   scripts/cluster.sh down      # stop it and remove everything it made
#
# The parts: a PostgreSQL instance of its own (Debian's initdb/pg_ctl, on a free port and a data
# directory under the cluster's), Garage (a distributed S3 store) as 3 nodes in 3 zones with
# replication factor 3, HAProxy in front of the 2 API processes (health-checked on /healthz) and of
# the 3 Garage nodes' S3 endpoints (health-checked on Garage's /health), 2 `vitrine serve --role
# api` and 3 `vitrine serve --role worker`. Everything lives in $VITRINE_CLUSTER_DIR (default
# target/cluster); `up` writes cluster.env there (the URLs, ports and credentials), which
# `status`, `down` and scripts/chaos.sh read.
#
# Parts can be stopped and started one by one (what the chaos run does):
#   scripts/cluster.sh stop PART | start PART | kill PART
# where PART is postgres, garage1..garage3, api1, api2, worker1..worker3 or haproxy; `kill` is
# kill -9, `stop` a clean stop (SIGTERM; pg_ctl's fast shutdown for PostgreSQL).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "${VITRINE_CLUSTER_DIR:-$repo/target/cluster}")"
vitrine="${VITRINE_BIN:-$repo/target/release/vitrine}"
env_file="$dir/cluster.env"

pg_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [[ -x "$bin/pg_ctl" ]] || { echo "cluster: PostgreSQL's server binaries are missing: scripts/setup.sh --cluster" >&2; exit 1; }
    echo "$bin"
}

garage_bin() {
    if command -v garage >/dev/null; then command -v garage; return; fi
    [[ -x "$HOME/.cargo/bin/garage" ]] && { echo "$HOME/.cargo/bin/garage"; return; }
    echo "cluster: garage is missing: scripts/setup.sh --cluster" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: as root, its commands run as the `postgres` system user.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

log() { echo "cluster: $*" >&2; }

load_env() {
    [[ -f "$env_file" ]] || { log "no cluster in $dir (scripts/cluster.sh up)"; exit 1; }
    # shellcheck disable=SC1090
    source "$env_file"
}

wait_for() { # wait_for WHAT SECONDS COMMAND...
    local what=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "$what did not come up within ${seconds}s (logs: $dir/logs)"
            return 1
        fi
        sleep 0.3
    done
}

garage_cli() { # garage_cli NODE ARGS...
    local node=$1
    shift
    "$(garage_bin)" -c "$dir/garage/n$node.toml" "$@"
}

# --- the parts, one by one ---------------------------------------------------------------

start_postgres() {
    local bin
    bin=$(pg_bin)
    as_pg "$bin/pg_ctl" -D "$dir/postgres/data" -l "$dir/logs/postgres.log" -w -t 60 \
        -o "-p $PG_PORT -k $dir/postgres -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
}

stop_postgres() { # stop_postgres MODE (fast | immediate)
    local bin
    bin=$(pg_bin)
    as_pg "$bin/pg_ctl" -D "$dir/postgres/data" -m "${1:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
}

start_garage() { # start_garage N
    local n=$1
    nohup "$(garage_bin)" -c "$dir/garage/n$n.toml" server >>"$dir/logs/garage$n.log" 2>&1 &
    echo $! >"$dir/pids/garage$n"
}

start_vitrine() { # start_vitrine NAME ROLE PORT
    local name=$1 role=$2 port=$3
    mkdir -p "$dir/$name"
    # worker3's scratch space (its data dir's work/) is a small tmpfs when SMALL_SCRATCH_MB is
    # set (scripts/chaos.sh fills it mid-job); mounting needs root.
    if [[ $name == worker3 && -n "${SMALL_SCRATCH_MB:-}" ]] && ! mountpoint -q "$dir/$name/work"; then
        mkdir -p "$dir/$name/work"
        mount -t tmpfs -o "size=${SMALL_SCRATCH_MB}m" tmpfs "$dir/$name/work" \
            || log "could not mount a tmpfs on $dir/$name/work (root is needed); its scratch stays on disk"
    fi
    (
        export VITRINE_DATABASE_URL="$DATABASE_URL"
        export VITRINE_STORE=s3 VITRINE_S3_ENDPOINT="$S3_ENDPOINT" VITRINE_S3_BUCKET="$S3_BUCKET"
        export VITRINE_S3_REGION=garage VITRINE_S3_PATH_STYLE=true
        export AWS_ACCESS_KEY_ID="$S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET"
        export VITRINE_DATA_DIR="$dir/$name" VITRINE_BIND="127.0.0.1:$port"
        export VITRINE_PUBLIC_URL="$API_URL"
        export VITRINE_WEB_VENDOR_DIR="$repo/web/node_modules"
        export RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1
        exec nohup "$vitrine" serve --role "$role" >>"$dir/logs/$name.log" 2>&1
    ) &
    echo $! >"$dir/pids/$name"
}

start_haproxy() {
    nohup haproxy -db -f "$dir/haproxy.cfg" >>"$dir/logs/haproxy.log" 2>&1 &
    echo $! >"$dir/pids/haproxy"
}

signal_part() { # signal_part NAME SIGNAL
    local pid_file="$dir/pids/$1"
    [[ -f "$pid_file" ]] || return 0
    local pid
    pid=$(cat "$pid_file")
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$2" "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

part_port() { # the port a vitrine or garage part listens on
    case $1 in
        api1) echo "$API1_PORT" ;; api2) echo "$API2_PORT" ;;
        worker1) echo "$WORKER1_PORT" ;; worker2) echo "$WORKER2_PORT" ;; worker3) echo "$WORKER3_PORT" ;;
    esac
}

start_part() {
    case $1 in
        postgres) start_postgres ;;
        garage[123]) start_garage "${1#garage}" ;;
        api[12]) start_vitrine "$1" api "$(part_port "$1")" ;;
        worker[123]) start_vitrine "$1" worker "$(part_port "$1")" ;;
        haproxy) start_haproxy ;;
        *) log "no part named $1"; exit 2 ;;
    esac
}

stop_part() { # stop_part NAME SIGNAL
    case $1 in
        postgres) [[ $2 == KILL ]] && stop_postgres immediate || stop_postgres fast ;;
        garage[123] | api[12] | worker[123] | haproxy) signal_part "$1" "$2" ;;
        *) log "no part named $1"; exit 2 ;;
    esac
}

# --- up ----------------------------------------------------------------------------------

write_garage_config() { # write_garage_config N
    local n=$1 rpc s3 admin
    rpc="GARAGE${n}_RPC_PORT"
    s3="GARAGE${n}_S3_PORT"
    admin="GARAGE${n}_ADMIN_PORT"
    mkdir -p "$dir/garage/n$n/meta" "$dir/garage/n$n/data"
    cat >"$dir/garage/n$n.toml" <<EOF
metadata_dir = "$dir/garage/n$n/meta"
data_dir = "$dir/garage/n$n/data"
db_engine = "lmdb"
replication_factor = 3
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:${!rpc}"
rpc_public_addr = "127.0.0.1:${!rpc}"
rpc_secret = "$GARAGE_RPC_SECRET"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:${!s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:${!admin}"
admin_token = "$GARAGE_ADMIN_TOKEN"
metrics_token = "$GARAGE_ADMIN_TOKEN"
EOF
}

# What HAProxy answers itself when no API process can take a request (503: all marked down, e.g.
# while the database restarts, since /healthz checks it), when one died under the request (502)
# or did not answer in time (504): the API's own error form, with Retry-After, so clients retry
# through every fault the same way.
write_haproxy_errors() {
    mkdir -p "$dir/errors"
    local status reason code message
    for status in 502 503 504; do
        case $status in
            502) reason="Bad Gateway" code=unavailable message="the API process serving this request stopped; retry" ;;
            503) reason="Service Unavailable" code=unavailable message="no API process can serve this request right now; retry" ;;
            504) reason="Gateway Timeout" code=unavailable message="the API process did not answer in time; retry" ;;
        esac
        local body="{\"error\":{\"code\":\"$code\",\"message\":\"$message\"}}"
        printf 'HTTP/1.1 %s %s\r\ncontent-type: application/json\r\nretry-after: 1\r\ncache-control: no-store\r\ncontent-length: %s\r\nconnection: close\r\n\r\n%s' \
            "$status" "$reason" "${#body}" "$body" >"$dir/errors/$status.http"
    done
}

write_haproxy_config() {
    write_haproxy_errors
    cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 2h
    timeout server 2h
    timeout http-request 30s
    timeout queue 10s
    timeout check 3s
    # A request whose connection could not be made goes to another server (nothing was sent).
    retries 2
    option redispatch
    option http-server-close

# The API: round robin over the healthy processes; /healthz answers 200 while a process is up.
frontend api
    bind 127.0.0.1:$API_PORT
    default_backend apis

backend apis
    balance roundrobin
    errorfile 502 $dir/errors/502.http
    errorfile 503 $dir/errors/503.http
    errorfile 504 $dir/errors/504.http
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    server api1 127.0.0.1:$API1_PORT check
    server api2 127.0.0.1:$API2_PORT check

# The object store: Garage's S3 endpoints, health-checked on its admin API (/health answers 200
# while the node can serve requests with the cluster's quorum).
frontend s3
    bind 127.0.0.1:$S3_PORT
    default_backend garage

backend garage
    balance leastconn
    option httpchk GET /health
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    server garage1 127.0.0.1:$GARAGE1_S3_PORT check port $GARAGE1_ADMIN_PORT
    server garage2 127.0.0.1:$GARAGE2_S3_PORT check port $GARAGE2_ADMIN_PORT
    server garage3 127.0.0.1:$GARAGE3_S3_PORT check port $GARAGE3_ADMIN_PORT

listen stats
    bind 127.0.0.1:$STATS_PORT
    stats enable
    stats uri /
    stats show-legends
EOF
}

up() {
    if [[ -f "$env_file" ]]; then
        log "a cluster is already in $dir (scripts/cluster.sh status; down to remove it)"
        exit 1
    fi
    "$repo/scripts/setup.sh" --cluster
    if [[ ! -x "$vitrine" ]]; then
        log "building vitrine (release)"
        (cd "$repo" && cargo build --release --locked)
    fi
    mkdir -p "$dir/logs" "$dir/pids" "$dir/postgres"
    {
        echo "# Written by scripts/cluster.sh up: the cluster's ports, URLs and credentials."
        echo "PG_PORT=$(free_port)"
        for n in 1 2 3; do
            echo "GARAGE${n}_RPC_PORT=$(free_port)"
            echo "GARAGE${n}_S3_PORT=$(free_port)"
            echo "GARAGE${n}_ADMIN_PORT=$(free_port)"
        done
        for p in API API1 API2 WORKER1 WORKER2 WORKER3 S3 STATS; do echo "${p}_PORT=$(free_port)"; done
        echo "GARAGE_RPC_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        echo "GARAGE_ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
        echo "S3_KEY_ID=GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
        echo "S3_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        echo "S3_BUCKET=vitrine"
    } >"$env_file.partial"
    # shellcheck disable=SC1091
    source "$env_file.partial"
    {
        echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/vitrine"
        echo "S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
        echo "API_URL=http://127.0.0.1:$API_PORT"
    } >>"$env_file.partial"
    mv "$env_file.partial" "$env_file"
    load_env

    log "PostgreSQL on port $PG_PORT"
    local bin
    bin=$(pg_bin)
    mkdir -p "$dir/postgres/data"
    [[ $(id -u) -eq 0 ]] && chown -R postgres "$dir/postgres" && chmod o+rx "$dir" "$(dirname "$dir")"
    touch "$dir/logs/postgres.log" && [[ $(id -u) -eq 0 ]] && chown postgres "$dir/logs/postgres.log"
    as_pg "$bin/initdb" -D "$dir/postgres/data" -U postgres --auth=trust -E UTF8 >"$dir/logs/initdb.log"
    start_postgres
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres vitrine

    log "Garage: 3 nodes, 3 zones, replication factor 3"
    for n in 1 2 3; do
        write_garage_config "$n"
        start_garage "$n"
    done
    for n in 1 2 3; do wait_for "garage$n" 30 garage_cli "$n" status; done
    local ids=()
    for n in 1 2 3; do ids+=("$(garage_cli "$n" node id -q 2>/dev/null)"); done
    garage_cli 1 node connect "${ids[1]}" >/dev/null
    garage_cli 1 node connect "${ids[2]}" >/dev/null
    for n in 1 2 3; do
        garage_cli 1 layout assign -z "zone$n" -c 1G "${ids[$((n - 1))]%%@*}" >/dev/null
    done
    garage_cli 1 layout apply --version 1 >/dev/null
    garage_cli 1 key import --yes -n vitrine "$S3_KEY_ID" "$S3_SECRET" >/dev/null
    garage_cli 1 bucket create "$S3_BUCKET" >/dev/null
    garage_cli 1 bucket allow --read --write --owner "$S3_BUCKET" --key "$S3_KEY_ID" >/dev/null

    log "HAProxy: API on $API_PORT, S3 on $S3_PORT, statistics on $STATS_PORT"
    write_haproxy_config
    start_haproxy
    wait_for "the S3 endpoint behind HAProxy" 30 curl -sf -o /dev/null "http://127.0.0.1:$STATS_PORT/"

    log "migrating the database"
    VITRINE_DATABASE_URL="$DATABASE_URL" "$vitrine" migrate >>"$dir/logs/migrate.log" 2>&1

    log "2 API processes, 3 workers"
    for part in api1 api2 worker1 worker2 worker3; do start_part "$part"; done
    for part in api1 api2 worker1 worker2 worker3; do
        wait_for "$part" 60 curl -sf -o /dev/null "http://127.0.0.1:$(part_port "$part")/healthz"
    done
    wait_for "the API behind HAProxy" 30 curl -sf -o /dev/null "$API_URL/healthz"
    status
    log "up: the API is at $API_URL (cluster.env in $dir has the rest)"
}

# --- status, down ------------------------------------------------------------------------

health() { # health COMMAND... → "up" or "DOWN"
    if "$@" >/dev/null 2>&1; then echo up; else echo DOWN; fi
}

status() {
    load_env
    local bin
    bin=$(pg_bin)
    printf '%-10s %-7s %s\n' PART PORT HEALTH
    printf '%-10s %-7s %s\n' postgres "$PG_PORT" "$(health "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT")"
    for n in 1 2 3; do
        local s3="GARAGE${n}_S3_PORT" admin="GARAGE${n}_ADMIN_PORT"
        printf '%-10s %-7s %s\n' "garage$n" "${!s3}" "$(health curl -sf "http://127.0.0.1:${!admin}/health")"
    done
    printf '%-10s %-7s %s\n' haproxy "$API_PORT" "$(health curl -sf "http://127.0.0.1:$STATS_PORT/")"
    for part in api1 api2 worker1 worker2 worker3; do
        local port
        port=$(part_port "$part")
        printf '%-10s %-7s %s\n' "$part" "$port" "$(health curl -sf "http://127.0.0.1:$port/healthz")"
    done
    printf '%-10s %-7s %s\n' "api (LB)" "$API_PORT" "$(health curl -sf "$API_URL/healthz")"
    printf '%-10s %-7s %s\n' "s3 (LB)" "$S3_PORT" "$(health curl -s -o /dev/null "$S3_ENDPOINT/")"
}

down() {
    if [[ ! -f "$env_file" ]]; then
        # A partial `up` may have left processes: stop what has a pid file.
        [[ -d "$dir/pids" ]] || { log "no cluster in $dir"; return 0; }
    else
        load_env
    fi
    for part in haproxy api1 api2 worker1 worker2 worker3 garage1 garage2 garage3; do
        signal_part "$part" TERM
    done
    [[ -d "$dir/postgres/data" ]] && stop_postgres fast
    if mountpoint -q "$dir/worker3/work" 2>/dev/null; then umount "$dir/worker3/work" || true; fi
    rm -rf "$dir"
    log "down: $dir removed"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    start) load_env && start_part "${2:?part}" ;;
    stop) load_env && stop_part "${2:?part}" TERM ;;
    kill) load_env && stop_part "${2:?part}" KILL ;;
    *)
        echo "usage: $0 up|down|status | start|stop|kill PART" >&2
        exit 2
        ;;
esac
