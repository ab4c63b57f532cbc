#!/usr/bin/env bash
# Worker: overhead ratio (bare ffmpeg vs end-to-end job); throughput at concurrency 1
# and 2, twice, interleaved (2 with FFMPEG_THREADS=auto, ffmpeg's own threads, and with
# FFMPEG_THREADS=1, one thread a run); the 30 s cut (60 s clip vs 30 s clip). Runs
# crates/worker/benches/pipeline.rs with its own database rows, Redis prefix and local
# storage directory, on the phone-like clips of media::testclip (cached in
# SKILLREEL_TEST_CACHE; about a minute each to make the first time). Use an even number
# of throughput jobs: with an odd one the last job of a concurrency-2 run runs alone.
# Usage: scripts/bench/worker.sh [overhead_runs=2] [throughput_jobs=4] [cut_runs=1]
#   BENCH_PROFILE=dev   build the bench with the dev profile (shares the debug build's
#                       dependencies; ffmpeg does the work either way) instead of release
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
export DATABASE_URL="$BENCH_DB_URL" REDIS_PREFIX="$BENCH_PREFIX" STORAGE_BACKEND=local \
  STORAGE_DIR="$BENCH_DIR/worker-storage" TEMP_DIR="$BENCH_DIR/worker-tmp" \
  MEDIA_ASSETS_DIR="$BENCH_DIR/assets" BENCH_CLIP_DIR="${SKILLREEL_TEST_CACHE:-$BENCH_DIR/clips}" \
  FFMPEG_PRESET=veryfast LOG_FORMAT=json RUST_LOG=warn WORKER_NAME="bench-$$"
trap 'rm -rf "$BENCH_DIR/worker-storage" "$BENCH_DIR/worker-tmp"; redis-cli --scan --pattern "$BENCH_PREFIX:*" | xargs -r redis-cli del >/dev/null' EXIT
# The bench migrates the database itself; it must exist (a fresh machine has none).
psql "${BENCH_DB_URL%/*}/postgres" -qc "CREATE DATABASE ${BENCH_DB_URL##*/}" 2>/dev/null || true
bench() { nice -n 0 cargo bench -q --workspace --bench pipeline ${BENCH_PROFILE:+--profile "$BENCH_PROFILE"} -- "$@"; }
machine_facts
bench args
bench overhead "${1:-2}"
# Concurrency 2 with ffmpeg's own threads (the default), then one thread a run.
for _ in 1 2; do
  bench throughput 1 "${2:-4}"
  WORKER_CONCURRENCY=2 bench throughput 2 "${2:-4}"
  WORKER_CONCURRENCY=2 FFMPEG_THREADS=1 bench throughput 2 "${2:-4}"
done
bench cut "${3:-1}"
machine_facts
