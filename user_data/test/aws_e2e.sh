#!/usr/bin/env bash
# End-to-end check of CONFIG_SOURCE=aws with the real web binary: creates the secrets,
# SSM parameters and S3 bucket in a running moto with boto3, starts $WEB_BIN configured
# only through them, and checks that it serves. Needs PostgreSQL on 127.0.0.1:5432
# (user postgres, psql/createdb on PATH) and Redis on 127.0.0.1:6379.
#
#   WEB_BIN=target/debug/skillreel-web AWS_ENDPOINT_URL=http://127.0.0.1:5055 \
#       user_data/test/aws_e2e.sh        # last line: aws_e2e: N passed, 0 failed
#
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION default to test/test/us-east-1.
set -euo pipefail
shopt -s inherit_errexit

: "${WEB_BIN:?set WEB_BIN to the skillreel-web binary}"
: "${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL to a running moto (scripts/moto.sh)}"
export AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
# boto3 reads the region from AWS_DEFAULT_REGION.
export AWS_DEFAULT_REGION="${AWS_REGION}"
if [[ ! -x "${WEB_BIN}" ]]; then
    echo "aws_e2e: WEB_BIN=${WEB_BIN} is not an executable (build it: cargo build -p skillreel-web)" >&2
    exit 1
fi
WEB_BIN="$(realpath "${WEB_BIN}")"

RUN_ID="e2e$(date +%s)$$"
WORK="$(mktemp -d)"
PREFIX="/skillreel-${RUN_ID}/"
DB_SECRET="skillreel-${RUN_ID}/database"
JWT_SECRET_ID="skillreel-${RUN_ID}/jwt"
BUCKET="skillreel-${RUN_ID}"
DB_NAME="skillreel_${RUN_ID}"
# Values that must reach the service and never its logs.
DB_PASSWORD="pw-${RUN_ID}-p@ss/word"
JWT_VALUE="jwt-${RUN_ID}-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
METRICS_PORT="$(free_port)"
web_pid=""

passed=0
failed=0
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

# boto3 against moto: `aws_fixture create` or `aws_fixture delete`.
aws_fixture() {
    DB_PASSWORD="${DB_PASSWORD}" JWT_VALUE="${JWT_VALUE}" python3 - "$1" "${PREFIX}" "${DB_SECRET}" \
        "${JWT_SECRET_ID}" "${BUCKET}" "${DB_NAME}" "${PORT}" "${RUN_ID}" <<'PY'
import json, os, sys
import boto3

action, prefix, db_secret, jwt_secret, bucket, db_name, port, run_id = sys.argv[1:]
secrets = boto3.client("secretsmanager")
ssm = boto3.client("ssm")
s3 = boto3.client("s3")
parameters = {
    "redis_url": ("SecureString", "redis://127.0.0.1:6379"),
    "s3_bucket": ("String", bucket),
    "redis_prefix": ("String", f"skillreel-{run_id}"),
    "http/port": ("String", port),
    "http/host": ("String", "127.0.0.1"),
}
if action == "create":
    database = {"username": "postgres", "password": os.environ["DB_PASSWORD"], "host": "127.0.0.1",
                "port": 5432, "dbname": db_name, "engine": "postgres"}
    secrets.create_secret(Name=db_secret, SecretString=json.dumps(database))
    secrets.create_secret(Name=jwt_secret, SecretString=json.dumps({"jwt_secret": os.environ["JWT_VALUE"]}))
    for name, (kind, value) in parameters.items():
        ssm.put_parameter(Name=prefix + name, Type=kind, Value=value)
    s3.create_bucket(Bucket=bucket)
else:
    for secret in (db_secret, jwt_secret):
        secrets.delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
    ssm.delete_parameters(Names=[prefix + name for name in parameters])
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)
PY
}

cleanup() {
    if [[ -n "${web_pid}" ]] && kill -0 "${web_pid}" 2>/dev/null; then
        kill "${web_pid}" 2>/dev/null || true
        wait "${web_pid}" 2>/dev/null || true
    fi
    aws_fixture delete >/dev/null 2>&1 || true
    dropdb -h 127.0.0.1 -U postgres --if-exists "${DB_NAME}" >/dev/null 2>&1 || true
    rm -rf "${WORK}"
}
trap cleanup EXIT

# start_web <log> [VAR=value...]: the web binary configured only through AWS (plus the
# loader's own settings); its working directory is scratch so nothing lands in the repo.
start_web() {
    local log="$1"
    shift
    (cd "${WORK}" && exec env -u DATABASE_URL -u JWT_SECRET -u URL_SIGNING_KEY -u SKILLREEL_ENV \
        -u REDIS_URL -u S3_BUCKET -u PORT WEB_METRICS_ADDR="127.0.0.1:${METRICS_PORT}" \
        CONFIG_SOURCE=aws AWS_SSM_PREFIX="${PREFIX}" AWS_DB_SECRET_ID="${DB_SECRET}" \
        AWS_JWT_SECRET_ID="${JWT_SECRET_ID}" TEMP_DIR="${WORK}" "$@" "${WEB_BIN}" >"${log}" 2>&1) &
    web_pid=$!
}

# status <path>: the HTTP status code of GET <path> on the web service.
status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${PORT}$1" || true
}

wait_ready() {
    local _
    for _ in $(seq 1 120); do
        [[ "$(status /health/ready)" == 200 ]] && return 0
        kill -0 "${web_pid}" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

body_contains() { curl -fsS --max-time 5 "http://127.0.0.1:${PORT}$1" | grep -q -- "$2"; }
log_lacks() { ! grep -qF -- "$2" "$1"; }

createdb -h 127.0.0.1 -U postgres "${DB_NAME}"
aws_fixture create

# A missing secret stops start-up with its name.
start_web "${WORK}/missing.log" AWS_DB_SECRET_ID="skillreel-${RUN_ID}/absent"
exit_code=0
wait "${web_pid}" || exit_code=$?
check "missing secret: the web exits with an error" test "${exit_code}" -ne 0
check "missing secret: the error names the secret" grep -q "skillreel-${RUN_ID}/absent" "${WORK}/missing.log"

start_web "${WORK}/web.log"
if ! check "web becomes ready on the port given only in SSM (${PORT})" wait_ready; then
    tail -n 30 "${WORK}/web.log" >&2
fi
check "GET /health/ready answers 200 (Postgres from the secret, Redis and S3 from SSM)" \
    test "$(status /health/ready)" = 200
check "GET / contains Healthcheck" body_contains / Healthcheck
check "GET /metrics is 404 on the public port" test "$(status /metrics)" = 404
check "GET /metrics is served on the private listener (WEB_METRICS_ADDR)" \
    sh -c "curl -fsS --max-time 5 http://127.0.0.1:${METRICS_PORT}/metrics | grep -q skillreel_http_requests_total"
check "migrations ran in the database named by the secret" \
    test "$(psql -h 127.0.0.1 -U postgres -d "${DB_NAME}" -tAc 'SELECT count(*) > 0 FROM _sqlx_migrations')" = t
for value in "${DB_PASSWORD}" "${JWT_VALUE}"; do
    check "the logs do not contain a secret value (${#value} characters)" log_lacks "${WORK}/web.log" "${value}"
done
kill "${web_pid}"
exit_code=0
wait "${web_pid}" || exit_code=$?
check "SIGTERM stops the web cleanly" test "${exit_code}" -eq 0

echo "aws_e2e: ${passed} passed, ${failed} failed"
[[ "${failed}" -eq 0 ]]
