#!/usr/bin/env bash
# Builds the web and worker images from Dockerfile.web and Dockerfile.worker with podman,
# starts docker-compose.yml with podman-compose, runs the API flow against it through the
# published port (sign-up, login, list, upload, the worker's transcode, the processed
# file served), checks health checks, users and ports, and tears everything down.
# docs/CONTAINERS.md explains the stand-ins it uses for images no registry here serves.
#
#   containers/test.sh               build stage on host-built binaries (about 1-5 minutes)
#   containers/test.sh --full-build  build stage compiles with cargo in the container
#                                    (a release build: 20+ minutes on 2 cores)
#   containers/test.sh --keep        leave the stack running (stop: containers/test.sh --down)
#   containers/test.sh --down        tear down a stack left by --keep, and exit
#
# Environment: SKILLREEL_CONTAINERS_BIN_DIR, a folder with skillreel-web and
# skillreel-worker to put in the images as they are (default: `cargo build --locked` of
# both into $CARGO_TARGET_DIR/debug). Runs as root (rootful podman). Idempotent: a run
# first removes what an interrupted run left; runs on one machine take turns.
set -euo pipefail
# shellcheck source=containers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

FULL_BUILD=0 KEEP=0 DOWN_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --full-build) FULL_BUILD=1 ;;
    --keep) KEEP=1 ;;
    --down) DOWN_ONLY=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root: the images are built and run with rootful podman"
# One run at a time on a machine. flock -o holds the lock in a process of its own: an
# inherited lock descriptor would stay open in conmon and aardvark-dns for as long as a
# stack left by --keep runs, and block every later run.
mkdir -p "$CACHE_DIR"
if [ -z "${SKILLREEL_CONTAINERS_LOCKED:-}" ]; then
  command -v flock >/dev/null || apt_install util-linux
  SKILLREEL_CONTAINERS_LOCKED=1 exec flock -o -w 3600 "$CACHE_DIR/test.lock" bash "$CONTAINERS_DIR/test.sh" "$@"
fi

PROJECT=skillreel-ctest
RUN_DIR="$CACHE_DIR/run"
STARTED=$SECONDS
phase_start=$SECONDS
TIMINGS=()
phase() { # name of the phase that just ended
  TIMINGS+=("$(printf '%-34s %4ss' "$1" $((SECONDS - phase_start)))")
  phase_start=$SECONDS
}

ensure_podman
ensure_tools
# Docker's image format: the OCI format has no HEALTHCHECK, and podman would drop it.
export BUILDAH_FORMAT=docker

