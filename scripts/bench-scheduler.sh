#!/usr/bin/env bash
# The scheduler benchmark: 1,000,000 events in a throwaway PostgreSQL, the
# median selection-and-claim and its plan, and the SQS calls and database
# statements of a 10,000-member fan-out. Writes bench/scheduler.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export TORIUM_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
source scripts/services.sh
services_start
mkdir -p bench
header="# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, PostgreSQL $(psql "$DATABASE_URL" -Atc "SHOW server_version")"
BENCH_OUT=$(pwd)/bench/scheduler.txt.new cargo bench --locked -p torium-tests --bench scheduler
{ echo "$header"; cat bench/scheduler.txt.new; } >bench/scheduler.txt
rm -f bench/scheduler.txt.new
cat bench/scheduler.txt
