#!/usr/bin/env bash
# Worker measurements with the real release binaries (web for uploads, worker for jobs):
#   overhead: end-to-end job time (worker log "processing started" -> "processing finished":
#             fetch + probe + ffmpeg + probe + store + DB updates) vs the same ffmpeg command
#             replayed bare (argv captured from the worker's ffmpeg child via /proc/<pid>/cmdline);
#   (clips: media::testclip::PhoneClip, made by crates/worker/examples/phone_clip.rs)
#   throughput: N pre-queued 45 s 1080p jobs at WORKER_CONCURRENCY=1 and 2: videos/min and
#             CPU-seconds/video (worker utime+stime+cutime+cstime from /proc/<pid>/stat);
#   cut:      a 30 s and a 60 s clip, end-to-end job time.
# Usage: scripts/bench/worker-bin.sh [jobs per throughput run=3]
#        INTERLEAVED=3 scripts/bench/worker-bin.sh   # overhead only: job, bare, job, bare, ...
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
JOBS="${1:-3}"
CLIPS="$BENCH_DIR/clips"; mkdir -p "$CLIPS"
WENV=(DATABASE_URL="$BENCH_DB_URL" REDIS_PREFIX="$BENCH_PREFIX" STORAGE_DIR="$BENCH_DIR/storage"
      TEMP_DIR="$BENCH_DIR/worker-tmp" MEDIA_ASSETS_DIR="$BENCH_DIR/assets" FFMPEG_PRESET=veryfast
      LOG_FORMAT=json RUST_LOG=info,sqlx=warn)
WORKER_PID=
cleanup() {
  [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null
  stop_web
  psql -q -h 127.0.0.1 -U postgres -d skillreel_bench -c "DELETE FROM videos WHERE owner_id IN (SELECT id FROM players WHERE email = 'perf-worker@example.com')" || true
  rm -rf "$BENCH_DIR/storage" "$BENCH_DIR/worker-tmp" "$BENCH_DIR/bare-out.mp4"
  redis-cli --scan --pattern "$BENCH_PREFIX:*" | xargs -r redis-cli del >/dev/null || true
}
trap cleanup EXIT

clip() { # secs -> path: the phone-like clip of media::testclip (1080p30, ~14 Mbit/s, noise)
  local make="$CARGO_TARGET_DIR/debug/examples/phone_clip"
  [ -x "$make" ] || { echo "build first: cargo build --workspace --all-targets --locked" >&2; exit 1; }
  SKILLREEL_TEST_CACHE="${SKILLREEL_TEST_CACHE:-$CLIPS}" nice "$make" landscape "$1"
}
C45=$(clip 45); C30=$(clip 30); C60=$(clip 60)

start_web "${WENV[@]}"
curl -sS -o /dev/null -H 'Content-Type: application/json' \
  -d '{"first_name":"Perf","last_name":"Worker","email":"perf-worker@example.com","city":"City 01","country":"Colombia","password1":"bench-password-1","password2":"bench-password-1"}' \
  "$BENCH_URL/api/auth/signup"
TOKEN=$(curl -fsS -H 'Content-Type: application/json' -d '{"email":"perf-worker@example.com","password":"bench-password-1"}' \
  "$BENCH_URL/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
upload() { curl -fsS -H "Authorization: Bearer $TOKEN" -F "title=$2" -F "video_file=@$1;type=video/mp4" "$BENCH_URL/api/videos/upload" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["video_id"])'; }
pending() { psql -Atq -h 127.0.0.1 -U postgres -d skillreel_bench -c "SELECT count(*) FROM videos v JOIN players p ON p.id=v.owner_id WHERE p.email='perf-worker@example.com' AND v.status NOT IN ('processed','failed')"; }
failed() { psql -Atq -h 127.0.0.1 -U postgres -d skillreel_bench -c "SELECT count(*) FROM videos v JOIN players p ON p.id=v.owner_id WHERE p.email='perf-worker@example.com' AND v.status='failed'"; }
cpu() { awk '{print ($14+$15+$16+$17)/100}' "/proc/$1/stat"; }  # USER_HZ=100
# job durations from the worker's JSON log: "processing started" -> "processing finished" per video
durations() { python3 - "$1" <<'PY'
import json, sys
from datetime import datetime
start, out = {}, []
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except ValueError: continue
    msg = (r.get("fields") or {}).get("message") or r.get("message")
    vid = None
    for s in (r.get("spans") or []) + [r.get("span") or {}]:
        vid = s.get("video.id", vid)
    ts = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp()
    if msg == "processing started": start[vid] = ts
    elif msg == "processing finished" and vid in start: out.append((start[vid], ts, vid))
out.sort()
for s, e, v in out: print(f"video {v}: {e - s:.2f} s")
if out: print(f"SPAN {out[0][0]:.3f} {out[-1][1]:.3f} {len(out)}")
PY
}
run_worker() { # concurrency -> runs until the queue is drained; prints job times, wall, CPU
  local conc=$1 log="$BENCH_DIR/worker-$1.log"
  env "${WENV[@]}" WORKER_CONCURRENCY="$conc" WORKER_NAME="bench-$$-$conc-$RANDOM" "$BIN/skillreel-worker" >"$log" 2>&1 &
  WORKER_PID=$!
  local ff="" ; : >"$BENCH_DIR/ffmpeg.argv"
  while [ "$(pending)" != 0 ]; do
    if [ ! -s "$BENCH_DIR/ffmpeg.argv" ]; then
      for c in $(pgrep -P "$WORKER_PID" ffmpeg || true); do tr '\0' '\n' <"/proc/$c/cmdline" >"$BENCH_DIR/ffmpeg.argv" 2>/dev/null || true; done
    fi
    sleep 0.2
  done
  local c; c=$(cpu "$WORKER_PID")
  kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true; WORKER_PID=
  echo "failed videos: $(failed)"
  durations "$log" | tee "$BENCH_DIR/durations"
  echo "worker CPU (incl. ffmpeg/ffprobe children): $c s"
}

machine_facts
# generate the assets once (the worker does it at start) so no run pays for them
env "${WENV[@]}" WORKER_NAME="bench-assets-$$" timeout 60 "$BIN/skillreel-worker" >/dev/null 2>&1 & AP=$!
for _ in $(seq 1 100); do [ -n "$(ls "$BENCH_DIR/assets" 2>/dev/null)" ] && sleep 2 && break; sleep 0.3; done; kill $AP; wait $AP 2>/dev/null || true

if [ -n "${INTERLEAVED:-}" ]; then
  # overhead only: one end-to-end job, then the bare replay of its argv, repeated
  echo "== overhead, interleaved, $INTERLEAVED x (job, bare), 45 s 1080p, WORKER_CONCURRENCY=1"; machine_facts
  for r in $(seq 1 "$INTERLEAVED"); do
    upload "$C45" "ov-$r" >/dev/null
    run_worker 1 | grep '^video'
    mapfile -t ARGV <"$BENCH_DIR/ffmpeg.argv"
    for i in "${!ARGV[@]}"; do
      case "${ARGV[$i]}" in *skillreel-job-*/input.mp4) ARGV[$i]="$C45";; *skillreel-job-*/output.mp4) ARGV[$i]="$BENCH_DIR/bare-out.mp4";; level+info) ARGV[$i]=error;; esac
    done
    t0=$(date +%s.%N); "${ARGV[@]}" </dev/null >/dev/null 2>&1; t1=$(date +%s.%N)
    echo "RESULT bare ffmpeg: $(python3 -c "print(f'{$t1-$t0:.2f}')") s  ($(uptime | sed 's/.*load/load/'))"
  done
  exit 0
