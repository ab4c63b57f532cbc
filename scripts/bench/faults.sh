#!/usr/bin/env bash
# Job faults: pickup latency of an idle worker, recovery after SIGKILL (idle and with a
# 10-job backlog), Redis footprint after many jobs. Runs crates/worker/benches/faults.rs
# (release) with its own database rows, Redis prefix and local storage directory, and the
# production defaults for the lease and the sweep.
# Usage: scripts/bench/faults.sh [pickup_uploads=20] [recovery_runs=3] [footprint_jobs=500]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/env.sh
export DATABASE_URL="$BENCH_DB_URL" REDIS_PREFIX="$BENCH_PREFIX" STORAGE_BACKEND=local \
  STORAGE_DIR="$BENCH_DIR/faults-storage" TEMP_DIR="$BENCH_DIR/faults-tmp" \
  MEDIA_ASSETS_DIR="$BENCH_DIR/assets" FFMPEG_PRESET="${FFMPEG_PRESET:-veryfast}" LOG_FORMAT=json RUST_LOG=warn \
  WORKER_BIN="$BIN/skillreel-worker"
trap 'rm -rf "$BENCH_DIR/faults-storage" "$BENCH_DIR/faults-tmp"; redis-cli --scan --pattern "$BENCH_PREFIX:*" | xargs -r redis-cli del >/dev/null' EXIT
psql "${BENCH_DB_URL%/*}/postgres" -qc "CREATE DATABASE ${BENCH_DB_URL##*/}" 2>/dev/null || true
cargo build -q --release -p skillreel-worker
bench() { cargo bench -q -p skillreel-worker --bench faults -- "$@"; }
machine_facts
bench pickup "${1:-20}"
bench recovery "${2:-3}" 0
bench recovery "${2:-3}" 10
FFMPEG_PRESET=ultrafast bench footprint "${3:-500}"
machine_facts
