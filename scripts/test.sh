#!/usr/bin/env bash
# The test command (`make test`): brings up real PostgreSQL and moto on
# 127.0.0.1 (installing them first on a fresh machine), runs the whole
# workspace's tests against them, and stops both, also when tests fail.
# Extra arguments go to `cargo test` (e.g. `make test ARGS='-p torium-store'`);
# without them the demo pipeline is checked too (scripts/demo/pipeline.py).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

started=$(date +%s)
services_start
ready=$(date +%s)
log "services ready in $((ready - started)) s"

status=0
output=$(mktemp)
# A check that crashed before printing its "NAME: N passed, M failed" line
# still counts as one failure in the closing line.
counted_failure() {
    grep -q "^$1:" "$output" || echo "$1: 0 passed, 1 failed" >>"$output"
}
# The handler binaries first: the fault suite runs the real send-sms, the
# demo check runs them all under cargo lambda watch.
if [ $# -eq 0 ]; then cargo build --locked --workspace --bins 2>&1 | tail -n 3; fi
# Without arguments every member; with arguments they choose (`-p
# torium-store` is that crate only; `--test it` is the integration binary).
selection=("$@")
if [ $# -eq 0 ]; then selection=(--workspace); fi
cargo test --locked --no-fail-fast "${selection[@]}" 2>&1 | tee "$output" || status=$?
# The fault suite (tests/faults, its own closing line) ran but crashed.
if grep -q "Running faults/main.rs" "$output"; then counted_failure faults; fi
tested=$(date +%s)
log "services $((ready - started)) s, build and tests $((tested - ready)) s"

# The main command's pipeline, checked: the real binaries under
# `cargo lambda watch`, fed as AWS would, on a database of its own.
if [ $# -eq 0 ]; then
    ensure_cargo_lambda_installed
    demo_db="torium_demo_check_$$"
    psql "$DATABASE_URL" -qc "CREATE DATABASE $demo_db"
    (
        export DATABASE_URL="${DATABASE_URL%/*}/$demo_db" PATH="$TORIUM_LOCAL/venv/bin:$PATH"
        cargo build --locked --quiet -p torium-runtime --bin torium-migrate
        ./target/debug/torium-migrate >/dev/null
        "$TORIUM_LOCAL/venv/bin/python" scripts/demo/pipeline.py --check --port "$(free_port)"
    ) 2>&1 | tee -a "$output" || { status=$?; counted_failure demo; }
    log "demo pipeline check $(($(date +%s) - tested)) s"
    # The HTTP API's statements, through psycopg2, on a migrated database.
    contract_db="torium_contract_check_$$"
    psql "$DATABASE_URL" -qc "CREATE DATABASE $contract_db"
    (
        export DATABASE_URL="${DATABASE_URL%/*}/$contract_db"
        ./target/debug/torium-migrate >/dev/null
        "$TORIUM_LOCAL/venv/bin/python" -c 'import psycopg2' 2>/dev/null ||
            "$TORIUM_LOCAL/venv/bin/pip" install -q --disable-pip-version-check psycopg2-binary
        "$TORIUM_LOCAL/venv/bin/python" tests/contract/api_contract.py
    ) 2>&1 | tee -a "$output" || { status=$?; counted_failure contract; }
fi
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^(test result|demo|contract|faults):/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "workspace: %d passed, %d failed\n", p, f }' "$output"
rm -f "$output"
exit $status
