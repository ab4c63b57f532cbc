#!/usr/bin/env bash
# What one ~100 MB upload costs a web instance: the classic multipart route
# (POST /api/videos/upload, bytes through the web) against the resumable route on S3
# (parts PUT straight to presigned URLs, the web signs, lists and completes).
# Per upload: bytes of request body the web read on its upload routes (its own counter,
# skillreel_http_upload_body_bytes_total), CPU-seconds of the web process and its
# ffprobe children (utime+stime+cutime+cstime from /proc), and its RSS (VmRSS sampled every 50 ms, max over the upload).
# Runs are interleaved (classic, resumable, classic, ...) and reported as medians.
# Usage: scripts/bench/resumable.sh [runs=5]
# BIN=<dir with skillreel-web> to use another build (default: the release build);
# BENCH_DB_URL=<database> (default: skillreel_bench; created when missing, migrated by the web).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
RUNS="${1:-5}"
METRICS_PORT="${METRICS_PORT:-18081}"
CLIP="$BENCH_DIR/noisy-1080p-100mb.mp4"

# A realistic phone-like clip: 1080p30, sensor-like temporal noise, ~14 Mbit/s, 55 s,
# just under the 100 MB limit (x264 ultrafast at a fixed bitrate, so the size is set by
# the bitrate and the noise keeps every frame expensive).
if [ ! -s "$CLIP" ]; then
  ffmpeg -loglevel error -y -nostdin \
    -f lavfi -i "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 55 \
    -map 0:v -c:v libx264 -preset ultrafast -b:v 14M -maxrate 14M -bufsize 14M -pix_fmt yuv420p \
    -map 1:a -c:a aac -b:a 128k -f mp4 "$CLIP.partial"
  mv "$CLIP.partial" "$CLIP"
fi
SIZE=$(stat -c %s "$CLIP")
[ "$SIZE" -le 104857600 ] || { echo "clip is $SIZE bytes, over the 100 MB limit" >&2; exit 1; }

