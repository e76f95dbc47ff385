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
cargo test --workspace --locked "$@" || status=$?
log "services $((ready - started)) s, build and tests $(($(date +%s) - ready)) s"
exit $status
