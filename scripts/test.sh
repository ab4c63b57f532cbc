#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL, Redis, ffmpeg and an S3
# emulator, installing and starting whatever is missing. `.ci/run` runs this.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_cargo
ensure_ffmpeg
ensure_openssl
ensure_postgres
ensure_redis
bash scripts/moto.sh >/dev/null
command -v shellcheck >/dev/null || apt_install shellcheck

# sqlx::test creates one database per test from this URL.
export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
export REDIS_URL="redis://127.0.0.1:6379"
export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT:-5055}"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export SKILLREEL_TEST_CACHE="${SKILLREEL_TEST_CACHE:-$HOME/.cache/skillreel-test-media}"
mkdir -p "$SKILLREEL_TEST_CACHE"

bash scripts/lint.sh

log "cargo test (workspace)"
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-4}"

log "schemathesis: the web binary against its OpenAPI document (report: var/schemathesis/)"
SKILLREEL_SCHEMATHESIS_NO_BUILD=1 bash scripts/schemathesis.sh

log "user_data sandbox tests"
bash user_data/test/run.sh

log "deploy/: cfn-lint, then the CloudFormation stack deployed on moto and checked (report: var/deploy-test/)"
bash deploy/test.sh

log "CONFIG_SOURCE=aws end to end (web binary against the AWS emulator)"
WEB_BIN="$CARGO_TARGET_DIR/debug/skillreel-web" bash user_data/test/aws_e2e.sh

log "the vendored Uppy bundle is what tools/vendor-uppy's pinned versions build"
bash scripts/vendor-uppy.sh --check

log "the vendored Chart.js is the published package of the pinned version"
bash scripts/vendor-chartjs.sh --check

log "browser end-to-end tests (headless Chromium)"
SKILLREEL_E2E_NO_BUILD=1 bash scripts/e2e.sh

log "cluster: nginx with TLS in front of two web instances, two workers; failover (scripts/cluster-test.sh)"
bash scripts/cluster-test.sh

log "containers: hadolint and compose checks, then the images built and the compose stack run with podman (docs/CONTAINERS.md)"
bash containers/lint.sh
SKILLREEL_CONTAINERS_BIN_DIR="$CARGO_TARGET_DIR/debug" bash containers/test.sh
