#!/usr/bin/env bash
# The rate limiter's cost on the read path, and rankings while one client floods logins
# (docs/PERFORMANCE.md §5). Release build and the seeded skillreel_bench database of §1.
# Usage: scripts/bench/limits.sh [rounds, default 3] [duration, default 15s]
#   part A: rankings at wrk -t2 -c64 from one address, RATE_LIMITS=off vs on with the global
#           cap raised out of reach, interleaved (off, on, off, on, ...);
#   part B (alone: ONLY_B=1): default limits; a login flood from one client (X-Forwarded-For through a trusted
#           127.0.0.1) while another reads rankings and a third logs in 20 times.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
ROUNDS="${1:-3}"
D="${2:-15s}"
trap stop_web EXIT
OUT="$BENCH_DIR/limits"
mkdir -p "$OUT"
PASSWORD=bench-password-1
signup() {
  curl -sS -o /dev/null -w "signup $1: %{http_code}\n" -H 'Content-Type: application/json' \
    -H "X-Forwarded-For: ${2:-198.51.100.1}" \
    -d "{\"first_name\":\"Perf\",\"last_name\":\"Login\",\"email\":\"$1\",\"city\":\"City 01\",\"country\":\"Colombia\",\"password1\":\"$PASSWORD\",\"password2\":\"$PASSWORD\"}" \
    "$BENCH_URL/api/auth/signup"
}

# wrk's summary as "req/s p50 p99"
summarize() {
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
       END {printf "%s %s %s non2xx=%s\n", rps, p50, p99, (bad==""?0:bad)}' "$1"
}

echo "# part A: limiter cost, rankings wrk -t2 -c64 -d$D"; machine_facts
[ -n "${ONLY_B:-}" ] && ROUNDS=0
for round in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    start_web RATE_LIMITS="$mode" RATE_LIMIT_GLOBAL=1000000000/1m
    curl -fsS -o /dev/null "$BENCH_URL/api/public/rankings"
    wrk -t2 -c64 -d"$D" --latency "$BENCH_URL/api/public/rankings" >"$OUT/a-$mode-$round.txt"
    stop_web
    echo "round $round limits=$mode: $(summarize "$OUT/a-$mode-$round.txt") | $(uptime | sed 's/.*load average/load/')"
  done
done

echo "# part B: rankings and other logins while one client floods logins"; machine_facts
start_web RATE_LIMITS=on TRUSTED_PROXIES=127.0.0.1/32 RATE_LIMIT_GLOBAL=1000000000/1m BCRYPT_NICE=10
EMAIL="perf-limits-$$@example.com"
signup "$EMAIL" 198.51.100.1
LOGIN_EMAIL=random LOGIN_PASSWORD=guess LOGIN_XFF=203.0.113.66 \
  wrk -t1 -c16 -d"$(( ${D%s} + 10 ))s" --latency -s scripts/bench/login.lua "$BENCH_URL" >"$OUT/b-flood.txt" 2>&1 &
FLOOD=$!
sleep 5
wrk -t1 -c64 -d"$D" --latency -H "X-Forwarded-For: 198.51.100.7" \
  "$BENCH_URL/api/public/rankings" >"$OUT/b-rankings.txt" &
READ=$!
ok=0; codes=""
for i in $(seq 1 20); do
  code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "X-Forwarded-For: 198.51.100.$((100 + i))" \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$BENCH_URL/api/auth/login")
  codes="$codes $code"; [ "$code" = 200 ] && ok=$((ok + 1))
  sleep 0.3
done
wait "$READ"; wait "$FLOOD"
echo "rankings during the flood: $(summarize "$OUT/b-rankings.txt")"
echo "other clients' logins: $ok/20 succeeded (codes:$codes)"
echo "flood: $(grep -E 'requests in|Requests/sec' "$OUT/b-flood.txt" | tr -s ' ' | tr '\n' ' ')"
sed -n 's/^status /flood status /p' "$OUT/b-flood.txt"
