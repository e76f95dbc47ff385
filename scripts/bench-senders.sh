#!/usr/bin/env bash
# Sender throughput against the raw ceiling, on moto, in the same run: one
# reused client publishing one message after another (the ceiling), then
# deliver_batch with the real SmsSender / EmailSender on batches of 10
# messages from 10 users. Writes bench/senders.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export TORIUM_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
source scripts/services.sh
services_start
mkdir -p bench
moto_version=$("$TORIUM_LOCAL/venv/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo "?")
header="# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, PostgreSQL $(psql "$DATABASE_URL" -Atc "SHOW server_version"), moto $moto_version"
cargo bench --locked --no-run -p torium-tests --bench senders
# Bounded by its message counts; this after 10 minutes.
BENCH_MOTO_PID=${MOTO_PID:-} BENCH_OUT=$(pwd)/bench/senders.txt.new timeout 600 cargo bench --locked -p torium-tests --bench senders
{ echo "$header"; cat bench/senders.txt.new; } >bench/senders.txt
rm -f bench/senders.txt.new
cat bench/senders.txt
