#!/usr/bin/env bash
# The main command (`make demo`), for now: a local PostgreSQL with Torium's
# schema applied by the same migration runner deployments use, its version
# printed. (The end-to-end local run of every handler will grow here.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

trap services_stop EXIT
ensure_rust_installed
start_postgres
cargo build --locked --quiet -p torium-runtime --bin torium-migrate
echo "== applying migrations"
./target/debug/torium-migrate
echo "== applying them again (a no-op)"
./target/debug/torium-migrate
if command -v psql >/dev/null; then
    echo "== tables"
    psql "$DATABASE_URL" -Atc "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1" | sed 's/^/  /'
fi
