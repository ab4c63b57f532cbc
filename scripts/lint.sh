#!/usr/bin/env bash
# The gates that are not tests, run first by scripts/test.sh (so by .ci/run): formatting,
# clippy with warnings as errors, the dependency policy of deny.toml, and unused
# dependencies. Installs cargo-deny and cargo-machete from crates.io when missing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_cargo
ensure_cargo_tool cargo-deny 0.20.2
ensure_cargo_tool cargo-machete 0.9.2

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo deny: licenses, banned crates (one HTTP/TLS stack), sources"
cargo deny --locked check --hide-inclusion-graph licenses bans sources

# The RustSec database lives on GitHub, which this machine cannot always reach; the
# GitHub workflow always checks it.
if timeout 60 cargo deny fetch db >/dev/null 2>&1; then
  log "cargo deny: advisories"
  cargo deny --locked check --hide-inclusion-graph advisories
else
  log "cargo deny: advisories skipped (the RustSec database on GitHub is unreachable here)"
fi

log "cargo machete: unused dependencies"
cargo machete
