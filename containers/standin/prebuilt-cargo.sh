#!/bin/sh
# `cargo` of the prebuilt build image (Dockerfile.prebuilt). Accepts only what the
# Dockerfiles run, `cargo build --release --locked -p PACKAGE...`, checks that the
# sources it was given are a workspace with its lock file, and puts the host-built
# binary of each package where cargo would: target/release/PACKAGE.
set -eu
fail() { echo "cargo (prebuilt stand-in): $*" >&2; exit 101; }
[ "${1:-}" = build ] || fail "only 'cargo build' is expected, got: $*"
shift
release=0 locked=0 packages=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --release) release=1 ;;
    --locked) locked=1 ;;
    -p | --package) [ "$#" -ge 2 ] || fail "$1 needs a package"; shift; packages="$packages $1" ;;
    *) fail "unexpected argument: $1" ;;
  esac
  shift
done
[ "$locked" = 1 ] || fail "the Dockerfile must build with --locked (Cargo.lock as committed)"
[ "$release" = 1 ] || fail "the Dockerfile must build with --release"
[ -n "$packages" ] || fail "no -p PACKAGE"
{ [ -f Cargo.toml ] && [ -f Cargo.lock ]; } || fail "Cargo.toml and Cargo.lock must be in $(pwd)"
grep -q '^\[workspace\]' Cargo.toml || fail "$(pwd)/Cargo.toml is not the workspace manifest"
[ -d migrations ] || fail "migrations/ is embedded at compile time and must be copied"
mkdir -p target/release
for package in $packages; do
  [ -f "crates/${package#skillreel-}/Cargo.toml" ] || fail "no crate for $package under crates/"
  [ -x "/opt/skillreel-prebuilt/$package" ] || fail "no prebuilt binary for $package"
  cp "/opt/skillreel-prebuilt/$package" "target/release/$package"
  echo "    Finished \`release\` profile (prebuilt stand-in: host-built $package)"
done
