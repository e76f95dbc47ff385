#!/usr/bin/env bash
# Local services for developing with cargo-lambda (`make services`): starts
# PostgreSQL and moto on 127.0.0.1, migrates, creates the suite's queues, a
# verified SES sender and an SNS platform application, writes
# .local/dev.env for `cargo lambda watch --env-file`, and keeps running
# until Ctrl-C (then stops everything it started).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
services_start
ensure_cargo_lambda_installed
cargo build --locked --quiet -p torium-runtime --bin torium-migrate
./target/debug/torium-migrate
"$TORIUM_LOCAL/venv/bin/python" scripts/demo/pipeline.py --setup-only --env-file .local/dev.env
log "ready: environment in .local/dev.env; Ctrl-C stops PostgreSQL and moto"
while true; do sleep 3600; done
