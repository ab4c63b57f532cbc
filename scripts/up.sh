#!/usr/bin/env bash
# Brings the whole system up on this machine: installs what is missing (ffmpeg,
# PostgreSQL, Redis), starts them when they are not running, builds the release
# binaries, then starts the web service on :8000 and one worker in the background.
# Run it again to restart web and worker with the current code; scripts/down.sh stops them.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_cargo
ensure_ffmpeg
ensure_postgres
ensure_redis
ensure_database skillreel

[ -f .env ] || { log "creating .env from .env.example"; cp .env.example .env; }
ensure_jwt_secret .env

log "building release binaries (first build takes several minutes)"
cargo build --release --locked -p skillreel-web -p skillreel-worker

mkdir -p var/log var/run
bash scripts/down.sh >/dev/null 2>&1 || true

start() {
  local name="$1"
  log "starting $name (log: var/log/$name.log)"
  nohup "$CARGO_TARGET_DIR/release/$name" >>"var/log/$name.log" 2>&1 &
  echo $! >"var/run/$name.pid"
}
start skillreel-web
start skillreel-worker

port="$(grep -E '^PORT=' .env | cut -d= -f2 || true)"
port="${port:-8000}"
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then
    log "skillreel is up: API http://127.0.0.1:$port/  docs http://127.0.0.1:$port/docs  app http://127.0.0.1:$port/app/"
    exit 0
  fi
  sleep 1
done
tail -n 20 var/log/skillreel-web.log >&2 || true
die "the web service did not become ready; see var/log/skillreel-web.log"
