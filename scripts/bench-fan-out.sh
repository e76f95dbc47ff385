#!/usr/bin/env bash
# The fan-out makespan benchmark: one event with 1,000 / 10,000 / 100,000
# members in a throwaway PostgreSQL (with pg_stat_statements), fanned out by
# the real fan_out to the end against a simulated SQS (20 ms per
# SendMessageBatch unless BENCH_SQS_CALL_MS says otherwise). Writes
# bench/fan-out.txt and the chart bench/fan-out-makespan.png (matplotlib,
# installed into .local/venv when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export TORIUM_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
source scripts/services.sh
# Only PostgreSQL: the SQS calls are simulated in-process.
ensure_rust_installed
trap services_stop EXIT
trap 'exit 130' INT TERM
start_postgres
mkdir -p bench
header="# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, PostgreSQL $(psql "$DATABASE_URL" -Atc "SHOW server_version")"
cargo bench --locked --no-run -p torium-tests --bench fan_out
# Bounded: each fan-out stops after 20 invocations or 600 s; this after 15 minutes.
BENCH_OUT=$(pwd)/bench/fan-out.txt.new timeout 900 cargo bench --locked -p torium-tests --bench fan_out
{ echo "$header"; cat bench/fan-out.txt.new; } >bench/fan-out.txt
rm -f bench/fan-out.txt.new
cat bench/fan-out.txt

# The chart, drawn by matplotlib from PyPI in the project's virtualenv.
VENV="$TORIUM_LOCAL/venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    log "installing matplotlib into .local/venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check 'matplotlib>=3.8,<4'
fi
"$VENV/bin/python" tests/benches/fan_out_chart.py bench/fan-out.txt bench/fan-out-makespan.png
