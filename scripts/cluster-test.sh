#!/usr/bin/env bash
# The cluster test: brings up scripts/cluster.sh (nginx + TLS, two web instances, two
# workers) with a throwaway database, Redis prefix and bucket, then through the proxy,
# over HTTPS verified against the cluster's CA:
#   1. the address checks: X-Forwarded-For is believed from nginx only;
#   2. the API flow: sign-up, login, upload, processing, publish, vote, rankings;
#   3. the browser end-to-end tests (scripts/e2e.sh against the proxy's URL);
#   4. kills one web instance with SIGKILL while clients keep signing up, voting and
#      uploading: no request fails once nginx has noticed, every acknowledged write is
#      stored exactly once, and `cluster.sh up` brings the instance back into rotation;
#   5. kills the worker running a job with SIGKILL: the other worker finishes it, once,
#      with a playable output (ffprobe).
# Then stops everything and removes what it created (outputs and logs stay in
# var/cluster-test/). Needs what scripts/test.sh starts (PostgreSQL, Redis, moto) and
# installs the rest. Ports: 8443 when free, else a free one (CLUSTER_TEST_HTTPS_PORT).
#   CLUSTER_TEST_BROWSER=0   skip step 3
#   CLUSTER_TEST_KEEP=1      leave the cluster running at the end (stop: cluster.sh down)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

started=$SECONDS
begun=0  # phases begun; the closing line counts them all as passed, or all but the last
OUT="$REPO_ROOT/var/cluster-test"
rm -rf "$OUT"
mkdir -p "$OUT"
export CLUSTER_DIR="$OUT/cluster"
RUN_ID="ct$(date +%s)$$"
CACHE="${SKILLREEL_TEST_CACHE:-$HOME/.cache/skillreel-test-media}"
mkdir -p "$CACHE"
tree_before="$(git status --porcelain 2>/dev/null || true)"

ensure_ffmpeg
ensure_postgres
ensure_redis
command -v python3 >/dev/null || apt_install python3

# ---------- ports: 8443 when free, everything else on free ports ----------
read -r -a ports <<<"$(python3 - "${CLUSTER_TEST_HTTPS_PORT:-8443}" <<'EOF'
import socket, sys
held = []
def grab(port=0):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    held.append(s)
    return s.getsockname()[1]
try:
    https = grab(int(sys.argv[1]))
except OSError:
    https = grab()
print(https, *(grab() for _ in range(6)))
EOF
)"
export CLUSTER_HTTPS_PORT="${ports[0]}"
export CLUSTER_WEB_PORTS="${ports[1]},${ports[2]}"
export CLUSTER_WEB_METRICS_PORTS="${ports[3]},${ports[4]}"
export CLUSTER_WORKER_METRICS_PORTS="${ports[5]},${ports[6]}"
export CLUSTER_DB="skillreel_$RUN_ID" CLUSTER_REDIS_PREFIX="$RUN_ID" CLUSTER_BUCKET="skillreel-$RUN_ID"
# Service settings for a quick run: cheap hashing and encoding, a short drain on stop,
# and rate limits raised for the synthetic clients of the failover step (each stands for
# many users); the limits stay on, the address checks need them.
export BCRYPT_COST=4 FFMPEG_PRESET=ultrafast SHUTDOWN_GRACE_SECS=5
export RATE_LIMIT_SIGNUP=100000/1h RATE_LIMIT_LOGIN=100000/1h RATE_LIMIT_VOTE=100000/1h \
  RATE_LIMIT_UPLOAD=10000/1h RATE_LIMIT_GLOBAL=100000/1m
export MOTO_PORT="${MOTO_PORT:-5055}"
CA="$CLUSTER_DIR/tls/ca.pem"
BASE="https://localhost:$CLUSTER_HTTPS_PORT"

# Whether pid $1 is a process of this test's cluster (not a recycled pid): nginx names
# the cluster's directory on its command line, the services in their environment.
ours() {
  local seen
  seen="$(cat "/proc/$1/cmdline" "/proc/$1/environ" 2>/dev/null | tr '\0' '\n')" || true
  [[ "$seen" == *"$CLUSTER_DIR"* ]]
}

