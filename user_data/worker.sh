#!/usr/bin/env bash
# EC2 user_data for a skillreel *worker* instance (Debian 12+/Ubuntu 22.04+ AMIs).
#
# Installs ffmpeg and the release tarball from S3 into /opt/skillreel and runs
# skillreel-worker under systemd as the unprivileged user `skillreel`, with
# CONFIG_SOURCE=aws: the database credentials and JWT key come from Secrets Manager,
# everything else from SSM Parameter Store (docs/DEPLOYMENT.md). This script holds no
# secret. Safe to run again (e.g. to roll out a new ARTIFACT_URI): it converges to the
# same files and restarts the service only when the release or the unit changed; the
# restart drains (SIGTERM, see the unit) so no job is lost.
#
# Settings (edit here, or export them before running the script by hand):
#   ARTIFACT_URI      s3:// URI of skillreel-<version>-<arch>-linux.tar.gz. The SSM
#                     parameter ${SSM_PREFIX}artifact_uri, when it exists, wins, so a
#                     rollout only updates that parameter and replaces instances.
#   ARTIFACT_SHA256   expected sha256 of the tarball (optional; printed by release.sh).
#   SSM_PREFIX        SSM hierarchy of the configuration [/skillreel/].
#   DB_SECRET_ID, JWT_SECRET_ID  Secrets Manager ids [skillreel/database, skillreel/jwt].
#   AWS_REGION        region of the aws CLI calls [from the instance metadata].
#   RDS_CA_URL        where the CA bundle of RDS comes from [the region's bundle in
#                     https://truststore.pki.rds.amazonaws.com/].
#   ROOT              prefix of every path written (tests run the script in a sandbox).
set -euo pipefail

ARTIFACT_URI="${ARTIFACT_URI:-s3://skillreel-artifacts/releases/skillreel-0.1.0-x86_64-linux.tar.gz}"
ARTIFACT_SHA256="${ARTIFACT_SHA256:-}"
SSM_PREFIX="${SSM_PREFIX:-/skillreel/}"
DB_SECRET_ID="${DB_SECRET_ID:-skillreel/database}"
JWT_SECRET_ID="${JWT_SECRET_ID:-skillreel/jwt}"
AWS_REGION="${AWS_REGION:-}"
ROOT="${ROOT:-}"

ROLE=worker
# ffmpeg runs the pipeline, ffprobe (same package) inspects the sources.
PACKAGES=(ca-certificates curl ffmpeg)

unit_text() {
    cat <<'UNIT'
# skillreel video worker. Installed by user_data/worker.sh, which carries this same text
# inline (user_data/test/run.sh checks that the two match).
[Unit]
Description=skillreel video worker
Documentation=file:///opt/skillreel/current/DEPLOYMENT.md
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
User=skillreel
Group=skillreel
WorkingDirectory=/opt/skillreel/current
ExecStart=/opt/skillreel/current/bin/skillreel-worker
# Configuration comes from Secrets Manager and SSM (docs/DEPLOYMENT.md); the env file
# holds only secret ids and the SSM prefix, never a secret.
Environment=CONFIG_SOURCE=aws
Environment=LOG_FORMAT=json
Environment=TEMP_DIR=/var/cache/skillreel
Environment=MEDIA_ASSETS_DIR=/var/lib/skillreel/assets
Environment=STORAGE_DIR=/var/lib/skillreel/storage
EnvironmentFile=-/etc/skillreel/skillreel.env
# Restarted whatever the exit (a crash, a clean exit, a signal), and never given up on:
# StartLimitIntervalSec=0 turns off the start-rate limit that would otherwise stop
# restarting after a burst of failures (e.g. a long database outage at boot).
Restart=always
RestartSec=2
# Draining: SIGTERM reaches the worker only (KillMode=mixed), so the ffmpeg runs it is
# finishing are not killed under it; it stops taking jobs, finishes or hands back the
# ones it holds and exits. 960 s exceeds JOB_TIMEOUT_SECS (900) + SHUTDOWN_GRACE_SECS
# (60) defaults; raise it with them. Only then does SIGKILL reach the leftovers.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=960
StateDirectory=skillreel
CacheDirectory=skillreel
UMask=0027
LimitNOFILE=65536

# Hardening: the service needs the network, ffmpeg, its state and cache directories.
# MemoryDenyWriteExecute is left off: codec libraries loaded by ffmpeg are not
# verified under it.
NoNewPrivileges=true
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
ProtectClock=true
ProtectHostname=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service

[Install]
WantedBy=multi-user.target
UNIT
}

# ---- common part: identical in web.sh and worker.sh (user_data/test/run.sh checks) ----
shopt -s inherit_errexit
UNIT_NAME="skillreel-${ROLE}.service"
SERVICE_USER=skillreel
INSTALL_DIR="${ROOT}/opt/skillreel"
CHANGED=0

log() { echo "skillreel-${ROLE} bootstrap: $*" >&2; }

if [[ -z "${ROOT}" && "$(id -u)" -ne 0 ]]; then
    log "must run as root (cloud-init runs user_data as root)"
    exit 1
fi

WORK_DIR="$(mktemp -d)"
trap 'rm -rf "${WORK_DIR}"' EXIT

install_packages() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
    if ! command -v aws >/dev/null 2>&1; then
        # Debian ships the CLI as a package; recent Ubuntu releases only as a snap.
        apt-get install -y -q --no-install-recommends awscli || snap install aws-cli --classic
    fi
}

detect_region() {
    if [[ -z "${AWS_REGION}" ]]; then
        local token
        token="$(curl -fsS -X PUT --max-time 5 -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
            http://169.254.169.254/latest/api/token)"
        AWS_REGION="$(curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: ${token}" \
            http://169.254.169.254/latest/meta-data/placement/region)"
    fi
    export AWS_REGION AWS_DEFAULT_REGION="${AWS_REGION}"
}

