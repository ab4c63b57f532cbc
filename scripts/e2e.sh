#!/usr/bin/env bash
# Browser tests of the front end against a real, throwaway system.
#
#   scripts/e2e.sh            build, start web + worker on a free port, run e2e/, clean up
#   SKILLREEL_E2E_BASE_URL=https://localhost:8443 scripts/e2e.sh
#                             run e2e/ against a system already running there (no build,
#                             no services, no load smoke; scripts/cluster-test.sh does this)
#
# Needs PostgreSQL (127.0.0.1:5432, user postgres), Redis (127.0.0.1:6379) and ffmpeg
# running/installed; installs Chromium (Debian package) and the npm dependencies of
# e2e/ when missing. Everything it creates (database, Redis keys, storage directory,
# processes) is removed on exit, whatever happens. Exits non-zero when a test fails.
#
# Environment:
#   SKILLREEL_E2E_NO_BUILD=1   use the binaries already in $CARGO_TARGET_DIR/debug
#   PG_ADMIN_URL               admin connection (default postgres://postgres:postgres@127.0.0.1:5432/postgres)
#   REDIS_URL                  default redis://127.0.0.1:6379
#   SKILLREEL_E2E_KEEP=1       keep the temp directory (logs, storage) for inspection
#   SKILLREEL_E2E_CA           with SKILLREEL_E2E_BASE_URL: a PEM CA that Chromium and node
#                              trust for it (a throwaway NSS database; needs certutil)
#   SKILLREEL_E2E_OUTPUT       where screenshots go (default e2e/output/)
#   SKILLREEL_E2E_TESTS        the test files to run, relative to e2e/ (default: all of tests/),
#                              e.g. "tests/organizer.test.js tests/static.test.js"
#   SKILLREEL_E2E_ADMIN_EMAIL  the organizer account of e2e/tests/organizer.test.js: put in
#                              ADMIN_EMAILS of the server started here (default
#                              organizer@e2e.example.test); with SKILLREEL_E2E_BASE_URL, an
#                              e-mail that system's ADMIN_EMAILS names (unset: that test
#                              is skipped)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skillreel-target}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM_PATH" ] || apt_install chromium
[ -x "$CHROMIUM_PATH" ] || die "Chromium is not at $CHROMIUM_PATH"
command -v node >/dev/null || die "node is missing (Node 20+ is needed)"
command -v npm >/dev/null || die "npm is missing"
command -v ffmpeg >/dev/null || die "ffmpeg is missing"
command -v psql >/dev/null || die "psql is missing"
command -v redis-cli >/dev/null || die "redis-cli is missing"
command -v cargo >/dev/null || die "cargo is missing"

if [ ! -d "$ROOT/e2e/node_modules/playwright-core" ]; then
  log "npm ci in e2e/"
  (cd "$ROOT/e2e" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Runs the browser tests against $1, with the extra environment given after it.
run_browser_tests() {
  local base="$1"
  shift
  # shellcheck disable=SC2086  # SKILLREEL_E2E_TESTS is a list of files
  (cd "$ROOT/e2e" && env "$@" SKILLREEL_BASE_URL="$base" CHROMIUM_PATH="$CHROMIUM_PATH" \
    SKILLREEL_E2E_ADMIN_EMAIL="${SKILLREEL_E2E_ADMIN_EMAIL:-}" \
    node --test --test-concurrency=1 --test-reporter=spec ${SKILLREEL_E2E_TESTS:-tests/})
}

# ---------- against a running system ----------
if [ -n "${SKILLREEL_E2E_BASE_URL:-}" ]; then
  extra=()
  if [ -n "${SKILLREEL_E2E_CA:-}" ]; then
    # Chromium trusts the CAs of $HOME/.pki/nssdb, node those of NODE_EXTRA_CA_CERTS.
    command -v certutil >/dev/null || apt_install libnss3-tools
    CA_HOME="$(mktemp -d "${TMPDIR:-/tmp}/skillreel-e2e-home.XXXXXX")"
    trap 'rm -rf "$CA_HOME"' EXIT
    mkdir -p "$CA_HOME/.pki/nssdb"
    certutil -d "sql:$CA_HOME/.pki/nssdb" -N --empty-password
    certutil -d "sql:$CA_HOME/.pki/nssdb" -A -t "C,," -n "skillreel e2e CA" -i "$SKILLREEL_E2E_CA"
    extra=(HOME="$CA_HOME" NODE_EXTRA_CA_CERTS="$SKILLREEL_E2E_CA")
  fi
  log "running the browser tests against $SKILLREEL_E2E_BASE_URL"
  run_browser_tests "${SKILLREEL_E2E_BASE_URL%/}" "${extra[@]}"
  exit
fi

# ---------- build ----------
if [ "${SKILLREEL_E2E_NO_BUILD:-0}" != 1 ]; then
  log "building skillreel-web and skillreel-worker (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$ROOT" && nice cargo build -q -p skillreel-web -p skillreel-worker)
fi
WEB_BIN="$CARGO_TARGET_DIR/debug/skillreel-web"
WORKER_BIN="$CARGO_TARGET_DIR/debug/skillreel-worker"
if [ ! -x "$WEB_BIN" ] || [ ! -x "$WORKER_BIN" ]; then die "binaries not found in $CARGO_TARGET_DIR/debug"; fi

# ---------- throwaway environment ----------
RUN_ID="e2e_$(date +%s)_$$"
DB_NAME="skillreel_${RUN_ID}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/skillreel-e2e.XXXXXX")"
WEB_PID=""
WORKER_PID=""
DB_CREATED=0

stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  set +e
  log "cleaning up"
  stop "$WORKER_PID"
  stop "$WEB_PID"
  if [ "$DB_CREATED" = 1 ]; then
    psql "$PG_ADMIN_URL" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null \
      || log "could not drop database $DB_NAME"
  fi
  redis-cli -u "$REDIS_URL" --scan --pattern "${RUN_ID}*" 2>/dev/null | xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1
  if [ "${SKILLREEL_E2E_KEEP:-0}" = 1 ]; then
    log "kept $WORK (logs and storage)"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
BASE_URL="http://127.0.0.1:$PORT"

log "creating database $DB_NAME"
psql "$PG_ADMIN_URL" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
DB_CREATED=1
DATABASE_URL="${PG_ADMIN_URL%/*}/$DB_NAME"

mkdir -p "$WORK/storage" "$WORK/assets" "$WORK/tmp"
export DATABASE_URL REDIS_URL PORT
export HOST=127.0.0.1
export REDIS_PREFIX="$RUN_ID"
export STORAGE_BACKEND=local
export STORAGE_DIR="$WORK/storage"
export MEDIA_ASSETS_DIR="$WORK/assets"
export TEMP_DIR="$WORK/tmp"
export BCRYPT_COST=4
export FFMPEG_PRESET=ultrafast
# Every browser and every virtual user of the load smoke below comes from 127.0.0.1, where
# a real crowd comes from many addresses: the per-client sign-up limits (20 an hour, two
# hashes in flight) would refuse the smoke's five simultaneous sign-ups. The other limits
# stay at their production defaults.
export RATE_LIMIT_SIGNUP=500/1h HASHES_PER_CLIENT=8
# The organizer of the browser tests (organizer.test.js signs up with this e-mail).
SKILLREEL_E2E_ADMIN_EMAIL="${SKILLREEL_E2E_ADMIN_EMAIL:-organizer@e2e.example.test}"
export ADMIN_EMAILS="$SKILLREEL_E2E_ADMIN_EMAIL"
JWT_SECRET="$(random_secret)"
export JWT_SECRET
unset URL_SIGNING_KEY SKILLREEL_ENV
export SHUTDOWN_GRACE_SECS=5
# Another web and worker (scripts/up.sh) may hold the default metrics ports.
export WORKER_METRICS_ADDR=off WEB_METRICS_ADDR=off
export LOG_FORMAT=pretty
export RUST_LOG="${RUST_LOG:-info}"
unset PUBLIC_BASE_URL MEDIA_PUBLIC_BASE_URL

log "starting skillreel-web on $BASE_URL and skillreel-worker (logs in $WORK)"
"$WEB_BIN" >"$WORK/web.log" 2>&1 &
WEB_PID=$!
"$WORKER_BIN" >"$WORK/worker.log" 2>&1 &
WORKER_PID=$!

ready=0
for _ in $(seq 1 120); do
  if ! kill -0 "$WEB_PID" 2>/dev/null; then
    tail -n 40 "$WORK/web.log" >&2
    die "skillreel-web exited during start-up"
  fi
  if curl -fsS "$BASE_URL/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  tail -n 40 "$WORK/web.log" >&2
  die "skillreel-web did not become ready on $BASE_URL/health/ready"
fi
kill -0 "$WORKER_PID" 2>/dev/null || { tail -n 40 "$WORK/worker.log" >&2; die "skillreel-worker exited during start-up"; }

# ---------- tests ----------
log "running the browser tests against $BASE_URL"
set +e
run_browser_tests "$BASE_URL"
status=$?
set -e
if [ "$status" != 0 ]; then
  log "tests failed (exit $status); last lines of the service logs:"
  echo "--- web.log ---" >&2; tail -n 30 "$WORK/web.log" >&2
  echo "--- worker.log ---" >&2; tail -n 30 "$WORK/worker.log" >&2
  log "screenshots: $ROOT/e2e/output/"
  exit "$status"
fi
log "browser tests passed; screenshots in e2e/output/ (SKILLREEL_DOC_SCREENSHOTS=1 also updates docs/screenshots/)"

# ---------- load-harness smoke (seconds) against the same system ----------
# Keeps the harness from rotting: a short web smoke and a one-job worker run.
if [ "${SKILLREEL_LOAD_SMOKE:-1}" = 1 ]; then
  LOAD_BIN="$CARGO_TARGET_DIR/debug/skillreel-load"
  if [ ! -x "$LOAD_BIN" ]; then
    log "building skillreel-load"
    (cd "$ROOT" && nice cargo build -q -p skillreel-load)
  fi
  CLIP="$ROOT/e2e/output/clip.mp4"
  [ -f "$CLIP" ] || die "the browser tests' clip $CLIP is missing"
  log "load harness: web smoke (5 users, 5 s)"
  "$LOAD_BIN" web --scenario smoke --users 5 --duration 5s --base-url "$BASE_URL" \
    --clip "$CLIP" --results-dir "$WORK/load-results" | tee "$WORK/smoke.out"
  # The harness reports FAIL without failing (a capacity search reads the verdicts).
  SMOKE_DIR="$(sed -n 's/^results: //p' "$WORK/smoke.out" | tail -1)"
  python3 - "$SMOKE_DIR/summary.json" <<'PY' || die "the web smoke failed its thresholds (statuses above; results in $SMOKE_DIR)"
import json, sys
s = json.load(open(sys.argv[1]))
if not s["verdict"]["pass"]:
    print("statuses per endpoint:", json.dumps(s["statuses"]))
    sys.exit(1)
PY
  log "load harness: worker smoke (1 job)"
  "$LOAD_BIN" worker --jobs 1 --clip "$CLIP" --timeout 180s --results-dir "$WORK/load-results"
  log "load harness smoke passed"
fi