# Compose needs these to read the files at all, even to tear down.
export JWT_SECRET="${JWT_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
export SKILLREEL_BUILD_IMAGE="${SKILLREEL_BUILD_IMAGE:-localhost/skillreel-standin/rust-prebuilt:test}"
export WEB_PUBLISH="${WEB_PUBLISH:-127.0.0.1:18000}"
compose() {
  "$PODMAN_COMPOSE" -p "$PROJECT" -f docker-compose.yml -f containers/compose.test.yml "$@"
}
teardown() {
  compose down -v -t 30 >"$RUN_DIR/down.log" 2>&1 || true
  # Whatever compose no longer knows of (a renamed service, a crashed run).
  local id
  for id in $(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT"); do
    podman rm -f -t 10 "$id" >/dev/null 2>&1 || true
  done
  for id in $(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"); do
    podman volume rm -f "$id" >/dev/null 2>&1 || true
  done
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
}
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
if [ "$DOWN_ONLY" = 1 ]; then
  teardown
  log "stack $PROJECT removed"
  exit 0
fi
teardown
phase "tools and clean-up"

# ---------- images ----------
ensure_standin_services
phase "stand-in base images"

if [ "$FULL_BUILD" = 1 ]; then
  ensure_standin_rust
  export SKILLREEL_BUILD_IMAGE="$STANDIN_RUST"
else
  bin_dir="${SKILLREEL_CONTAINERS_BIN_DIR:-}"
  if [ -z "$bin_dir" ]; then
    command -v cargo >/dev/null || die "cargo is missing (or set SKILLREEL_CONTAINERS_BIN_DIR)"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skillreel-target}"
    log "cargo build --locked -p skillreel-web -p skillreel-worker (into $CARGO_TARGET_DIR)"
    cargo build --locked -q -p skillreel-web -p skillreel-worker
    bin_dir="$CARGO_TARGET_DIR/debug"
  fi
  context="$CACHE_DIR/prebuilt-context"
  rm -rf "$context"
  mkdir -p "$context"
  for bin in skillreel-web skillreel-worker; do
    [ -x "$bin_dir/$bin" ] || die "$bin_dir/$bin is missing"
    cp "$bin_dir/$bin" "$context/"
  done
  cp containers/standin/Dockerfile.prebuilt containers/standin/prebuilt-cargo.sh "$context/"
  log "building $SKILLREEL_BUILD_IMAGE (binaries from $bin_dir)"
  podman build -q --pull=never --build-arg BASE_IMAGE="$STANDIN_DEBIAN" \
    -f "$context/Dockerfile.prebuilt" -t "$SKILLREEL_BUILD_IMAGE" "$context" >/dev/null
  rm -rf "$context"
fi
phase "build image ($([ "$FULL_BUILD" = 1 ] && echo toolchain || echo prebuilt))"

log "building the web and worker images from Dockerfile.web and Dockerfile.worker (log: $RUN_DIR/build.log)"
if ! compose build web worker >"$RUN_DIR/build.log" 2>&1; then
  tail -n 40 "$RUN_DIR/build.log" >&2
  if grep -q "^E: Version '.*' for '.*' was not found" "$RUN_DIR/build.log"; then
    log "Debian no longer offers a pinned version: containers/lint.sh --versions shows the current ones;"
    log "put them in the ARG *_VERSION lines of Dockerfile.web and Dockerfile.worker (docs/CONTAINERS.md)"
  fi
  die "image build failed (log: $RUN_DIR/build.log)"
fi
for image in localhost/skillreel-web:test localhost/skillreel-worker:test; do
  [ "$(podman image inspect --format '{{.Config.User}}' "$image")" = 10001:10001 ] \
    || die "$image does not run as 10001:10001"
  podman image inspect --format '{{json .Config.Healthcheck}}' "$image" | grep -q curl \
    || die "$image has no HEALTHCHECK"
done
# The images these tags named before this build, now untagged: gone, or every run would
# leave a few hundred megabytes behind.
podman image prune -f >/dev/null 2>&1 || true
phase "web and worker images"

# ---------- the stack ----------
on_exit() {
  local status=$?
  if [ "$status" != 0 ]; then
    log "failed: the containers' last lines (all in $RUN_DIR)"
    for c in $(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT"); do
      name="$(podman inspect --format '{{.Name}}' "$c")"
      podman logs "$c" >"$RUN_DIR/$name.log" 2>&1 || true
      printf -- '--- %s (%s)\n' "$name" "$(podman inspect --format '{{.State.Status}}, restarts {{.RestartCount}}' "$c")" >&2
      tail -n 15 "$RUN_DIR/$name.log" >&2
    done
  fi
  if [ "$KEEP" = 1 ] && [ "$status" = 0 ]; then
    log "left running on http://$WEB_PUBLISH (stop: containers/test.sh --down)"
  else
    teardown
  fi
  exit "$status"
}
trap on_exit EXIT

# A free port on loopback, unless the caller chose one.
if [ "$WEB_PUBLISH" = 127.0.0.1:18000 ]; then
  WEB_PUBLISH="127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  export WEB_PUBLISH
fi
BASE_URL="http://$WEB_PUBLISH"
log "podman-compose up -d (web published on $WEB_PUBLISH)"
compose up -d >"$RUN_DIR/up.log" 2>&1 || { tail -n 30 "$RUN_DIR/up.log" >&2; die "compose up failed"; }
phase "compose up"

ready=0
for _ in $(seq 1 180); do
  if curl -fsS -o /dev/null "$BASE_URL/health/ready" 2>/dev/null; then ready=1; break; fi
  sleep 1
done
[ "$ready" = 1 ] || die "web did not become ready on $BASE_URL within 180 s"
phase "web ready"

# ---------- the API flow ----------
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# http BODY-FILE curl-args...: prints the HTTP status, leaves the body in BODY-FILE
http() {
  local body="$1"
  shift
  curl -sS -o "$body" -w '%{http_code}' --max-time 120 "$@"
}
expect() { # what, expected status, got status, body file
  [ "$2" = "$3" ] || { cat "$4" >&2 2>/dev/null || true; die "$1: HTTP $3, expected $2"; }
}
EMAIL="ctest-$(date +%s)@example.com"
B="$RUN_DIR/body"

code="$(http "$B" -X POST -H 'Content-Type: application/json' "$BASE_URL/api/auth/signup" \
  -d "{\"first_name\": \"Ana\", \"last_name\": \"Container\", \"email\": \"$EMAIL\", \"city\": \"Bogota\",
       \"country\": \"Colombia\", \"password1\": \"container-pass\", \"password2\": \"container-pass\"}")"
expect "sign-up" 201 "$code" "$B"
code="$(http "$B" -X POST -H 'Content-Type: application/json' "$BASE_URL/api/auth/login" \
  -d "{\"email\": \"$EMAIL\", \"password\": \"container-pass\"}")"
expect "login" 200 "$code" "$B"
TOKEN="$(json access_token <"$B")"
AUTH=(-H "Authorization: Bearer $TOKEN")
code="$(http "$B" "$BASE_URL/api/videos")"
expect "list without a token" 401 "$code" "$B"
code="$(http "$B" "${AUTH[@]}" "$BASE_URL/api/videos")"
expect "list" 200 "$code" "$B"
[ "$(tr -d ' \n' <"$B")" = "[]" ] || die "a new player's list is not empty: $(cat "$B")"
log "sign-up, login and list answered 201, 200, 200 ([]); no token: 401"
phase "sign-up, login, list"

# A 21 s 1080p clip, made by the ffmpeg inside the web image (nothing needed on the host).
chmod 0777 "$RUN_DIR"
podman run --rm --no-healthcheck --entrypoint ffmpeg -v "$RUN_DIR:/out" localhost/skillreel-web:test \
  -loglevel error -y -nostdin -f lavfi -i "testsrc2=size=1920x1080:rate=15:duration=21" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=21" -map 1:a -c:a aac -b:a 96k \
  -map 0:v -c:v libx264 -preset ultrafast -crf 38 -pix_fmt yuv420p -f mp4 /out/clip.mp4 2>"$RUN_DIR/ffmpeg.log" \
  || { cat "$RUN_DIR/ffmpeg.log" >&2; die "could not make the test clip"; }
code="$(http "$B" "${AUTH[@]}" -F title=Container -F "video_file=@$RUN_DIR/clip.mp4;type=video/mp4" \
  "$BASE_URL/api/videos/upload")"
expect "upload" 201 "$code" "$B"
VIDEO_ID="$(json video_id <"$B")"
status=
for _ in $(seq 1 300); do
  code="$(http "$B" "${AUTH[@]}" "$BASE_URL/api/videos/$VIDEO_ID")"
  expect "video $VIDEO_ID" 200 "$code" "$B"
  status="$(json status <"$B")"
  case "$status" in
    processed) break ;;
    failed) die "the worker failed video $VIDEO_ID: $(json error <"$B")" ;;
  esac
  sleep 1
