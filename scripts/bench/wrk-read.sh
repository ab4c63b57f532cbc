#!/usr/bin/env bash
# Web read path: wrk against the public reads on the seeded skillreel_bench database,
# then rankings again while a second wrk streams bcrypt-12 logins.
# Prereqs: release build; database seeded with scripts/bench/seed.sql (see docs/PERFORMANCE.md).
# Usage: scripts/bench/wrk-read.sh [duration, default 30s]
#   MIXED_ONLY=1 runs only the rankings-with-logins part; WEB_ENV="VAR=value ..." adds web settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
D="${1:-30s}"
trap stop_web EXIT
start_web ${WEB_ENV:-}
machine_facts

# the login account (idempotent: 400 when it already exists)
curl -sS -o /dev/null -w 'signup: %{http_code}\n' -H 'Content-Type: application/json' \
  -d '{"first_name":"Perf","last_name":"Login","email":"perf-login@example.com","city":"City 01","country":"Colombia","password1":"bench-password-1","password2":"bench-password-1"}' \
  "$BENCH_URL/api/auth/signup"

run() {
  echo "== $1"; machine_facts
  curl -fsS -o /dev/null "$BENCH_URL$1"   # prime the cache once (cold cost is measured separately)
  wrk -t2 -c64 -d"$D" --latency "$BENCH_URL$1"
}
if [ -z "${MIXED_ONLY:-}" ]; then
run "/api/public/rankings"
run "/api/public/rankings?city=City%2007&page=2"
run "/api/public/videos"
run "/api/public/videos?city=City%2007&q=skills"
fi

echo "== /api/public/rankings with concurrent logins (wrk -t1 -c4, bcrypt cost 12)"; machine_facts
wrk -t1 -c4 -d"$(( ${D%s} + 10 ))s" --latency -s scripts/bench/login.lua "$BENCH_URL" >"$BENCH_DIR/login.out" 2>&1 &
LOGIN=$!
sleep 5
wrk -t2 -c64 -d"$D" --latency "$BENCH_URL/api/public/rankings"
wait "$LOGIN"
echo "-- login stream:"; cat "$BENCH_DIR/login.out"
echo "web VmHWM: $(grep VmHWM /proc/$WEB_PID/status)"
