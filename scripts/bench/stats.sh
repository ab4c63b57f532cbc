#!/usr/bin/env bash
# Organizer statistics (issue 16): how long `GET /api/admin/stats` takes on 10,000 players,
# 20,000 videos and 200,000 votes spread over 72 hours (scripts/bench/seed.sql, then
# scripts/bench/seed-stats.sql; both generate_series, deterministic).
#
# Usage: scripts/bench/stats.sh [warm requests, default 2000]
# Env: BIN (default: the release build; BIN=$CARGO_TARGET_DIR/debug for a debug build),
#      BENCH_DB_URL (default .../skillreel_stats: created when missing, migrated by the web,
#      seeded by this script), BENCH_PORT (default: a free port), NO_SEED=1 keeps the data,
#      COLD (default 20) requests that each run the statements.
# Prints: the binary, the data, the latency of requests that run the statements (cold), of
# requests the instance answers from its 2-second copy (warm, sequential and 4 in
# parallel, with req/s), and the SQL alone (psql \timing).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$REPO_ROOT"
BENCH_PORT="${BENCH_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
BENCH_DB_URL="${BENCH_DB_URL:-postgres://postgres:postgres@127.0.0.1:5432/skillreel_stats}"
# shellcheck source=scripts/bench/env.sh
source scripts/bench/env.sh
N="${1:-2000}"
ORGANIZER=bench-organizer@example.com
[ -x "$BIN/skillreel-web" ] || die "no $BIN/skillreel-web: build it (or set BIN)"

db_name="${BENCH_DB_URL##*/}"
psql -q "${BENCH_DB_URL%/*}/postgres" -tc "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1 \
  || psql -q "${BENCH_DB_URL%/*}/postgres" -c "CREATE DATABASE \"$db_name\""

cleanup() {
  stop_web || true
  redis-cli --scan --pattern "$BENCH_PREFIX:*" 2>/dev/null | xargs -r -d '\n' redis-cli del >/dev/null 2>&1 || true
}
trap cleanup EXIT
start_web ADMIN_EMAILS="$ORGANIZER" BCRYPT_COST=4   # migrates the database
if [ -z "${NO_SEED:-}" ]; then
  log "seeding $db_name"
  psql -q "$BENCH_DB_URL" -v ON_ERROR_STOP=1 -f scripts/bench/seed.sql -f scripts/bench/seed-stats.sql
fi
curl -sS -o /dev/null -H 'Content-Type: application/json' \
  -d '{"first_name":"Bench","last_name":"Organizer","email":"'"$ORGANIZER"'","city":"City 01","country":"Colombia","password1":"bench-password-1","password2":"bench-password-1"}' \
  "$BENCH_URL/api/auth/signup"
TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
  -d '{"email":"'"$ORGANIZER"'","password":"bench-password-1"}' "$BENCH_URL/api/auth/login" | jq -r .access_token)
URL="$BENCH_URL/api/admin/stats"

echo "binary: $BIN/skillreel-web"
machine_facts
curl -fsS -H "Authorization: Bearer $TOKEN" "$URL" \
  | jq -c '{players, videos, votes, views, hours: (.uploads_per_hour | length),
            uploads_48h: ([.uploads_per_hour[].count] | add), votes_48h: ([.votes_per_hour[].count] | add),
            top_city: .top_cities[0]}'

# bench_http MODE N: MODE cold = one request every 2.1 s (each one past the 2 s reuse, so
# each runs the statements); warm = back to back on one keep-alive connection, then 4
# connections in parallel (the reused answer: what extra dashboards cost).
bench_http() {
  python3 - "$1" "$2" "$BENCH_PORT" "$TOKEN" <<'PY'
import http.client, statistics, sys, threading, time
mode, n, port, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
headers = {"Authorization": f"Bearer {token}"}
def run(count, pause, out):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(count):
        if pause: time.sleep(pause)  # before: the summary above loaded a fresh copy
        t = time.perf_counter()
        conn.request("GET", "/api/admin/stats", headers=headers)
        r = conn.getresponse(); r.read()
        assert r.status == 200, r.status
        out.append((time.perf_counter() - t) * 1000)
def report(label, ms):
    ms.sort(); q = lambda p: ms[min(len(ms) - 1, int(len(ms) * p))]
    print(f"{label}: n={len(ms)} min={ms[0]:.1f} ms p50={q(0.5):.1f} ms p95={q(0.95):.1f} ms "
          f"max={ms[-1]:.1f} ms mean={statistics.mean(ms):.1f} ms")
if mode == "cold":
    ms = []; run(n, 2.1, ms); report("cold (statements run)", ms)
else:
    ms = []; run(n, 0, ms); report("warm, sequential", ms)
    outs = [[] for _ in range(4)]
    threads = [threading.Thread(target=run, args=(n, 0, o)) for o in outs]
    t = time.perf_counter()
    for th in threads: th.start()
    for th in threads: th.join()
    took = time.perf_counter() - t
    report("warm, 4 connections", [x for o in outs for x in o])
    print(f"warm, 4 connections: {4 * n / took:.0f} req/s")
PY
}
log "${COLD:-20} cold requests, 2.1 s apart"
bench_http cold "${COLD:-20}"
log "$N warm requests, then 4 x $N in parallel"
bench_http warm "$N"

log "the SQL alone (psql, each statement once, warm): totals, uploads per hour, votes per hour, cities"
psql -q "$BENCH_DB_URL" -v ON_ERROR_STOP=1 <<'SQL' | grep -E '^Time' | awk '{ print $2 }' | paste -sd' ' | sed 's/^/statement ms: /'
\timing on
\o /dev/null
SELECT (SELECT count(*) FROM players), (SELECT count(*) FROM votes WHERE counted),
       COALESCE(sum(views_count), 0), count(*) FILTER (WHERE status = 'public') FROM videos;
SELECT date_trunc('hour', uploaded_at, 'UTC'), count(*) FROM videos
 WHERE uploaded_at >= date_trunc('hour', now(), 'UTC') - interval '47 hours' GROUP BY 1;
SELECT date_trunc('hour', created_at, 'UTC'), count(*) FROM votes
 WHERE counted AND created_at >= date_trunc('hour', now(), 'UTC') - interval '47 hours' GROUP BY 1;
SELECT min(city), count(*), sum(public_votes) FROM players GROUP BY lower(city)
 ORDER BY 3 DESC, 2 DESC, lower(min(city)) LIMIT 10;
SQL