db_name="${BENCH_DB_URL##*/}"
psql -q "${BENCH_DB_URL%/*}/postgres" -tc "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1 \
  || psql -q "${BENCH_DB_URL%/*}/postgres" -c "CREATE DATABASE \"$db_name\""

endpoint=$(scripts/moto.sh)
bucket="skillreel-perf-resumable-$$"
curl -fsS -X PUT "$endpoint/$bucket" -o /dev/null
cleanup() {
  stop_web
  psql -q "$BENCH_DB_URL" -c "DELETE FROM videos WHERE owner_id IN (SELECT id FROM players WHERE email = 'perf-resumable@example.com'); DELETE FROM resumable_uploads WHERE owner_id IN (SELECT id FROM players WHERE email = 'perf-resumable@example.com')" || true
  rm -rf "$BENCH_DIR/storage" "$BENCH_DIR/tmp"
  redis-cli --scan --pattern "$BENCH_PREFIX:*" | xargs -r redis-cli del >/dev/null || true
  python3 - "$endpoint" "$bucket" <<'PY' || true
import sys, boto3
s3 = boto3.resource("s3", endpoint_url=sys.argv[1], aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
b = s3.Bucket(sys.argv[2])
for u in b.multipart_uploads.all():
    u.abort()
b.objects.all().delete(); b.delete()
PY
}
trap cleanup EXIT
start_web STORAGE_BACKEND=s3 S3_BUCKET="$bucket" AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 WEB_METRICS_ADDR="127.0.0.1:$METRICS_PORT" \
  UPLOAD_MAX_PENDING_PER_PLAYER=1000
machine_facts
echo "clip: $CLIP, $SIZE bytes; web: $BIN/skillreel-web (pid $WEB_PID); runs: $RUNS each, interleaved"
curl -sS -o /dev/null -H 'Content-Type: application/json' \
  -d '{"first_name":"Perf","last_name":"Resumable","email":"perf-resumable@example.com","city":"City 01","country":"Colombia","password1":"bench-password-1","password2":"bench-password-1"}' \
  "$BENCH_URL/api/auth/signup"
TOKEN=$(curl -fsS -H 'Content-Type: application/json' -d '{"email":"perf-resumable@example.com","password":"bench-password-1"}' \
  "$BENCH_URL/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

python3 - "$BENCH_URL" "http://127.0.0.1:$METRICS_PORT/metrics" "$TOKEN" "$CLIP" "$WEB_PID" "$RUNS" <<'PY'
import json, os, statistics, sys, threading, time, urllib.request, uuid

base, metrics_url, token, clip, pid, runs = sys.argv[1:7]
pid, runs = int(pid), int(runs)
tick = os.sysconf("SC_CLK_TCK")
data = open(clip, "rb").read()

def cpu_seconds():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    # utime + stime of the web, + cutime + cstime of its reaped children (ffprobe)
    return sum(int(f) for f in fields[11:15]) / tick

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def body_bytes():
    text = urllib.request.urlopen(metrics_url).read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("skillreel_http_upload_body_bytes_total{"))

def call(method, url, body=None, headers=None, raw=False):
    h = {"Authorization": f"Bearer {token}"} if url.startswith(base) else {}
    h.update(headers or {})
    if body is not None and not raw:
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.status, r.headers, r.read()

def classic():
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nperf\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"video_file\"; filename=\"clip.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    status, _, _ = call("POST", f"{base}/api/videos/upload", body,
                        {"Content-Type": f"multipart/form-data; boundary={boundary}"}, raw=True)
    assert status == 201, status

def resumable():
    _, _, b = call("POST", f"{base}/api/videos/uploads",
                   {"title": "perf", "filename": "clip.mp4", "size": len(data), "content_type": "video/mp4"})
    started = json.loads(b)
    uid, size = started["upload_id"], started["part_size"]
    parts = []
    for n in range(1, started["parts_count"] + 1):
        _, _, b = call("GET", f"{base}/api/videos/uploads/{uid}/parts/{n}")
        target = json.loads(b)
        url = target["url"] if target["url"].startswith("http") else base + target["url"]
        # A browser sends the file's type; urllib would say form-urlencoded, which moto
        # tries to parse as a form.
        headers = {"Content-Type": "application/octet-stream", **target["headers"]}
        _, headers, _ = call("PUT", url, data[(n - 1) * size:n * size], headers, raw=True)
        parts.append({"part_number": n, "etag": headers["ETag"]})
    status, _, _ = call("POST", f"{base}/api/videos/uploads/{uid}/complete", {"parts": parts})
    assert status == 201, status

def measure(upload):
    peak = [rss_kb()]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb())
            time.sleep(0.05)
    sampler = threading.Thread(target=sample)
    sampler.start()
    b0, c0, t0 = body_bytes(), cpu_seconds(), time.monotonic()
    upload()
    t1, c1, b1 = time.monotonic(), cpu_seconds(), body_bytes()
    done.set(); sampler.join()
    return {"bytes": b1 - b0, "cpu": c1 - c0, "rss_mb": peak[0] / 1024, "wall": t1 - t0}

results = {"classic": [], "resumable": []}
idle_rss = rss_kb() / 1024
for i in range(runs):
    for name, fn in (("classic", classic), ("resumable", resumable)):
        m = measure(fn)
        results[name].append(m)
        print(f"run {i + 1} {name:9}: {m['bytes']:>12,.0f} B  {m['cpu']:6.2f} CPU-s  "
              f"max RSS {m['rss_mb']:6.1f} MB  wall {m['wall']:6.2f} s", flush=True)

med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in results.items()}
c, r = med["classic"], med["resumable"]
print(f"\nmedians of {runs} interleaved runs, {len(data):,}-byte clip (web idle RSS {idle_rss:.1f} MB):")
print("| per upload | classic (`POST /api/videos/upload`) | resumable on S3 | resumable / classic |")
print("|---|---|---|---|")
print(f"| request body bytes read by the web | {c['bytes']:,.0f} | {r['bytes']:,.0f} | {100 * r['bytes'] / c['bytes']:.3f} % |")
print(f"| web CPU-seconds (process + its ffprobe) | {c['cpu']:.2f} | {r['cpu']:.2f} | {100 * r['cpu'] / max(c['cpu'], 1e-9):.1f} % |")
print(f"| web max RSS during the upload | {c['rss_mb']:.1f} MB | {r['rss_mb']:.1f} MB | — |")
print(f"| wall time | {c['wall']:.2f} s | {r['wall']:.2f} s | — |")
PY
machine_facts
