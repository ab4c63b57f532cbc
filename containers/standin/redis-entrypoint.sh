#!/bin/sh
# Entrypoint of the Redis stand-in (Dockerfile.redis). The official image builds Redis
# with protected mode off, so a server without a password answers other containers;
# Debian's keeps it on, so it is turned off here the same way.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