done
[ "$status" = processed ] || die "video $VIDEO_ID still '$status' after 300 s"
# The signed URL names the public base URL; fetch its path and query through the published port.
media="$(json processed_url <"$B" | sed -E 's#^https?://[^/]+##')"
code="$(curl -sS -o "$RUN_DIR/processed.mp4" -w '%{http_code}' --max-time 60 "$BASE_URL$media")"
{ [ "$code" = 200 ] && [ -s "$RUN_DIR/processed.mp4" ]; } || die "processed file: HTTP $code"
log "upload 201; the worker container transcoded it; processed file served ($(wc -c <"$RUN_DIR/processed.mp4") bytes)"
phase "upload, transcode, fetch"

# ---------- what the images and compose promise ----------
for service in postgres redis web worker; do
  podman healthcheck run "${PROJECT}_${service}_1" >/dev/null 2>&1 \
    || die "the $service container's health check fails"
done
for service in web worker; do
  [ "$(podman exec "${PROJECT}_${service}_1" id -u)" = 10001 ] || die "$service does not run as uid 10001"
done
for service in postgres redis; do
  [ -z "$(podman port "${PROJECT}_${service}_1")" ] || die "$service publishes a port on the host"
done
restarts="$(for service in web worker; do
  printf '%s %s ' "$service" "$(podman inspect --format '{{.RestartCount}}' "${PROJECT}_${service}_1")"
done)"
log "health checks pass (postgres, redis, web, worker); web and worker run as uid 10001; postgres and redis publish nothing; restarts: $restarts"
phase "health checks, users, ports"

trap - EXIT
if [ "$KEEP" = 1 ]; then
  log "left running on $BASE_URL (stop: containers/test.sh --down)"
else
  teardown
  phase "compose down"
fi
printf '%s\n' "${TIMINGS[@]}" >&2
log "containers: passed in $((SECONDS - STARTED)) s"
