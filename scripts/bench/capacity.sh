#!/usr/bin/env bash
# Capacity runs of docs/CAPACITY.md: the release web service and worker on this machine,
# driven by the load harness (load-tests/). Everything lives in its own database
# (skillreel_capacity), Redis prefix (capacity) and folder (/tmp/skillreel-capacity).
#
# Usage (release build of skillreel-web, skillreel-worker and skillreel-load first):
#   scripts/bench/capacity.sh prepare            # fresh DB, start web, seed 30 public videos with a worker
#   scripts/bench/capacity.sh web ramp 300       # 0 -> 300 users in 3 min, hold 5 min (extra harness flags may follow)
#   scripts/bench/capacity.sh web sustained 240  # 5 min at 240 users
#   scripts/bench/capacity.sh worker 50 2 8      # 8 jobs of a 50 MB clip, burst, WORKER_CONCURRENCY=2
#   scripts/bench/capacity.sh worker 50 2 30 6   # 30 jobs at 6 jobs/min (sustained)
#   scripts/bench/capacity.sh worker phone 2 6   # the 45 s phone-like clip instead (needs the
#                                                # debug examples: cargo build --workspace --all-targets)
#   scripts/bench/capacity.sh stop               # stop the web service, drop the DB, remove the folder
#
# Web runs measure the web service alone: the worker is stopped (in production it runs on
# its own instances), so uploads made during a run stay queued; `web` removes them after
# each run so every run starts from the same state.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skillreel-target}"
BIN="${BIN:-$CARGO_TARGET_DIR/release}"
DIR="${CAPACITY_DIR:-/tmp/skillreel-capacity}"
PORT="${CAPACITY_PORT:-18090}"
URL="http://127.0.0.1:$PORT"
DB=skillreel_capacity
PREFIX=capacity
PSQL=(psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
mkdir -p "$DIR"

# The same settings for web, worker and harness (the harness reads .env-style variables).
export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/$DB"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" REDIS_PREFIX="$PREFIX"
export STORAGE_BACKEND=local STORAGE_DIR="$DIR/storage" TEMP_DIR="$DIR/tmp"
# A fresh signing key per invocation (the worker signs nothing; the web keeps the key it
# started with): no key committed here may sign anything.
JWT_SECRET="${JWT_SECRET:-$(od -An -vtx1 -N32 /dev/urandom | tr -d ' \n')}"
export MEDIA_ASSETS_DIR="$DIR/assets" JWT_SECRET
export LOG_FORMAT=json RUST_LOG=warn BCRYPT_COST=12 WORKER_METRICS_ADDR=off WEB_METRICS_ADDR=off
# The harness sends every user from one address: the limits would measure themselves.
export RATE_LIMITS="${RATE_LIMITS:-off}"
mkdir -p "$TEMP_DIR"

facts() { echo "# $(date -u +%FT%TZ) nproc=$(nproc) $(uptime | sed 's/.*load average/load average/')"; }

web_running() { curl -fsS -o /dev/null "$URL/health/ready" 2>/dev/null; }

start_web() {
  web_running && return 0
  HOST=127.0.0.1 PORT="$PORT" nohup "$BIN/skillreel-web" >>"$DIR/web.log" 2>&1 &
  echo $! >"$DIR/web.pid"
  for _ in $(seq 1 100); do web_running && return 0; sleep 0.2; done
  echo "web did not become ready; see $DIR/web.log" >&2
  return 1
}

# start_worker CONCURRENCY: one worker process in the background; its pid in $DIR/worker.pid.
start_worker() {
  WORKER_CONCURRENCY="$1" nohup "$BIN/skillreel-worker" >>"$DIR/worker.log" 2>&1 &
  echo $! >"$DIR/worker.pid"
  sleep 2
  kill -0 "$(cat "$DIR/worker.pid")" || { echo "worker exited; see $DIR/worker.log" >&2; return 1; }
}

stop_pid() { # pidfile
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$1"
}

# The clip virtual users upload: 1080p, 25 s, 5.9 MB (valid for the upload rules; the
# test pattern compresses poorly, which makes it a realistic size for a short clip).
upload_clip() {
  local f="$DIR/upload-clip.mp4"
  [ -s "$f" ] || ffmpeg -loglevel error -y -nostdin -f lavfi -i "testsrc2=size=1920x1080:rate=15:duration=25" \
    -c:v libx264 -preset ultrafast -crf 40 -pix_fmt yuv420p -f mp4 "$f"
  echo "$f"
}

# worker_clip MB: a real 1920x1080 30 fps, 30 s H.264 clip of about MB megabytes. The bits
# are spent on moving noise, so decoding costs what a phone clip of that bitrate costs
# (50 MB = 13 Mbit/s, a phone's 1080p30; 100 MB = 27 Mbit/s, the upload limit).
worker_clip() {
  # `phone`: the 45 s phone-like clip of media::testclip (1080p, ~14 Mbit/s, sensor
  # noise; cached in SKILLREEL_TEST_CACHE), through the debug example that prints its path.
  if [ "$1" = phone ]; then
    "$CARGO_TARGET_DIR/debug/examples/phone_clip" landscape 45 30
    return
  fi
  local f="$DIR/worker-clip-${1}MB.mp4" kbit=$(( $1 * 8000 * 97 / 3000 ))
  [ -s "$f" ] || ffmpeg -loglevel error -y -nostdin \
    -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=30" \
    -vf "noise=alls=40:allf=t+u" -c:v libx264 -preset ultrafast \
    -b:v "${kbit}k" -minrate "${kbit}k" -maxrate "${kbit}k" -bufsize "$((kbit / 2))k" \
    -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart -f mp4 "$f"
  echo "$f"
}

# Removes what a web run uploaded (rows still `uploaded`, their files, queued jobs).
drop_pending_uploads() {
  "${PSQL[@]}" -d "$DB" -At -c "DELETE FROM videos WHERE status = 'uploaded' RETURNING original_key" |
    while read -r key; do rm -f "$STORAGE_DIR/$key"; done
  redis-cli --scan --pattern "$PREFIX:jobs:*" | xargs -r redis-cli del >/dev/null
}

load() { "$BIN/skillreel-load" "$@"; }

case "${1:-}" in
  prepare)
    stop_pid "$DIR/worker.pid"; stop_pid "$DIR/web.pid"
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
    rm -rf "$STORAGE_DIR"
    redis-cli --scan --pattern "$PREFIX:*" | xargs -r redis-cli del >/dev/null
    start_web
    start_worker 2
    clip=$(upload_clip)
    # A short smoke run whose seeding step makes 30 public videos for the votes.
    load web --base-url "$URL" --scenario smoke --users 2 --duration 5s --clip "$clip" \
      --seed-videos 30 --label prepare --results-dir "$DIR/results"
    stop_pid "$DIR/worker.pid"
    drop_pending_uploads
    echo "prepared: web on $URL, $("${PSQL[@]}" -d "$DB" -At -c "SELECT count(*) FROM videos WHERE status = 'public'") public videos"
    ;;
  web)
    scenario="$2" users="$3"; shift 3
    start_web
    # Uploads arrive at up to ~90 MB/s and no worker consumes them: delete each original
    # 30 s after it was stored, or a 400-user run fills the disk. Nothing in the web run
    # reads them again (only the stopped worker would).
    touch "$DIR/run-start"
    ( while sleep 5; do
        find "$STORAGE_DIR/uploaded" -maxdepth 1 -name '*.mp4' -newer "$DIR/run-start" \
          -not -newermt '-30 seconds' -delete 2>/dev/null
      done ) &
    cleaner=$!
    facts
    load web --base-url "$URL" --scenario "$scenario" --users "$users" --clip "$(upload_clip)" \
      --max-requests 2000000 --label "u$users" "$@" || true
    kill "$cleaner" 2>/dev/null || true
    facts
    echo "web VmHWM: $(grep VmHWM "/proc/$(cat "$DIR/web.pid")/status" 2>/dev/null || echo n/a)"
    drop_pending_uploads
    ;;
  worker)
    mb="$2" conc="$3" jobs="$4" rate="${5:-}"
    clip=$(worker_clip "$mb")
    ls -l "$clip"
    start_worker "$conc"
    facts
    extra=(); label="c$conc-${mb}mb"; [ "$mb" = phone ] && label="c$conc-phone"
    [ -n "${FFMPEG_THREADS:-}" ] && label="$label-t$FFMPEG_THREADS"
    [ -n "$rate" ] && { extra=(--rate "$rate"); label="$label-rate$rate"; }
    load worker --jobs "$jobs" --clip "$clip" --worker-concurrency "$conc" --workers 1 \
      --label "$label" --results-dir load-tests/results "${extra[@]}"
    facts
    stop_pid "$DIR/worker.pid"
    ;;
  stop)
    stop_pid "$DIR/worker.pid"; stop_pid "$DIR/web.pid"
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB"
    redis-cli --scan --pattern "$PREFIX:*" | xargs -r redis-cli del >/dev/null
    rm -rf "$DIR"
    ;;
  *)
    sed -n '2,18p' "$0"; exit 2 ;;
esac
