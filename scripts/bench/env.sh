# Common settings of the benchmark scripts (sourced).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skillreel-target}"
BIN="${BIN:-$CARGO_TARGET_DIR/release}"
BENCH_DB_URL="${BENCH_DB_URL:-postgres://postgres:postgres@127.0.0.1:5432/skillreel_bench}"
BENCH_PORT="${BENCH_PORT:-18080}"
BENCH_URL="http://127.0.0.1:$BENCH_PORT"
BENCH_DIR="${BENCH_DIR:-/tmp/skillreel-bench}"
BENCH_PREFIX="${BENCH_PREFIX:-perfbench$$}"
mkdir -p "$BENCH_DIR"
# A fresh signing key per run: the services refuse to start without one, and no key
# committed here may sign anything.
JWT_SECRET="${JWT_SECRET:-$(od -An -vtx1 -N32 /dev/urandom | tr -d ' \n')}"
export JWT_SECRET

# Starts the release web binary in the background; sets WEB_PID. Extra env via "$@" (VAR=value ...).
start_web() {
  env DATABASE_URL="$BENCH_DB_URL" HOST=127.0.0.1 PORT="$BENCH_PORT" \
      REDIS_PREFIX="$BENCH_PREFIX" STORAGE_DIR="$BENCH_DIR/storage" TEMP_DIR="$BENCH_DIR/tmp" \
      LOG_FORMAT=json RUST_LOG=warn BCRYPT_COST=12 WEB_METRICS_ADDR=off \
      RATE_LIMITS="${RATE_LIMITS:-off}" \
      "$@" "$BIN/skillreel-web" >"$BENCH_DIR/web.log" 2>&1 &
  WEB_PID=$!
  mkdir -p "$BENCH_DIR/tmp"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$BENCH_URL/health/ready" && return 0
    sleep 0.2
  done
  echo "web did not become ready; see $BENCH_DIR/web.log" >&2; return 1
}

stop_web() { [ -n "${WEB_PID:-}" ] && kill "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null; WEB_PID=; }

machine_facts() {
  echo "# $(date -u +%FT%TZ) nproc=$(nproc) $(uptime | sed 's/.*load average/load average/')"
}
