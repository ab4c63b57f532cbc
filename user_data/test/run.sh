#!/usr/bin/env bash
# Tests the EC2 bootstrap without EC2: runs scripts/release.sh (with a stub cargo) and
# user_data/web.sh and worker.sh in a sandbox. Every path the scripts write goes under a
# temporary ROOT; apt-get, aws, systemctl, useradd, id, curl and snap are stubs on PATH
# that record their calls to a log (aws serves S3 objects and SSM parameters from
# sandbox directories, curl plays the instance metadata service).
#
#   user_data/test/run.sh        # last line: user_data: N passed, 0 failed
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
USER_DATA="$(dirname "${HERE}")"
REPO="$(dirname "${USER_DATA}")"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

passed=0
failed=0

# check <description> <command...>: one test.
check() {
    local description="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - ${description}"
    else
        failed=$((failed + 1))
        echo "FAIL - ${description}"
    fi
}

# ---------------------------------------------------------------- stubs and sandbox
write_stubs() {
    local bin="$1"
    mkdir -p "${bin}"
    cat >"${bin}/apt-get" <<'EOF'
#!/usr/bin/env bash
echo "apt-get $*" >>"${SANDBOX}/calls.log"
EOF
    cat >"${bin}/snap" <<'EOF'
#!/usr/bin/env bash
echo "snap $*" >>"${SANDBOX}/calls.log"
EOF
    cat >"${bin}/useradd" <<'EOF'
#!/usr/bin/env bash
echo "useradd $*" >>"${SANDBOX}/calls.log"
user="${*: -1}"
if grep -qx "${user}" "${SANDBOX}/users" 2>/dev/null; then
    echo "useradd: user '${user}' already exists" >&2
    exit 9
fi
echo "${user}" >>"${SANDBOX}/users"
EOF
    cat >"${bin}/id" <<'EOF'
#!/usr/bin/env bash
if [[ "$#" -eq 2 && "$1" == "-u" ]]; then
    grep -qx "$2" "${SANDBOX}/users" 2>/dev/null && { echo 990; exit 0; }
    echo "id: '$2': no such user" >&2
    exit 1
fi
exec /usr/bin/id "$@"
EOF
    cat >"${bin}/systemctl" <<'EOF'
#!/usr/bin/env bash
echo "systemctl $*" >>"${SANDBOX}/calls.log"
unit="${*: -1}"
case "$1" in
    is-active) [[ -e "${SANDBOX}/active/${unit}" ]] ;;
    start | restart) touch "${SANDBOX}/active/${unit}" ;;
    enable) [[ "$2" == "--now" ]] && touch "${SANDBOX}/active/${unit}"; true ;;
esac
EOF
    cat >"${bin}/curl" <<'EOF'
#!/usr/bin/env bash
echo "curl $*" >>"${SANDBOX}/calls.log"
out=/dev/stdout
args=("$@")
for i in "${!args[@]}"; do [[ "${args[i]}" == -o ]] && out="${args[i + 1]}"; done
case "${*: -1}" in
    */latest/api/token) echo "imds-token" ;;
    */meta-data/placement/region) echo "eu-west-3" ;;
    https://truststore.pki.rds.amazonaws.com/*-bundle.pem)
        [[ -e "${SANDBOX}/offline" ]] && exit 6
        printf -- '-----BEGIN CERTIFICATE-----\nMIIB(%s)\n-----END CERTIFICATE-----\n' "${*: -1}" >"${out}" ;;
    *) exit 22 ;;
esac
EOF
    cat >"${bin}/aws" <<'EOF'
#!/usr/bin/env bash
echo "aws $*" >>"${SANDBOX}/calls.log"
if [[ "$1 $2" == "ssm get-parameter" ]]; then
    shift 2
    while [[ "$#" -gt 0 ]]; do
        [[ "$1" == "--name" ]] && name="$2"
        shift
    done
    file="${SANDBOX}/ssm/${name//\//_}"
    [[ -f "${file}" ]] && { cat "${file}"; exit 0; }
    echo "An error occurred (ParameterNotFound) when calling the GetParameter operation" >&2
    exit 254
