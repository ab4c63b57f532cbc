#!/usr/bin/env bash
# Worker: overhead ratio (bare ffmpeg vs end-to-end job), throughput at concurrency 1 and 2,
# and the 30 s cut (60 s clip vs 30 s clip). Runs crates/worker/benches/pipeline.rs
# (release) with its own database rows, Redis prefix and local storage directory, on the
# phone-like clips of media::testclip (cached in SKILLREEL_TEST_CACHE; about a minute
# each to make the first time).
# Usage: scripts/bench/worker.sh [overhead_runs=2] [throughput_jobs=3] [cut_runs=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
export DATABASE_URL="$BENCH_DB_URL" REDIS_PREFIX="$BENCH_PREFIX" STORAGE_BACKEND=local \
  STORAGE_DIR="$BENCH_DIR/worker-storage" TEMP_DIR="$BENCH_DIR/worker-tmp" \
  MEDIA_ASSETS_DIR="$BENCH_DIR/assets" BENCH_CLIP_DIR="${SKILLREEL_TEST_CACHE:-$BENCH_DIR/clips}" \
  FFMPEG_PRESET=veryfast LOG_FORMAT=json RUST_LOG=warn WORKER_NAME="bench-$$"
trap 'rm -rf "$BENCH_DIR/worker-storage" "$BENCH_DIR/worker-tmp"; redis-cli --scan --pattern "$BENCH_PREFIX:*" | xargs -r redis-cli del >/dev/null' EXIT
bench() { nice -n 0 cargo bench -q --workspace --bench pipeline -- "$@"; }
machine_facts
bench args
bench overhead "${1:-2}"
bench throughput 1 "${2:-3}"
bench throughput 2 "${2:-3}"
bench cut "${3:-1}"
machine_facts