create_user() {
    if id -u "${SERVICE_USER}" >/dev/null 2>&1; then
        return 0
    fi
    useradd --system --user-group --home-dir /var/lib/skillreel --no-create-home \
        --shell /usr/sbin/nologin "${SERVICE_USER}"
}

# The SSM parameter when it exists, else ARTIFACT_URI.
resolve_artifact_uri() {
    local from_ssm
    if from_ssm="$(aws ssm get-parameter --name "${SSM_PREFIX}artifact_uri" \
        --query Parameter.Value --output text 2>/dev/null)" && [[ "${from_ssm}" == s3://* ]]; then
        ARTIFACT_URI="${from_ssm}"
    fi
}

# Downloads and unpacks the release into releases/<version>; sets VERSION.
install_release() {
    local archive="${WORK_DIR}/release.tar.gz" unpacked="${WORK_DIR}/release"
    aws s3 cp --only-show-errors "${ARTIFACT_URI}" "${archive}"
    if [[ -n "${ARTIFACT_SHA256}" ]] && ! echo "${ARTIFACT_SHA256}  ${archive}" | sha256sum --check --status; then
        log "checksum of ${ARTIFACT_URI} does not match ARTIFACT_SHA256"
        exit 1
    fi
    mkdir -p "${unpacked}"
    tar -xzf "${archive}" -C "${unpacked}" --strip-components=1 --no-same-owner
    VERSION="$(tr -cd 'A-Za-z0-9._+-' <"${unpacked}/VERSION" 2>/dev/null || true)"
    if [[ -z "${VERSION}" || ! -x "${unpacked}/bin/skillreel-${ROLE}" ]]; then
        log "${ARTIFACT_URI} is not a skillreel release (no VERSION or bin/skillreel-${ROLE})"
        exit 1
    fi
    local final="${INSTALL_DIR}/releases/${VERSION}" partial="${INSTALL_DIR}/releases/.${VERSION}.partial"
    if [[ ! -d "${final}" ]]; then
        # Copy beside the final name, then rename: a half-copied release is never live.
        mkdir -p "${INSTALL_DIR}/releases"
        rm -rf "${partial}"
        cp -a "${unpacked}" "${partial}"
        chmod -R go-w "${partial}"
        mv "${partial}" "${final}"
    fi
    if [[ "$(readlink "${INSTALL_DIR}/current" 2>/dev/null || true)" != "releases/${VERSION}" ]]; then
        # Relative target, so the link also resolves inside a ROOT sandbox; swapped by a
        # rename, so `current` always points at a whole release.
        ln -sfn "releases/${VERSION}" "${INSTALL_DIR}/current.new"
        mv -T "${INSTALL_DIR}/current.new" "${INSTALL_DIR}/current"
        CHANGED=1
    fi
}

# The CAs of RDS, which the services verify the database against (DATABASE_SSLMODE is
# verify-full). Refreshed on every run; an instance that cannot reach the trust store
# keeps the bundle it has, and one that never had a bundle stops here.
install_rds_ca() {
    local url="${RDS_CA_URL:-https://truststore.pki.rds.amazonaws.com/${AWS_REGION}/${AWS_REGION}-bundle.pem}"
    local bundle="${WORK_DIR}/rds-ca.pem" target="${ROOT}/etc/skillreel/rds-ca.pem"
    if curl -fsS --retry 3 --max-time 20 -o "${bundle}" "${url}" && grep -q 'BEGIN CERTIFICATE' "${bundle}"; then
        write_file "${target}" 0644 <"${bundle}"
    elif [[ -f "${target}" ]]; then
        log "could not download ${url}; keeping the RDS CA bundle already installed"
    else
        log "could not download the RDS CA bundle from ${url} (set RDS_CA_URL to a reachable copy)"
        exit 1
    fi
}

# Writes stdin to $1 with mode $2 unless the file already holds exactly that.
write_file() {
    local target="$1" mode="$2" staged="${WORK_DIR}/staged"
    cat >"${staged}"
    if [[ -f "${target}" ]] && cmp -s "${staged}" "${target}"; then
        return 0
    fi
    mkdir -p "$(dirname "${target}")"
    install -m "${mode}" "${staged}" "${target}"
    CHANGED=1
}

env_text() {
    cat <<EOF
# Written by user_data (${ROLE}). Where the configuration lives, never its values.
AWS_REGION=${AWS_REGION}
AWS_SSM_PREFIX=${SSM_PREFIX}
AWS_DB_SECRET_ID=${DB_SECRET_ID}
AWS_JWT_SECRET_ID=${JWT_SECRET_ID}
DATABASE_SSLROOTCERT=/etc/skillreel/rds-ca.pem
EOF
}

main() {
    install_packages
    detect_region
    create_user
    resolve_artifact_uri
    log "installing ${ARTIFACT_URI}"
    install_release
    install_rds_ca
    write_file "${ROOT}/etc/skillreel/skillreel.env" 0644 < <(env_text)
    write_file "${ROOT}/etc/systemd/system/${UNIT_NAME}" 0644 < <(unit_text)

    systemctl daemon-reload
    if ! systemctl is-active --quiet "${UNIT_NAME}"; then
        systemctl enable --now "${UNIT_NAME}"
    else
        systemctl enable "${UNIT_NAME}"
        if [[ "${CHANGED}" -eq 1 ]]; then
            log "release, unit or settings changed: restarting ${UNIT_NAME}"
            systemctl restart "${UNIT_NAME}"
        fi
    fi
    log "release ${VERSION} active"
}

main "$@"
