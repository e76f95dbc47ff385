#!/usr/bin/env bash
# The test command (`make test`): brings up real PostgreSQL and moto on
# 127.0.0.1 (installing them first on a fresh machine), runs the whole
# workspace's tests against them, and stops both, also when tests fail.
# Extra arguments go to `cargo test` (e.g. `make test ARGS='-p torium-store'`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

started=$(date +%s)
services_start
ready=$(date +%s)
log "services ready in $((ready - started)) s"

status=0
output=$(mktemp)
cargo test --workspace --locked "$@" 2>&1 | tee "$output" || status=$?
log "services $((ready - started)) s, build and tests $(($(date +%s) - ready)) s"
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "workspace: %d passed, %d failed\n", p, f }' "$output"
rm -f "$output"
exit $status
