#!/usr/bin/env bash
# Stops the web service and worker started by scripts/up.sh (SIGTERM: the worker
# finishes or hands back its jobs first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for name in skillreel-web skillreel-worker; do
  pidfile="var/run/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped $name"
  fi
  rm -f "$pidfile"
done