cleanup() {
  local status=$?
  set +e
  if [ "${CLUSTER_TEST_KEEP:-0}" = 1 ]; then
    log "CLUSTER_TEST_KEEP=1: the cluster runs on $BASE (CLUSTER_DIR=$CLUSTER_DIR scripts/cluster.sh down)"
    exit "$status"
  fi
  log "stopping the cluster and removing its data"
  bash scripts/cluster.sh down >"$OUT/down.log" 2>&1 || { cat "$OUT/down.log" >&2; status=1; }
  local pid left=""
  while read -r pid; do
    if ours "$pid"; then left+=" $pid"; kill -KILL "$pid"; fi
  done < <(cat "$OUT/pids" 2>/dev/null)
  [ -z "$left" ] || { log "FAILED: still running after down:$left"; status=1; }
  PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qAt \
    -c "DROP DATABASE IF EXISTS \"$CLUSTER_DB\" WITH (FORCE)" >/dev/null
  redis-cli -h 127.0.0.1 --scan --pattern "$RUN_ID:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null
  python3 - "http://127.0.0.1:$MOTO_PORT" "$CLUSTER_BUCKET" <<'EOF' || { log "FAILED: the bucket $CLUSTER_BUCKET is left"; status=1; }
import re, sys, urllib.error, urllib.request
endpoint, bucket = sys.argv[1:]
# moto checks no signature, but refuses deletes without credentials.
AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
def call(method, path):
    req = urllib.request.Request(f"{endpoint}/{bucket}{path}", method=method, headers={"Authorization": AUTH})
    return urllib.request.urlopen(req, timeout=10).read()
try:
    listing = call("GET", "?list-type=2&max-keys=1000").decode()
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 404 else f"listing the bucket: {e}")  # 404: never created
except urllib.error.URLError:
    sys.exit(0)  # the emulator stopped with the cluster: nothing is left
for key in re.findall(r"<Key>([^<]+)</Key>", listing):
    call("DELETE", "/" + key)