fi

echo "== throughput + overhead, WORKER_CONCURRENCY=1, $JOBS x 45 s 1080p"; machine_facts
for i in $(seq 1 "$JOBS"); do upload "$C45" "t1-$i" >/dev/null; done
run_worker 1
read -r _ s e n < <(grep SPAN "$BENCH_DIR/durations")
python3 -c "w=$e-$s; print(f'RESULT c=1: {$n} videos in {w:.1f} s = {$n*60/w:.2f} videos/min')"
# bare replay of the captured ffmpeg argv on the same clip
mapfile -t ARGV <"$BENCH_DIR/ffmpeg.argv"
for i in "${!ARGV[@]}"; do
  case "${ARGV[$i]}" in *skillreel-job-*/input.mp4) ARGV[$i]="$C45";; *skillreel-job-*/output.mp4) ARGV[$i]="$BENCH_DIR/bare-out.mp4";; esac
done
echo "ffmpeg argv: ${ARGV[*]}"
for r in 1 2; do
  t0=$(date +%s.%N); "${ARGV[@]}" </dev/null >/dev/null 2>&1; t1=$(date +%s.%N)
  echo "RESULT bare ffmpeg run $r: $(python3 -c "print(f'{$t1-$t0:.2f}')") s  ($(uptime | sed 's/.*load/load/'))"
done

echo "== throughput, WORKER_CONCURRENCY=2, $JOBS x 45 s 1080p"; machine_facts
for i in $(seq 1 "$JOBS"); do upload "$C45" "t2-$i" >/dev/null; done
run_worker 2
read -r _ s e n < <(grep SPAN "$BENCH_DIR/durations")
python3 -c "w=$e-$s; print(f'RESULT c=2: {$n} videos in {w:.1f} s = {$n*60/w:.2f} videos/min')"

echo "== cut: 30 s clip then 60 s clip, WORKER_CONCURRENCY=1"; machine_facts
v30=$(upload "$C30" cut30); v60=$(upload "$C60" cut60)
echo "30 s clip = video $v30, 60 s clip = video $v60"
run_worker 1
psql -Atq -h 127.0.0.1 -U postgres -d skillreel_bench -c "SELECT id, source_duration_secs FROM videos WHERE id IN ($v30, $v60)"
machine_facts
