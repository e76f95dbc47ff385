# shellcheck shell=bash
# Local services for the test command and the main command: a throwaway
# PostgreSQL cluster and moto's AWS server, both on free 127.0.0.1 ports.
# Source it, then call `services_start`; `services_stop` runs on exit.
#
# What is missing on a fresh Debian machine is installed here: PostgreSQL
# from apt when no pg_ctl exists, moto[server] into .local/venv from PyPI.

set -euo pipefail

TORIUM_ROOT=${TORIUM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TORIUM_LOCAL="$TORIUM_ROOT/.local"
MOTO_VERSION_SPEC='moto[server]>=5.1,<6'

log() { printf '[services] %s\n' "$*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

find_pg_bin() {
    local candidate
    for candidate in /usr/lib/postgresql/*/bin; do
        [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ] && { echo "$candidate"; return 0; }
    done
    candidate=$(command -v pg_ctl 2>/dev/null || true)
    [ -n "$candidate" ] && { dirname "$candidate"; return 0; }
    return 1
}

ensure_postgres_installed() {
    if PG_BIN=$(find_pg_bin); then return 0; fi
    log "no PostgreSQL server found: installing it from apt"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql postgresql-client >/dev/null
    PG_BIN=$(find_pg_bin) || { log "PostgreSQL install failed"; return 1; }
}

ensure_moto_installed() {
    MOTO_SERVER="$TORIUM_LOCAL/venv/bin/moto_server"
    [ -x "$MOTO_SERVER" ] && return 0
    log "installing $MOTO_VERSION_SPEC into .local/venv"
    if ! python3 -m venv "$TORIUM_LOCAL/venv" >/dev/null 2>&1; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$TORIUM_LOCAL/venv"
    fi
    "$TORIUM_LOCAL/venv/bin/pip" install -q --disable-pip-version-check "$MOTO_VERSION_SPEC"
}

# cargo-lambda (`cargo lambda watch` / `invoke`) ships as a binary wheel on
# PyPI; it goes into the same virtualenv as moto.
ensure_cargo_lambda_installed() {
    ensure_moto_installed
    [ -x "$TORIUM_LOCAL/venv/bin/cargo-lambda" ] && return 0
    log "installing cargo-lambda into .local/venv"
    "$TORIUM_LOCAL/venv/bin/pip" install -q --disable-pip-version-check 'cargo-lambda>=1.8,<2'
}

ensure_rust_installed() {
    command -v cargo >/dev/null && return 0
    log "cargo not found: install Rust with rustup (https://rustup.rs) first"
    return 1
}

wait_for_http() {
    local url=$1 tries=100
    while [ $tries -gt 0 ]; do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

# TORIUM_PG_OPTIONS adds server options (the benchmarks preload
# pg_stat_statements to count round trips).

# A throwaway CA and a server certificate for 127.0.0.1, so the TLS path to
# the database (PGSSLMODE=require / verify-full) is tested for real.
make_test_certificates() {
    command -v openssl >/dev/null || return 1
    local dir=$1/tls
    mkdir -p "$dir"
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj "/CN=Torium test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" &&
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext" &&
        openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
            -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt"
    } >/dev/null 2>&1 || return 1
    chmod 600 "$dir/server.key"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir"
    return 0
}

start_postgres() {
    if [ -n "${DATABASE_URL:-}" ]; then
        log "using DATABASE_URL from the environment"
        return 0
    fi
    ensure_postgres_installed
    PG_DIR=$(mktemp -d /tmp/torium-pg.XXXXXX)
    local port runas=()
    port=$(free_port)
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root.
        chown postgres:postgres "$PG_DIR"
        runas=(runuser -u postgres --)
    fi
    "${runas[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    local tls_opts=""
    if make_test_certificates "$PG_DIR"; then
        tls_opts="-c ssl=on -c ssl_cert_file=$PG_DIR/tls/server.crt -c ssl_key_file=$PG_DIR/tls/server.key"
        # The CA that signed the server certificate, for the verify-full test.
        export TORIUM_TEST_PG_ROOT_CERT="$PG_DIR/tls/ca.crt"
    fi
    "${runas[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 30 \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 $tls_opts ${TORIUM_PG_OPTIONS:-}" \
        start >/dev/null || { cat "$PG_DIR/log" >&2; return 1; }
    PG_STARTED=1
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    log "PostgreSQL on 127.0.0.1:$port (data in $PG_DIR)"
}

start_moto() {
    if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
        log "using AWS_ENDPOINT_URL from the environment"
    else
        ensure_moto_installed
        local port
        port=$(free_port)
        MOTO_LOG=$(mktemp /tmp/torium-moto.XXXXXX.log)
        "$MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
        MOTO_PID=$!
        export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
        wait_for_http "$AWS_ENDPOINT_URL/moto-api/data.json" \
            || { log "moto did not start"; cat "$MOTO_LOG" >&2; return 1; }
        log "moto on $AWS_ENDPOINT_URL"
    fi
    # Test credentials only: every SDK client talks to the local endpoint.
    export AWS_REGION=${AWS_REGION:-eu-central-1}
    export AWS_DEFAULT_REGION=$AWS_REGION
    export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
    export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
    # Never probe the EC2 metadata address for a region or credentials.
    export AWS_EC2_METADATA_DISABLED=true
    # The account moto answers for (its default), so tests can build ARNs.
    export AWS_ACCOUNT_ID=${AWS_ACCOUNT_ID:-123456789012}
}

services_stop() {
    if [ -n "${MOTO_PID:-}" ]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
        rm -f "$MOTO_LOG"
    fi
    if [ -n "${PG_STARTED:-}" ]; then
        local runas=()
        [ "$(id -u)" -eq 0 ] && runas=(runuser -u postgres --)
        "${runas[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}

services_start() {
    command -v curl >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq curl >/dev/null; }
    ensure_rust_installed
    trap services_stop EXIT
    trap 'exit 130' INT TERM
    start_postgres
    start_moto
}
