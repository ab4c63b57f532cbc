#!/usr/bin/env bash
# Shared helpers of the skillreel scripts: install and start what the system needs
# on a Debian machine, only when it is missing. Sourced, not executed.

# shellcheck disable=SC2034  # variables are used by the scripts that source this file
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skillreel-target}"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

_apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  if [ "$_apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    _apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_cargo() {
  command -v cargo >/dev/null || die "cargo is missing: install a Rust toolchain (rustup) first"
}

# ensure_cargo_tool <crate> <version>: installs a cargo subcommand from crates.io (built
# here: no prebuilt download) unless that version is already on PATH.
ensure_cargo_tool() {
  local crate="$1" version="$2"
  if "$crate" --version 2>/dev/null | grep -qF "$version"; then
    return 0
  fi
  log "installing $crate $version (cargo install, a few minutes once)"
  CARGO_TARGET_DIR="$HOME/.cache/skillreel-tools-target" \
    cargo install --locked --quiet --version "$version" "$crate"
}

ensure_openssl() {
  command -v openssl >/dev/null || apt_install openssl
}

ensure_ffmpeg() {
  if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    apt_install ffmpeg
  fi
  # The default logo/bumpers need no fonts; the load-test charts use DejaVu.
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_install fonts-dejavu-core
}

pg_up() { pg_isready -q -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" 2>/dev/null; }

ensure_postgres() {
  command -v pg_isready >/dev/null || apt_install postgresql postgresql-contrib
  if ! pg_up; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      apt_install postgresql postgresql-contrib
    fi
    local version
    version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
    pg_up || die "PostgreSQL did not start on 127.0.0.1:5432"
  fi
  # A freshly installed cluster authenticates TCP clients by password: give the
  # postgres role the documented development password (ignored under trust auth).
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
    log "setting the development password of the postgres role"
    su postgres -c "psql -qc \"ALTER ROLE postgres PASSWORD 'postgres'\"" >/dev/null
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6379}" ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  if ! redis_up; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port "${REDIS_PORT:-6379}" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/skillreel.log
    for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
    redis_up || die "Redis did not start on 127.0.0.1:6379"
  fi
}

# Prints a fresh signing key: 32 random bytes from the kernel, hex-encoded (64 characters).
random_secret() { od -An -vtx1 -N32 /dev/urandom | tr -d ' \n'; }

# Makes sure the env file $1 holds a usable JWT_SECRET: an existing one of at least 32
# bytes is kept, anything else (missing, empty, short, or the value the example file
# once shipped) is replaced by a fresh random key. The services refuse to start without one.
ensure_jwt_secret() {
  local file="$1" current
  current="$(grep -E '^JWT_SECRET=' "$file" | tail -n1 | cut -d= -f2- || true)"
  if [ "${#current}" -ge 32 ] && [ "$current" != "change-me-to-a-long-random-string-of-at-least-32-bytes" ]; then
    return 0
  fi
  log "writing a fresh random JWT_SECRET into $file"
  local secret
  secret="$(random_secret)"
  chmod 600 "$file"
  if grep -qE '^JWT_SECRET=' "$file"; then
    # Hex only: safe inside the sed expression.
    sed -i "s/^JWT_SECRET=.*/JWT_SECRET=$secret/" "$file"
  else
    [ -z "$(tail -c1 "$file")" ] || echo >>"$file"  # end the last line first
    printf 'JWT_SECRET=%s\n' "$secret" >>"$file"
  fi
}

# Creates the application database when it does not exist.
ensure_database() {
  local name="$1"
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    log "creating database $name"
    PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"$name\"" >/dev/null
  fi
}
