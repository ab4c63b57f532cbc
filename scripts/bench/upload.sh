#!/usr/bin/env bash
# Upload path: N concurrent uploads of a valid 50 MB 1080p MP4 against a fresh
# release skillreel-web; reports per-request latency (p50/p95/max), aggregate MB/s
# and the web process's peak RSS (VmHWM), for local storage or S3 (moto).
# Usage: scripts/bench/upload.sh local|s3 [concurrency=20] [bytes=50000000]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
backend="${1:-local}"; N="${2:-20}"; BYTES="${3:-50000000}"
CLIP="$BENCH_DIR/upload-$BYTES.mp4"
scripts/bench/make-sized-clip.sh "$BYTES" "$CLIP"
extra=()
if [ "$backend" = s3 ]; then
  endpoint=$(scripts/moto.sh)
  bucket="skillreel-perf-$$"
  curl -fsS -X PUT "$endpoint/$bucket" -o /dev/null
  extra=(STORAGE_BACKEND=s3 S3_BUCKET="$bucket" AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1)
fi
cleanup() {
  stop_web
  psql -q -h 127.0.0.1 -U postgres -d skillreel_bench -c "DELETE FROM videos WHERE owner_id IN (SELECT id FROM players WHERE email = 'perf-upload@example.com')" || true
  rm -rf "$BENCH_DIR/storage" "$BENCH_DIR/tmp"
  redis-cli --scan --pattern "$BENCH_PREFIX:*" | xargs -r redis-cli del >/dev/null || true
  if [ "$backend" = s3 ]; then
    python3 - "$endpoint" "$bucket" <<'PY' || true
import sys, boto3
s3 = boto3.resource("s3", endpoint_url=sys.argv[1], aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
b = s3.Bucket(sys.argv[2]); b.objects.all().delete(); b.delete()
PY
  fi
}
trap cleanup EXIT
start_web "${extra[@]}"
machine_facts
echo "backend=$backend uploads=$N size=$BYTES; web VmHWM after start: $(awk '/VmHWM/{print $2, $3}' /proc/$WEB_PID/status)"
curl -sS -o /dev/null -H 'Content-Type: application/json' \
  -d '{"first_name":"Perf","last_name":"Upload","email":"perf-upload@example.com","city":"City 01","country":"Colombia","password1":"bench-password-1","password2":"bench-password-1"}' \
  "$BENCH_URL/api/auth/signup"
TOKEN=$(curl -fsS -H 'Content-Type: application/json' -d '{"email":"perf-upload@example.com","password":"bench-password-1"}' \
  "$BENCH_URL/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# peak RSS sampler (VmHWM is the kernel's own high-water mark; the samples show the curve)
( while kill -0 "$WEB_PID" 2>/dev/null; do awk '/VmRSS/{print $2}' /proc/$WEB_PID/status; sleep 0.1; done ) >"$BENCH_DIR/rss.samples" 2>/dev/null &
SAMPLER=$!
t0=$(date +%s.%N)
seq 1 "$N" | xargs -P "$N" -I{} curl -sS -o /dev/null -w '%{time_total} %{http_code}\n' \
  -H "Authorization: Bearer $TOKEN" -F "title=perf {}" -F "video_file=@$CLIP;type=video/mp4" \
  "$BENCH_URL/api/videos/upload" >"$BENCH_DIR/upload.times"
t1=$(date +%s.%N)
kill "$SAMPLER" 2>/dev/null || true
echo "status codes: $(awk '{print $2}' "$BENCH_DIR/upload.times" | sort | uniq -c | tr '\n' ' ')"
sort -n "$BENCH_DIR/upload.times" | awk -v n="$N" '{t[NR]=$1} END {
  p95 = t[int(0.95*n + 0.999999)]; printf "latency: min %.2f s, p50 %.2f s, p95 %.2f s, max %.2f s\n", t[1], t[int((n+1)/2)], p95, t[n] }'
python3 -c "import sys; w=$t1-$t0; print(f'wall {w:.2f} s, {$N*$BYTES/1e6/w:.1f} MB/s aggregate')"
echo "web VmHWM after uploads: $(awk '/VmHWM/{print $2, $3}' /proc/$WEB_PID/status); max sampled VmRSS: $(sort -n "$BENCH_DIR/rss.samples" | tail -1) kB"
machine_facts
