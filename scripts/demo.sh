#!/usr/bin/env bash
# The main command (`make demo`): the whole suite, end to end, on a local
# PostgreSQL and moto. Sets itself up like the test command (plus
# cargo-lambda from PyPI), migrates, then scripts/demo/pipeline.py creates
# the queues, seeds a group, runs the real handlers under `cargo lambda
# watch`, feeds them as AWS would, and prints what each person received.
# `make demo ARGS=--check` asserts it instead (the test command does).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

started=$(date +%s)
services_start
ensure_cargo_lambda_installed
export PATH="$TORIUM_LOCAL/venv/bin:$PATH"
cargo build --locked --quiet -p torium-runtime --bin torium-migrate
./target/debug/torium-migrate >/dev/null
log "services and schema ready in $(($(date +%s) - started)) s"
"$TORIUM_LOCAL/venv/bin/python" scripts/demo/pipeline.py "$@"
log "demo done in $(($(date +%s) - started)) s"
