#!/usr/bin/env bash
# Views on vote night: POST /api/public/videos/{id}/view, every request a new viewer
# (scripts/bench/views.lua), against one video everybody watches ("one") and 200 videos
# ("spread"), in interleaved rounds. With BIN_BEFORE it alternates two builds (say, the
# one-statement-per-view code and the view batcher), each round and shape both ways.
#
# Usage: scripts/bench/views.sh [rounds, default 3] [seconds per run, default 10]
# Env: BIN (default: the release build; BIN=$CARGO_TARGET_DIR/debug for a debug build),
#      BIN_BEFORE (another build to compare, optional), BENCH_DB_URL (default
#      .../skillreel_views; build i uses ${BENCH_DB_URL}_i, created when missing and
#      migrated by that build), CONNECTIONS [64].
# Prints one line per run (views/s, statuses, views counted vs dedup rows) and the medians.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$REPO_ROOT"
BENCH_PORT="${BENCH_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
BENCH_DB_URL="${BENCH_DB_URL:-postgres://postgres:postgres@127.0.0.1:5432/skillreel_views}"
# shellcheck source=scripts/bench/env.sh
source scripts/bench/env.sh
ROUNDS="${1:-3}"
SECS="${2:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
command -v wrk >/dev/null || apt_install wrk
[ -x "$BIN/skillreel-web" ] || die "no $BIN/skillreel-web: build it (or set BIN)"
builds=("$BIN")
if [ -n "${BIN_BEFORE:-}" ]; then
  [ -x "$BIN_BEFORE/skillreel-web" ] || die "no $BIN_BEFORE/skillreel-web"
  builds=("$BIN_BEFORE" "$BIN")
fi

cleanup() {
  stop_web || true
  redis-cli --scan --pattern "$BENCH_PREFIX:*" 2>/dev/null | xargs -r -d '\n' redis-cli del >/dev/null 2>&1 || true
}
trap cleanup EXIT
# Build i has its own database, $BENCH_DB_URL_i, migrated by that build (a build refuses
# a database that holds migrations it does not know).
db_of() { echo "${BENCH_DB_URL}_$1"; }
sql() { psql -qAt "$1" -v ON_ERROR_STOP=1 -c "$2"; }
for i in "${!builds[@]}"; do
  url="$(db_of "$i")"
  db_name="${url##*/}"
  sql "${url%/*}/postgres" "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1 \
    || sql "${url%/*}/postgres" "CREATE DATABASE \"$db_name\""
  BIN="${builds[$i]}" BENCH_DB_URL="$url" start_web   # migrates
  stop_web
  # 200 public videos of one player (once).
  if [ "$(sql "$url" "SELECT count(*) FROM videos WHERE title LIKE 'views-bench %'")" -lt 200 ]; then
    sql "$url" "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         VALUES ('Views', 'Bench', 'views-bench@example.com', 'Cali', 'Colombia', 'x')
         ON CONFLICT DO NOTHING"
    sql "$url" "INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key, size_bytes,
                             source_duration_secs, source_width, source_height, processed_at, published_at)
         SELECT (SELECT id FROM players WHERE lower(email) = 'views-bench@example.com'),
                'views-bench ' || g, 'public', gen_random_uuid(), 'uploaded/vb' || g, 'processed/vb' || g,
                1, 30, 1920, 1080, now(), now()
           FROM generate_series(1, 200) g"
  fi
done
out="$REPO_ROOT/var/bench/views-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p "$(dirname "$out")"
echo "$(machine_facts) rounds=$ROUNDS secs=$SECS connections=$CONNECTIONS" | tee "$out"

run=0
for round in $(seq 1 "$ROUNDS"); do
  for shape in one spread; do
    count=1; [ "$shape" = spread ] && count=200
    for i in "${!builds[@]}"; do
      build="${builds[$i]}"
      run=$((run + 1))
      url="$(db_of "$i")"
      first="$(sql "$url" "SELECT min(id) FROM videos WHERE title LIKE 'views-bench %'")"
      sql "$url" "TRUNCATE video_views; UPDATE videos SET views_count = 0 WHERE title LIKE 'views-bench %'"
      BIN="$build" BENCH_DB_URL="$url" start_web TRUSTED_PROXIES=127.0.0.1/32
      report="$(VIEW_FIRST="$first" VIEW_COUNT="$count" VIEW_RUN="$run" \
        wrk -t1 -c"$CONNECTIONS" -d"${SECS}s" -s scripts/bench/views.lua "$BENCH_URL")"
      stop_web
      rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$report")"
      statuses="$(grep '^status' <<<"$report" | tr '\n' ' ')"
      counted="$(sql "$url" "SELECT sum(views_count) || ' counted, ' || (SELECT count(*) FROM video_views) || ' rows'
                        FROM videos WHERE title LIKE 'views-bench %'")"
      printf '%s\t%s\tround %s\t%s views/s\t%s\t%s\n' "$shape" "$build" "$round" "$rps" "$statuses" "$counted" | tee -a "$out"
    done
  done
done
echo "# medians (views/s)" | tee -a "$out"
for shape in one spread; do
  for build in "${builds[@]}"; do
    median="$(awk -F'\t' -v s="$shape" -v b="$build" '$1 == s && $2 == b {split($4, a, " "); print a[1]}' "$out" \
      | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')"
    printf '%s\t%s\t%s\n' "$shape" "$build" "$median" | tee -a "$out"
  done
done
echo "report: $out"
