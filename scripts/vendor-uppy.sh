#!/usr/bin/env bash
# Rebuilds the vendored Uppy bundle that the web binary embeds (the upload form of
# /app/my): crates/web/ui/assets/vendor/uppy.min.js and uppy.LICENSES.txt.
#
#   scripts/vendor-uppy.sh           npm ci in tools/vendor-uppy (pinned versions, lock
#                                    file), then esbuild: one minified ES module
#   scripts/vendor-uppy.sh --check   rebuild into a temp dir and fail if the committed
#                                    files differ (the bundle is reproducible)
#
# Versions are pinned in tools/vendor-uppy/package.json and package-lock.json; to move
# to a newer Uppy, change them there, run `npm install` in that folder, run this script
# and commit the three files. Needs node 20+ and npm (the npm registry).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOOLS="$REPO_ROOT/tools/vendor-uppy"
VENDOR="$REPO_ROOT/crates/web/ui/assets/vendor"
command -v npm >/dev/null || die "npm is missing (Node 20+ is needed)"

log "npm ci in tools/vendor-uppy"
(cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)

if [ "${1:-}" = "--check" ]; then
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/vendor-uppy.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$TOOLS" && node build.mjs "$tmp")
  for f in uppy.min.js uppy.LICENSES.txt; do
    cmp -s "$tmp/$f" "$VENDOR/$f" || die "$f differs from a fresh build: run scripts/vendor-uppy.sh and commit"
  done
  log "the vendored bundle matches a fresh build"
  exit 0
fi

mkdir -p "$VENDOR"
(cd "$TOOLS" && node build.mjs "$VENDOR")
log "wrote $(wc -c <"$VENDOR/uppy.min.js") bytes ($(gzip -9c "$VENDOR/uppy.min.js" | wc -c) gzipped) to crates/web/ui/assets/vendor/uppy.min.js"