call("DELETE", "")
EOF
  if [ "$(git status --porcelain 2>/dev/null || true)" != "$tree_before" ]; then
    log "FAILED: the test changed the checkout:"; git status --short >&2; status=1
  fi
  if [ "$status" = 0 ]; then
    log "cluster test passed in $((SECONDS - started)) s (logs: $OUT/)"
    echo "cluster-test: $begun passed, 0 failed"
  else
    log "cluster test FAILED (exit $status); logs: $CLUSTER_DIR/log/"
    echo "cluster-test: $((begun > 0 ? begun - 1 : 0)) passed, 1 failed"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------- clips (cached like the Rust suites' clips) ----------
# The 1080p, 21 s test pattern with audio: the same file and command as
# skillreel_shared::media::testclip, so a run of the Rust suites fills the cache too.
CLIP="$CACHE/clip-1920x1080-21000ms-av.mp4"
if [ ! -s "$CLIP" ]; then
  log "generating $CLIP"
  ffmpeg -y -nostdin -loglevel error -f lavfi -i "testsrc2=size=1920x1080:rate=15:duration=21.000" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=21.000" -map 1:a -c:a aac -b:a 96k \
    -map 0:v -c:v libx264 -preset ultrafast -crf 38 -pix_fmt yuv420p -f mp4 "$CLIP.$$.tmp"
  mv "$CLIP.$$.tmp" "$CLIP"
fi
# A still 1080p, 21 s clip of a few kilobytes: cheap to upload and process many times.
SMALL="$CACHE/cluster-still-1920x1080-21000ms.mp4"
if [ ! -s "$SMALL" ]; then
  ffmpeg -y -nostdin -loglevel error -f lavfi -i "color=c=0x2a6f97:size=1920x1080:rate=5:duration=21" \
    -c:v libx264 -preset ultrafast -crf 45 -pix_fmt yuv420p -f mp4 "$SMALL.$$.tmp"
  mv "$SMALL.$$.tmp" "$SMALL"
fi

export CT_HTTPS_PORT="$CLUSTER_HTTPS_PORT" CT_CA="$CA" CT_DB="$CLUSTER_DB" CT_PREFIX="$RUN_ID" \
  CT_CLUSTER_DIR="$CLUSTER_DIR" CT_STATE="$OUT/state.json" CT_RUN="$RUN_ID" \
  CT_WEB_PORTS="$CLUSTER_WEB_PORTS" CT_WORKER_METRICS_PORTS="$CLUSTER_WORKER_METRICS_PORTS" \
  CT_S3_ENDPOINT="http://127.0.0.1:$MOTO_PORT" CT_BUCKET="$CLUSTER_BUCKET" CT_CLIP="$CLIP" CT_SMALL_CLIP="$SMALL"
client() { python3 "$REPO_ROOT/scripts/cluster_test.py" "$@"; }
phase() { begun=$((begun + 1)); log "[$((SECONDS - started))s] $*"; }

# ---------- up ----------
phase "cluster.sh up (https port $CLUSTER_HTTPS_PORT, web ports $CLUSTER_WEB_PORTS)"
t=$SECONDS
# The organizer of e2e/tests/organizer.test.js, so the browser tests below moderate
# through the proxy and two web instances too.
export SKILLREEL_E2E_ADMIN_EMAIL="${SKILLREEL_E2E_ADMIN_EMAIL:-organizer@e2e.example.test}"
export ADMIN_EMAILS="$SKILLREEL_E2E_ADMIN_EMAIL"
if ! bash scripts/cluster.sh up 2>&1 | tee "$OUT/up.log" | sed 's/^/    /' >&2; then
  die "cluster.sh up failed"
fi
cat "$CLUSTER_DIR"/run/*.pid >"$OUT/pids"
log "up in $((SECONDS - t)) s"
bash scripts/cluster.sh status | sed 's/^/    /' >&2 || die "cluster.sh status says a member is down right after up"

# The web must keep idle connections longer than nginx does, or a request nginx sends on
# a connection the web is closing at that moment fails with 502.
keepalive="$(sed -nE 's/^ *keepalive_timeout ([0-9]+)s;/\1/p' "$CLUSTER_DIR/nginx/nginx.conf")"
header="$(sed -nE 's/^HTTP_HEADER_READ_TIMEOUT_SECS=([0-9]+)$/\1/p' "$CLUSTER_DIR/.env")"
if [ -z "$keepalive" ] || [ -z "$header" ] || [ "$header" -le "$keepalive" ]; then
  die "HTTP_HEADER_READ_TIMEOUT_SECS (${header:-unset}) must exceed nginx's upstream keepalive_timeout (${keepalive:-unset})"
fi
log "the web keeps idle connections ${header}s, nginx ${keepalive}s"

code="$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" "$BASE/health/ready")"
[ "$code" = 200 ] || die "$BASE/health/ready answered $code"
if curl -sS -o /dev/null "$BASE/health/live" 2>/dev/null; then
  die "curl trusted the cluster's certificate without its CA"
fi

# ---------- through the proxy ----------
phase "X-Forwarded-For and certificate checks"
client xff
phase "API flow through the proxy"
client api-flow
if [ "${CLUSTER_TEST_BROWSER:-1}" = 1 ]; then
  phase "browser end-to-end tests through the proxy ($BASE)"
  mkdir -p "$OUT/e2e"
  # e2e/tests/lib.js makes its own clips there (~13 MB each: three 5 MiB upload parts).
  SKILLREEL_E2E_BASE_URL="$BASE" SKILLREEL_E2E_CA="$CA" SKILLREEL_E2E_OUTPUT="$OUT/e2e" \
    bash scripts/e2e.sh
fi

# ---------- faults ----------
phase "killing web-1 while clients keep working"
client failover-web
bash scripts/cluster.sh status >"$OUT/status-web-down.txt" && die "status did not report web-1 down"
grep -q '^web-1 .*stopped' "$OUT/status-web-down.txt" || die "status does not show web-1 stopped"
phase "cluster.sh up restarts web-1"
bash scripts/cluster.sh up >"$OUT/up-again.log" 2>&1 || { cat "$OUT/up-again.log" >&2; die "the second up failed"; }
grep -q 'started web-1' "$OUT/up-again.log" || die "the second up did not restart web-1"
if grep -qE 'started (web-2|worker-)' "$OUT/up-again.log"; then die "the second up restarted members that were running"; fi
cat "$CLUSTER_DIR"/run/*.pid >>"$OUT/pids"
client rejoin
phase "killing the worker that runs a job"
client failover-worker

# ---------- down ----------
phase "cluster.sh down (twice: idempotent)"
bash scripts/cluster.sh down >"$OUT/down-1.log" 2>&1 || { cat "$OUT/down-1.log" >&2; die "down failed"; }
bash scripts/cluster.sh down >"$OUT/down-2.log" 2>&1 || { cat "$OUT/down-2.log" >&2; die "a second down failed"; }
while read -r pid; do
  if ours "$pid"; then die "pid $pid still runs after down"; fi
done <"$OUT/pids"
if bash scripts/cluster.sh status >/dev/null; then die "status says the cluster runs after down"; fi
if curl -sS -o /dev/null --max-time 2 --cacert "$CA" "$BASE/" 2>/dev/null; then die "something still answers on $BASE"; fi
log "everything stopped"
