#!/usr/bin/env bash
# Fetches the vendored Chart.js that the web binary embeds (the organizer dashboard,
# /app/admin): crates/web/ui/assets/vendor/chart.umd.js and chart.LICENSES.txt.
#
#   scripts/vendor-chartjs.sh           npm pack the pinned versions (npm checks their
#                                       integrity), copy the published minified UMD build
#   scripts/vendor-chartjs.sh --check   fetch into a temp dir and fail if the committed
#                                       files differ
#
# Chart.js's UMD build bundles its one dependency, @kurkle/color, so both licences are
# listed. To move to a newer Chart.js, change the two versions below (the bundled
# @kurkle/color version is printed in the build's header), run this script and commit.
# Needs npm (the npm registry).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHARTJS_VERSION=4.6.1
COLOR_VERSION=0.3.2
VENDOR="$REPO_ROOT/crates/web/ui/assets/vendor"
command -v npm >/dev/null || die "npm is missing (Node 20+ is needed)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/vendor-chartjs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

log "npm pack chart.js@$CHARTJS_VERSION @kurkle/color@$COLOR_VERSION"
(cd "$tmp" && npm pack --silent "chart.js@$CHARTJS_VERSION" "@kurkle/color@$COLOR_VERSION" >/dev/null)
mkdir -p "$tmp/chart" "$tmp/color" "$tmp/out"
tar -xzf "$tmp/chart.js-$CHARTJS_VERSION.tgz" -C "$tmp/chart"
tar -xzf "$tmp/kurkle-color-$COLOR_VERSION.tgz" -C "$tmp/color"
grep -q "@kurkle/color v$COLOR_VERSION" "$tmp/chart/package/dist/chart.umd.min.js" \
  || die "chart.js@$CHARTJS_VERSION does not bundle @kurkle/color@$COLOR_VERSION: update COLOR_VERSION"

cp "$tmp/chart/package/dist/chart.umd.min.js" "$tmp/out/chart.umd.js"
{
  printf 'Third-party code in chart.umd.js (the published dist/chart.umd.min.js of chart.js, fetched by scripts/vendor-chartjs.sh)\n\n'
  printf 'chart.js@%s (MIT)\n%s\n' "$CHARTJS_VERSION" "------------------------------------------------------------"
  cat "$tmp/chart/package/LICENSE.md"
  printf '\n@kurkle/color@%s (MIT)\n%s\n' "$COLOR_VERSION" "------------------------------------------------------------"
  cat "$tmp/color/package/LICENSE.md"
} >"$tmp/out/chart.LICENSES.txt"

if [ "${1:-}" = "--check" ]; then
  for f in chart.umd.js chart.LICENSES.txt; do
    cmp -s "$tmp/out/$f" "$VENDOR/$f" || die "$f differs from the published package: run scripts/vendor-chartjs.sh and commit"
  done
  log "the vendored Chart.js matches the published package"
  exit 0
fi

mkdir -p "$VENDOR"
cp "$tmp/out/chart.umd.js" "$tmp/out/chart.LICENSES.txt" "$VENDOR/"
log "wrote $(wc -c <"$VENDOR/chart.umd.js") bytes to crates/web/ui/assets/vendor/chart.umd.js"
