#!/usr/bin/env bash
# Builds a release tarball for EC2 (user_data/web.sh and worker.sh install it):
#
#   scripts/release.sh
#   -> dist/skillreel-<version>-<arch>-linux.tar.gz (+ .sha256), path and sha256 printed
#
# The tarball holds one top directory with bin/skillreel-web, bin/skillreel-worker,
# migrations/, systemd/ (the units from user_data/systemd), DEPLOYMENT.md and VERSION.
# <version> is the workspace version plus the git commit (-g<sha>, -dirty when the tree
# has uncommitted changes), so every build has its own name: instances install each
# version once and never overwrite it. Override with VERSION=..., the output directory
# with DIST_DIR=... . Binaries are built for this machine's architecture.
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST_DIR="${DIST_DIR:-${REPO}/dist}"
TARGET_DIR="${CARGO_TARGET_DIR:-${REPO}/target}"
ARCH="$(uname -m)"

workspace_version() {
    sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "${REPO}/Cargo.toml"
}

if [[ -z "${VERSION:-}" ]]; then
    VERSION="$(workspace_version)"
    if git -C "${REPO}" rev-parse --verify -q HEAD >/dev/null 2>&1; then
        VERSION="${VERSION}-g$(git -C "${REPO}" rev-parse --short=10 HEAD)"
        if [[ -n "$(git -C "${REPO}" status --porcelain --untracked-files=no)" ]]; then
            VERSION="${VERSION}-dirty"
        fi
    fi
fi
if [[ ! "${VERSION}" =~ ^[A-Za-z0-9._+-]+$ ]]; then
    echo "release.sh: version '${VERSION}' may only use letters, digits and . _ + -" >&2
    exit 1
fi

name="skillreel-${VERSION}-${ARCH}-linux"
echo "release.sh: building ${name}" >&2
(cd "${REPO}" && cargo build --release --locked -p skillreel-web -p skillreel-worker)

staging="$(mktemp -d)"
trap 'rm -rf "${staging}"' EXIT
top="${staging}/${name}"
mkdir -p "${top}/bin" "${top}/systemd"
install -m 0755 "${TARGET_DIR}/release/skillreel-web" "${TARGET_DIR}/release/skillreel-worker" "${top}/bin/"
cp -R "${REPO}/migrations" "${top}/migrations"
install -m 0644 "${REPO}"/user_data/systemd/*.service "${top}/systemd/"
install -m 0644 "${REPO}/docs/DEPLOYMENT.md" "${top}/DEPLOYMENT.md"
echo "${VERSION}" >"${top}/VERSION"

mkdir -p "${DIST_DIR}"
tarball="${DIST_DIR}/${name}.tar.gz"
# Fixed owner, order and times: the archive depends only on its contents.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' \
    -C "${staging}" -czf "${tarball}.partial" "${name}"
mv "${tarball}.partial" "${tarball}"
sha="$(sha256sum "${tarball}" | cut -d' ' -f1)"
echo "${sha}  ${name}.tar.gz" >"${tarball}.sha256"

echo "${tarball}"
echo "sha256 ${sha}"
