#!/usr/bin/env bash
# End to end on the local stack: a 1,000-member event due at t0 through
# schedule-events, schedule-notifications and the SMS / email senders, all
# in-process on real PostgreSQL and moto; the time from t0 to the last
# provider accept and each delivery's lateness. Two runs, each on fresh
# services: the template's settings (SQS_SEND_CONCURRENCY 8), then the
# fan-out sending one SendMessageBatch at a time (SQS_SEND_CONCURRENCY 1,
# moto's best pace: it is one Python process). Writes bench/end-to-end.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
ensure_rust_installed
mkdir -p bench
cargo bench --locked --no-run -p torium-tests --bench end_to_end
moto_version=$("$TORIUM_LOCAL/venv/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo "?")
: >bench/end-to-end.txt.new
for concurrency in 8 1; do
    # Fresh PostgreSQL and moto for each run (moto keeps every queue's messages).
    unset DATABASE_URL AWS_ENDPOINT_URL PG_STARTED MOTO_PID
    services_start
    [ "$concurrency" = 8 ] && echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, PostgreSQL $(psql "$DATABASE_URL" -Atc "SHOW server_version"), moto $moto_version" >>bench/end-to-end.txt.new
    if [ "$concurrency" = 8 ]; then
        echo "## run 1: the template's settings (SQS_SEND_CONCURRENCY 8)" >>bench/end-to-end.txt.new
    else
        echo "" >>bench/end-to-end.txt.new
        echo "## run 2: the fan-out one SendMessageBatch at a time (SQS_SEND_CONCURRENCY 1), the rest as the template sets it" >>bench/end-to-end.txt.new
    fi
    # Bounded: the pollers stop after BENCH_E2E_MAX_SECONDS (180) or 15 s
    # after a failed fan-out's last delivery; this after 5 minutes.
    BENCH_E2E_SQS_SEND_CONCURRENCY=$concurrency BENCH_E2E_MAX_SECONDS=${BENCH_E2E_MAX_SECONDS:-180} \
        BENCH_LOG=$(pwd)/target/bench-end-to-end-$concurrency.log BENCH_OUT=$(pwd)/bench/end-to-end.run.txt \
        timeout 300 cargo bench --locked -p torium-tests --bench end_to_end
    cat bench/end-to-end.run.txt >>bench/end-to-end.txt.new
    rm -f bench/end-to-end.run.txt
    services_stop
    trap - EXIT
done
mv bench/end-to-end.txt.new bench/end-to-end.txt
cat bench/end-to-end.txt
