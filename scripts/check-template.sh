#!/usr/bin/env bash
# Checks the SAM template offline: `sam validate --lint` and `cfn-lint`.
#
#   scripts/check-template.sh          # validate + lint (seconds)
#   scripts/check-template.sh --build  # also `sam build` every function (long:
#                                      # an arm64 release build per function;
#                                      # SAM_BUILD_ARGS=<LogicalId> builds one)
#
# aws-sam-cli and cfn-lint are installed from PyPI on first use into their own
# virtualenv, .local/sam-venv: not moto's .local/venv, because aws-sam-cli
# pins and upgrades boto3/botocore. `--build` also installs cargo-lambda and
# ziglang there (the cross-linker for arm64). No AWS account is needed: a
# region and dummy credentials are set for the offline checks.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.local/sam-venv"
SAM_SPEC='aws-sam-cli>=1.120,<2'
CFN_LINT_SPEC='cfn-lint>=1.20,<2'

log() { printf '[check-template] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_venv() {
    [ -x "$VENV/bin/pip" ] && return 0
    log "creating $VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    fi
}

ensure_tool() { # ensure_tool EXECUTABLE PIP-SPEC
    [ -x "$VENV/bin/$1" ] && return 0
    ensure_venv
    log "installing $2 into .local/sam-venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$2"
}

BUILD=0
for arg in "$@"; do
    case "$arg" in
        --build) BUILD=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) log "unknown argument: $arg"; exit 2 ;;
    esac
done

ensure_tool sam "$SAM_SPEC"
ensure_tool cfn-lint "$CFN_LINT_SPEC"

export PATH="$VENV/bin:$PATH"
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-eu-central-1}
export AWS_REGION=${AWS_REGION:-$AWS_DEFAULT_REGION}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export SAM_CLI_TELEMETRY=0
# No endpoint override must leak in from the test environment (moto).
unset AWS_ENDPOINT_URL

cd "$ROOT"
status=0

log "sam validate --lint ($(sam --version))"
sam validate --lint --template-file template.yaml --region "$AWS_DEFAULT_REGION" || status=1

log "cfn-lint template.yaml ($(cfn-lint --version))"
cfn-lint template.yaml || status=1

if [ "$BUILD" -eq 1 ] && [ "$status" -eq 0 ]; then
    ensure_tool cargo-lambda cargo-lambda
    # ziglang (zig as a Python package): cargo-lambda finds it through the venv's python.
    if ! "$VENV/bin/python" -c 'import ziglang' 2>/dev/null; then
        log "installing ziglang into .local/sam-venv"
        "$VENV/bin/pip" install -q --disable-pip-version-check ziglang
    fi
    log "sam build (cargo-lambda, arm64, release): this takes minutes per function"
    start=$(date +%s)
    # SAM_BUILD_ARGS may name one function (e.g. SAM_BUILD_ARGS=SendSmsFunction);
    # SAM_BUILD_DIR / SAM_CACHE_DIR move .aws-sam elsewhere; CARGO_TARGET_DIR is honoured.
    build_dir=${SAM_BUILD_DIR:-.aws-sam/build}
    # shellcheck disable=SC2086
    sam build --beta-features --parallel --cached --build-dir "$build_dir" \
        --cache-dir "${SAM_CACHE_DIR:-.aws-sam/cache}" ${SAM_BUILD_ARGS:-} || status=1
    log "sam build took $(( $(date +%s) - start )) s; bootstrap sizes (bytes):"
    find "$build_dir" -name bootstrap -printf '%s\t%p\n' 2>/dev/null | sort -k2 || true
fi

if [ "$status" -eq 0 ]; then log "template OK"; else log "template check FAILED"; fi
exit "$status"
