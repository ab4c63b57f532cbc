#!/usr/bin/env bash
# Ensures a moto S3 emulator answers on 127.0.0.1:${MOTO_PORT:-5055} and prints
# its endpoint. Idempotent: installs moto only when missing or too old, starts
# the server only when no usable one answers on the port, works from any directory.
#
# Clients then use:
#   AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_ACCESS_KEY_ID=test \
#   AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
set -euo pipefail

host=127.0.0.1
port="${MOTO_PORT:-5055}"
endpoint="http://${host}:${port}"
state_dir="${TMPDIR:-/tmp}"
log_file="${state_dir}/skillreel-moto.log"
# One pid file per port: servers on other ports are never mistaken for ours.
pid_file="${state_dir}/skillreel-moto-${port}.pid"
# moto before 5.2.5 names the CompleteMultipartUpload reply
# <CompleteMultipartUploadResponse>, which aws-sdk-s3 (Rust) refuses to parse,
# so every multipart upload fails against it.
min_version=5.2.5

# moto's own management API answers only on a moto server, so a foreign
# process on the port is not mistaken for the emulator.
is_moto_up() {
    curl -fsS -o /dev/null --max-time 2 "${endpoint}/moto-api/config" 2>/dev/null
}

port_taken() {
    curl -sS -o /dev/null --max-time 2 "${endpoint}/" 2>/dev/null
}

installed_ok() {
    python3 - "${min_version}" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
import moto.server  # noqa: F401  (the [server] extra is importable)
def parts(v):
    return tuple(int("".join(c for c in p if c.isdigit()) or 0) for p in v.split(".")[:3])
sys.exit(0 if parts(version("moto")) >= parts(sys.argv[1]) else 1)
EOF
}

# A running server may predate an upgrade: check the reply that older versions
# got wrong, with one throwaway multipart upload (moto does not check signatures).
multipart_ok() {
    local bucket="moto-sh-probe-$$-${RANDOM}" upload etag body
    curl -fsS -X PUT "${endpoint}/${bucket}" -o /dev/null 2>/dev/null || return 1
    upload=$(curl -fsS -X POST "${endpoint}/${bucket}/probe?uploads" 2>/dev/null | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
    etag=$(curl -fsS -X PUT -H "Content-Type: application/octet-stream" --data-binary x -D - -o /dev/null \
        "${endpoint}/${bucket}/probe?partNumber=1&uploadId=${upload}" 2>/dev/null | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
    body=$(curl -fsS -X POST -H "Content-Type: application/xml" "${endpoint}/${bucket}/probe?uploadId=${upload}" --data-binary \
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>" \
        2>/dev/null) || true
    curl -fsS -X DELETE "${endpoint}/${bucket}/probe" -o /dev/null 2>/dev/null || true
    curl -fsS -X DELETE "${endpoint}/${bucket}" -o /dev/null 2>/dev/null || true
    [[ "${body}" == *"<CompleteMultipartUploadResult"* ]]
}

our_server_pid() {
    local pid
    pid=$(cat "${pid_file}" 2>/dev/null) || return 1
    # A stale pid file may name a recycled pid: only a moto server counts.
    tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q "moto.server -H ${host} -p ${port}" || return 1
    echo "${pid}"
}

if ! installed_ok; then
    echo "moto.sh: installing moto[server]>=${min_version}" >&2
    python3 -m pip install -q --upgrade "moto[server]>=${min_version}"
fi

if is_moto_up; then
    if multipart_ok; then
        echo "${endpoint}"
        exit 0
    fi
    if pid=$(our_server_pid); then
        echo "moto.sh: restarting the outdated moto server (pid ${pid}) this script started" >&2
        kill "${pid}"
        for _ in $(seq 1 20); do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.25
        done
    else
        echo "moto.sh: the moto server on ${endpoint} answers CompleteMultipartUpload in a form" \
            "aws-sdk-s3 rejects (moto < ${min_version}, or started before an upgrade);" \
            "stop it (this script did not start it) and rerun" >&2
        exit 1
    fi
elif port_taken; then
    echo "moto.sh: something that is not moto answers on ${endpoint}; set MOTO_PORT to a free port" >&2
    exit 1
fi

# setsid detaches the server from this shell's process group and terminal, so it
# outlives the caller (a test runner, a CI step).
setsid nohup python3 -m moto.server -H "${host}" -p "${port}" >>"${log_file}" 2>&1 </dev/null &
server_pid=$!
echo "${server_pid}" >"${pid_file}"

for _ in $(seq 1 60); do
    # Our process must be alive too: an answer could come from a foreign server
    # that took the port first, which makes ours exit on "address in use".
    if ! kill -0 "${server_pid}" 2>/dev/null; then
        echo "moto.sh: moto_server exited during start-up; last lines of ${log_file}:" >&2
        tail -n 20 "${log_file}" >&2
        exit 1
    fi
    if is_moto_up && multipart_ok; then
        echo "${endpoint}"
        exit 0
    fi
    sleep 0.5
done

echo "moto.sh: moto_server did not answer on ${endpoint} within 30 s; see ${log_file}" >&2
exit 1