fi
if [[ "$1 $2" == "s3 cp" ]]; then
    shift 2
    args=()
    for arg in "$@"; do [[ "${arg}" == --* ]] || args+=("${arg}"); done
    object="${SANDBOX}/s3/${args[0]#s3://}"
    [[ -f "${object}" ]] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation" >&2; exit 1; }
    cp "${object}" "${args[1]}"
    exit 0
fi
echo "aws stub: unexpected call" >&2
exit 2
EOF
    cat >"${bin}/cargo" <<'EOF'
#!/usr/bin/env bash
# Stands in for the release build: writes small executables where cargo would.
echo "cargo $*" >>"${SANDBOX}/calls.log"
mkdir -p "${CARGO_TARGET_DIR}/release"
for bin in skillreel-web skillreel-worker; do
    printf '#!/bin/sh\necho %s\n' "${bin}" >"${CARGO_TARGET_DIR}/release/${bin}"
    chmod +x "${CARGO_TARGET_DIR}/release/${bin}"
done
EOF
    chmod +x "${bin}"/*
}

# new_sandbox <name>: a fresh sandbox; sets SANDBOX.
new_sandbox() {
    SANDBOX="${WORK}/$1"
    mkdir -p "${SANDBOX}/root" "${SANDBOX}/active" "${SANDBOX}/ssm" "${SANDBOX}/s3/artifacts/releases"
    : >"${SANDBOX}/calls.log"
    write_stubs "${SANDBOX}/bin"
}

# run_script <script> [VAR=value...]: runs a user_data script in SANDBOX with a clean
# environment, so nothing from this machine (AWS_REGION...) leaks in.
run_script() {
    local script="$1"
    shift
    env -i HOME="${SANDBOX}" PATH="${SANDBOX}/bin:/usr/bin:/bin:/usr/sbin:/sbin" \
        SANDBOX="${SANDBOX}" ROOT="${SANDBOX}/root" \
        ARTIFACT_URI="s3://artifacts/releases/${RELEASE_NAME}.tar.gz" "$@" \
        bash "${USER_DATA}/${script}" >"${SANDBOX}/out.log" 2>&1
}

# A listing of every file, link and directory under the sandbox root with its mode and
# content hash: equal manifests mean the runs produced the same files.
manifest() {
    (cd "${SANDBOX}/root" && find . -printf '%y %m %p %l\n' | sort &&
        find . -type f -exec sha256sum {} + | sort -k2)
}

count() { grep -c -- "$1" "${SANDBOX}/calls.log" || true; }
has_call() { grep -q -- "$1" "${SANDBOX}/calls.log"; }
lacks_call() { ! grep -q -- "$1" "${SANDBOX}/calls.log"; }
fails() { ! "$@"; }

# has_lines <file> <line...>: the file has every line, exactly.
has_lines() {
    local file="$1" line
    shift
    for line in "$@"; do
        grep -qx -- "${line}" "${file}" || return 1
    done
}

# call_order <first> <second>: a call matching <first> precedes one matching <second>.
call_order() {
    local a b
    a="$(grep -n -- "$1" "${SANDBOX}/calls.log" | head -1 | cut -d: -f1)"
    b="$(grep -n -- "$2" "${SANDBOX}/calls.log" | tail -1 | cut -d: -f1)"
    [[ -n "${a}" && -n "${b}" && "${a}" -lt "${b}" ]]
}

# tarball_has <tarball> <path...>: the archive lists every path.
tarball_has() {
    local listing path
    listing="$(tar -tzf "$1")"
    shift
    for path in "$@"; do
        grep -qx -- "${path}" <<<"${listing}" || return 1
    done
}

# ---------------------------------------------------------------- shell hygiene
check "shellcheck: user_data, its tests, release.sh" \
    shellcheck "${USER_DATA}"/*.sh "${HERE}"/*.sh "${REPO}/scripts/release.sh"
check "web.sh and worker.sh share the same common part" \
    cmp -s <(sed -n '/^# ---- common part/,$p' "${USER_DATA}/web.sh") \
    <(sed -n '/^# ---- common part/,$p' "${USER_DATA}/worker.sh")

# ---------------------------------------------------------------- release.sh
new_sandbox release
release_out="$(env SANDBOX="${SANDBOX}" PATH="${SANDBOX}/bin:${PATH}" CARGO_TARGET_DIR="${SANDBOX}/target" \
    DIST_DIR="${SANDBOX}/dist" VERSION=0.1.0 bash "${REPO}/scripts/release.sh" 2>/dev/null)"
RELEASE_NAME="skillreel-0.1.0-$(uname -m)-linux"
TARBALL="${SANDBOX}/dist/${RELEASE_NAME}.tar.gz"
check "release.sh builds both binaries in release mode" \
    has_call "cargo build --release --locked -p skillreel-web -p skillreel-worker"
check "release.sh prints the tarball path and its sha256" \
    test "${release_out}" = "${TARBALL}
sha256 $(sha256sum "${TARBALL}" | cut -d' ' -f1)"
migration="$(cd "${REPO}" && find migrations -name '*.sql' | sort | head -1)"
check "the tarball holds binaries, migrations, units and docs" \
    tarball_has "${TARBALL}" "${RELEASE_NAME}/bin/skillreel-web" "${RELEASE_NAME}/bin/skillreel-worker" \
    "${RELEASE_NAME}/${migration}" "${RELEASE_NAME}/systemd/skillreel-web.service" \
    "${RELEASE_NAME}/systemd/skillreel-worker.service" "${RELEASE_NAME}/DEPLOYMENT.md"
check "the tarball's VERSION is the release version" \
    test "$(tar -xOzf "${TARBALL}" "${RELEASE_NAME}/VERSION")" = 0.1.0
(cd "${SANDBOX}/dist" && sha256sum --check --status "${RELEASE_NAME}.tar.gz.sha256") &&
    sums_ok=true || sums_ok=false
check "release.sh writes a .sha256 file that verifies" "${sums_ok}"
SHA256="$(sha256sum "${TARBALL}" | cut -d' ' -f1)"

# A second release, and a tarball that is not a release, for the upgrade and failure cases.
mkdir -p "${WORK}/v2/skillreel-0.2.0/bin" "${WORK}/bogus/x"
tar -xzf "${TARBALL}" -C "${WORK}/v2/skillreel-0.2.0" --strip-components=1
echo 0.2.0 >"${WORK}/v2/skillreel-0.2.0/VERSION"
tar -czf "${WORK}/v2.tar.gz" -C "${WORK}/v2" skillreel-0.2.0
echo hello >"${WORK}/bogus/x/README"
tar -czf "${WORK}/bogus.tar.gz" -C "${WORK}/bogus" x

stage_artifacts() {
    cp "${TARBALL}" "${SANDBOX}/s3/artifacts/releases/"
    cp "${WORK}/v2.tar.gz" "${SANDBOX}/s3/artifacts/releases/skillreel-0.2.0.tar.gz"
    cp "${WORK}/bogus.tar.gz" "${SANDBOX}/s3/artifacts/releases/bogus.tar.gz"
}

# ---------------------------------------------------------------- web.sh
new_sandbox web
stage_artifacts
check "web.sh: first run succeeds" run_script web.sh ARTIFACT_SHA256="${SHA256}"
R="${SANDBOX}/root"
check "web.sh: installs the unit exactly as user_data/systemd/skillreel-web.service" \
    cmp -s "${R}/etc/systemd/system/skillreel-web.service" "${USER_DATA}/systemd/skillreel-web.service"
check "web.sh: binary installed under /opt/skillreel/current" \
    test -x "${R}/opt/skillreel/current/bin/skillreel-web"
check "web.sh: current points at the release" \
    test "$(readlink "${R}/opt/skillreel/current")" = "releases/0.1.0"
check "web.sh: release files are not group/world writable" \
    test -z "$(find "${R}/opt/skillreel/releases" -perm /022 ! -type l)"
check "web.sh: installs ca-certificates" has_call "apt-get install .*ca-certificates"
check "web.sh: installs ffmpeg (ffprobe validates uploads)" has_call "apt-get install .*ffmpeg"
check "web.sh: the aws CLI already present is not reinstalled" lacks_call "awscli"
check "web.sh: creates the system user skillreel once" \
    test "$(count "useradd --system .* skillreel")" = 1
check "web.sh: region from instance metadata (IMDSv2)" \
    grep -qx "AWS_REGION=eu-west-3" "${R}/etc/skillreel/skillreel.env"
check "web.sh: env file names the config sources" \
    has_lines "${R}/etc/skillreel/skillreel.env" AWS_SSM_PREFIX=/skillreel/ \
    AWS_DB_SECRET_ID=skillreel/database AWS_JWT_SECRET_ID=skillreel/jwt
check "web.sh: installs the RDS CA bundle of the region" \
    grep -q "truststore.pki.rds.amazonaws.com/eu-west-3/eu-west-3-bundle.pem" "${R}/etc/skillreel/rds-ca.pem"
check "web.sh: the services verify the database against it" \
    has_lines "${R}/etc/skillreel/skillreel.env" DATABASE_SSLROOTCERT=/etc/skillreel/rds-ca.pem
check "web.sh: downloads ARTIFACT_URI (no SSM override)" \
    has_call "aws s3 cp --only-show-errors s3://artifacts/releases/${RELEASE_NAME}.tar.gz"
check "web.sh: asks SSM for /skillreel/artifact_uri" has_call "aws ssm get-parameter --name /skillreel/artifact_uri"
check "web.sh: daemon-reload then enable --now" \
    call_order "systemctl daemon-reload" "systemctl enable --now skillreel-web.service"
first="$(manifest)"
check "web.sh: second run succeeds" run_script web.sh
check "web.sh: second run leaves the same files" test "$(manifest)" = "${first}"
check "web.sh: second run creates no second user" test "$(count "useradd ")" = 1
check "web.sh: second run does not restart an unchanged service" lacks_call "systemctl restart"
touch "${SANDBOX}/offline"
check "web.sh: the trust store unreachable, a run keeps the bundle it has" run_script web.sh
check "web.sh: ...and changes nothing" test "$(manifest)" = "${first}"
rm "${SANDBOX}/offline"

echo "s3://artifacts/releases/skillreel-0.2.0.tar.gz" >"${SANDBOX}/ssm/_skillreel_artifact_uri"
check "web.sh: upgrade through the SSM parameter succeeds" run_script web.sh
check "web.sh: SSM artifact_uri wins over ARTIFACT_URI" \
    has_call "aws s3 cp --only-show-errors s3://artifacts/releases/skillreel-0.2.0.tar.gz"
check "web.sh: upgrade switches current" test "$(readlink "${R}/opt/skillreel/current")" = "releases/0.2.0"
check "web.sh: upgrade restarts the running service" has_call "systemctl restart skillreel-web.service"
check "web.sh: the previous release stays for a rollback" test -x "${R}/opt/skillreel/releases/0.1.0/bin/skillreel-web"

# ---------------------------------------------------------------- failures
new_sandbox failures
stage_artifacts
check "missing artifact: the script fails" fails run_script web.sh ARTIFACT_URI=s3://artifacts/nope.tar.gz
check "missing artifact: nothing installed" test ! -e "${SANDBOX}/root/etc/systemd/system/skillreel-web.service"
check "missing artifact: no service started" lacks_call "systemctl enable"
check "wrong checksum: the script fails" fails run_script web.sh ARTIFACT_SHA256="$(printf '0%.0s' {1..64})"
check "wrong checksum: no release installed" test ! -e "${SANDBOX}/root/opt/skillreel/current"
check "not a release: the script fails" fails run_script worker.sh \
    ARTIFACT_URI=s3://artifacts/releases/bogus.tar.gz
check "not a release: says why" grep -q "is not a skillreel release" "${SANDBOX}/out.log"
check "not a release: no release installed" test ! -e "${SANDBOX}/root/opt/skillreel/current"
touch "${SANDBOX}/offline"
check "no RDS CA bundle and the trust store unreachable: the script fails" fails run_script web.sh
check "no RDS CA bundle: says how to fix it" grep -q "RDS_CA_URL" "${SANDBOX}/out.log"
check "no RDS CA bundle: no service started" lacks_call "systemctl enable"
rm "${SANDBOX}/offline"

# ---------------------------------------------------------------- worker.sh
new_sandbox worker
stage_artifacts
check "worker.sh: first run succeeds" run_script worker.sh AWS_REGION=us-east-2
R="${SANDBOX}/root"
WUNIT="${R}/etc/systemd/system/skillreel-worker.service"
check "worker.sh: installs the unit exactly as user_data/systemd/skillreel-worker.service" \
    cmp -s "${WUNIT}" "${USER_DATA}/systemd/skillreel-worker.service"
check "worker.sh: installs ffmpeg" grep -q "apt-get install .*ffmpeg" "${SANDBOX}/calls.log"
check "worker.sh: binary installed" test -x "${R}/opt/skillreel/current/bin/skillreel-worker"
check "worker.sh: AWS_REGION given is used" has_lines "${R}/etc/skillreel/skillreel.env" AWS_REGION=us-east-2
check "worker.sh: AWS_REGION given, metadata not asked" lacks_call "^curl.*169\.254\.169\.254"
check "worker.sh: the RDS CA bundle of the given region" \
    grep -q "us-east-2/us-east-2-bundle.pem" "${R}/etc/skillreel/rds-ca.pem"
check "worker.sh: enable --now" has_call "systemctl enable --now skillreel-worker.service"
stop_secs="$(sed -n 's/^TimeoutStopSec=//p' "${WUNIT}")"
check "worker unit: TimeoutStopSec (${stop_secs}) outlasts JOB_TIMEOUT_SECS + SHUTDOWN_GRACE_SECS (900 + 60)" \
    test "${stop_secs:-0}" -ge 960
check "worker unit: drains on SIGTERM sent to the worker only" \
    has_lines "${WUNIT}" KillSignal=SIGTERM KillMode=mixed
first="$(manifest)"
check "worker.sh: second run succeeds" run_script worker.sh AWS_REGION=us-east-2
check "worker.sh: second run leaves the same files" test "$(manifest)" = "${first}"
check "worker.sh: second run creates no second user" test "$(count "useradd ")" = 1

# ---------------------------------------------------------------- both units
for unit in "${USER_DATA}"/systemd/*.service; do
    u="$(basename "${unit}")"
    for line in User=skillreel Group=skillreel Environment=CONFIG_SOURCE=aws Restart=always StartLimitIntervalSec=0 \
        NoNewPrivileges=true ProtectSystem=strict PrivateTmp=true CapabilityBoundingSet= \
        WantedBy=multi-user.target; do
        check "${u}: ${line}" has_lines "${unit}" "${line}"
    done
done

# unit_verifies <unit>: systemd parses every line (ExecStart swapped for /bin/true, as the
# release binary does not exist on this machine); any complaint fails.
unit_verifies() {
    local copy complaints
    copy="${WORK}/verify/$(basename "$1")"
    mkdir -p "${WORK}/verify"
    sed 's#^ExecStart=.*#ExecStart=/bin/true#' "$1" >"${copy}"
    complaints="$(systemd-analyze verify --man=no "${copy}" 2>&1)" || return 1
    [[ -z "${complaints}" ]] || { echo "${complaints}" >&2; return 1; }
}

for unit in "${USER_DATA}"/systemd/*.service; do
    if command -v systemd-analyze >/dev/null 2>&1; then
        check "$(basename "${unit}"): systemd-analyze verify finds nothing to complain about" unit_verifies "${unit}"
    else
        echo "skip - $(basename "${unit}"): systemd-analyze not installed"
    fi
done

# Secret-looking values: credentials, keys, passwords or a URL with a password.
secret_pattern='(AKIA|ASIA)[A-Z0-9]{16}|aws_secret_access_key|BEGIN [A-Z ]*PRIVATE KEY|(PASSWORD|JWT_SECRET|DATABASE_URL|REDIS_URL)=|://[^/:@ ]+:[^/@ ]+@'
check "the secret pattern catches a planted secret" \
    grep -Eiq -- "${secret_pattern}" <<<"DATABASE_URL=postgres://app:hunter2@db/skillreel"
check "no secret-looking values in the scripts, units or written files" \
    fails grep -rEiq -- "${secret_pattern}" "${USER_DATA}"/*.sh "${USER_DATA}/systemd" \
    "${WORK}/web/root/etc" "${WORK}/worker/root/etc"

# ---------------------------------------------------------------- IAM policies
check "docs/iam: every policy is valid JSON with least-privilege S3 access" \
    python3 "${HERE}/check_iam.py" "${REPO}/docs/iam"

echo "user_data: ${passed} passed, ${failed} failed"
[[ "${failed}" -eq 0 ]]
