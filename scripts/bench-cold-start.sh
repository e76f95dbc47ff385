#!/usr/bin/env bash
# Cold start of the Cognito triggers (Cognito waits 5 s at most): release
# binaries, real PostgreSQL and moto's Cognito, a local Lambda Runtime API.
# Writes the figures to bench/cold-start.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
services_start
ensure_moto_installed  # its virtualenv also has boto3, used below

cargo build --release --locked -p cognito-pre-signup -p cognito-post-signup -p torium-runtime --bin torium-migrate \
    --bin cognito-pre-signup --bin cognito-post-signup
./target/release/torium-migrate >/dev/null

work=$(mktemp -d)
"$TORIUM_LOCAL/venv/bin/python" - "$work" <<'PY'
import json, sys, boto3
work = sys.argv[1]
idp = boto3.client("cognito-idp")
pool = idp.create_user_pool(PoolName="bench", Schema=[{"Name": "user_id", "AttributeDataType": "String", "Mutable": True}])["UserPool"]["Id"]
idp.admin_create_user(UserPoolId=pool, Username="bench-user", UserAttributes=[{"Name": "email", "Value": "bench@example.com"}])
for name in ("cognito-pre-signup", "cognito-post-signup"):
    event = json.load(open(f"events/{name}.json"))
    event["userPoolId"], event["userName"] = pool, "bench-user"
    event["request"]["userAttributes"]["email"] = "bench@example.com"
    json.dump(event, open(f"{work}/{name}.json", "w"))
PY

out=bench/cold-start.txt
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m), release profile; process start to first response"
} >"$out"
for fn in cognito-pre-signup cognito-post-signup; do
    python3 scripts/cold-start.py "target/release/$fn" "$work/$fn.json" --runs 10 --out "$out"
done
rm -rf "$work"
