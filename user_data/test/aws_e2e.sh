#!/usr/bin/env bash
# End-to-end check of CONFIG_SOURCE=aws with the real web binary: creates the secrets,
# SSM parameters and S3 bucket in a running moto with boto3, starts $WEB_BIN configured
# only through them, and checks that it serves. The database and Redis are servers of
# its own that speak only TLS, like RDS with rds.force_ssl=1 and ElastiCache with
# in-transit encryption and an AUTH token, with certificates from a CA it makes: the
# web must verify them (verify-full, rediss://), refuse plaintext settings, and refuse
# servers whose certificates another CA issued. Needs the PostgreSQL server binaries
# (/usr/lib/postgresql/*/bin), redis-server, openssl, psql and createdb, run as root.
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

# ---------------------------------------------------------------- TLS servers
PG_BIN="$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' | sort -V | tail -1 | xargs dirname)"
PG_PORT="$(free_port)"
REDIS_PORT="$(free_port)"
REDIS_TOKEN="auth-${RUN_ID}"
pg_pid=""
redis_pid=""

# make_ca <name>: a CA in ${WORK}/<name>-ca.{pem,key}.
make_ca() {
    openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -subj "/CN=$1 test CA" -keyout "${WORK}/$1-ca.key" -out "${WORK}/$1-ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

# issue <ca> <name>: a server certificate for localhost/127.0.0.1 in ${WORK}/<name>.{pem,key}.
issue() {
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"${WORK}/$2.ext"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=localhost \
        -keyout "${WORK}/$2.key" -out "${WORK}/$2.csr" 2>/dev/null
    openssl x509 -req -in "${WORK}/$2.csr" -CA "${WORK}/$1-ca.pem" -CAkey "${WORK}/$1-ca.key" \
        -CAcreateserial -days 2 -extfile "${WORK}/$2.ext" -out "${WORK}/$2.pem" 2>/dev/null
}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

start_tls_postgres() {
    local data="${WORK}/pg"
    # The postgres user must reach its data directory: traverse, not list.
    chmod 711 "${WORK}"
    mkdir -p "${data}"
    chown postgres:postgres "${data}"
    as_postgres "${PG_BIN}/initdb" --auth=trust --username=postgres --no-sync -D "${data}/data" >/dev/null
    cp "${WORK}/pg-server.pem" "${WORK}/pg-server.key" "${data}/data/"
    chown postgres:postgres "${data}/data/pg-server.pem" "${data}/data/pg-server.key"
    chmod 600 "${data}/data/pg-server.key"
    printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n' >"${data}/data/pg_hba.conf"
    as_postgres "${PG_BIN}/postgres" -D "${data}/data" -p "${PG_PORT}" -c listen_addresses=127.0.0.1 \
        -c fsync=off -c "unix_socket_directories=${data}/data" -c ssl=on \
        -c ssl_cert_file=pg-server.pem -c ssl_key_file=pg-server.key >"${WORK}/pg.log" 2>&1 &
    pg_pid=$!
    local _
    for _ in $(seq 1 100); do
        "${PG_BIN}/pg_isready" -q -h 127.0.0.1 -p "${PG_PORT}" && return 0
        sleep 0.2
    done
    echo "aws_e2e: the TLS PostgreSQL did not start" >&2
    cat "${WORK}/pg.log" >&2
    return 1
}

start_tls_redis() {
    redis-server --port 0 --tls-port "${REDIS_PORT}" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "${WORK}" --tls-cert-file "${WORK}/redis-server.pem" --tls-key-file "${WORK}/redis-server.key" \
        --tls-ca-cert-file "${WORK}/ours-ca.pem" --tls-auth-clients no --requirepass "${REDIS_TOKEN}" \
        >"${WORK}/redis.log" 2>&1 &
    redis_pid=$!
    local _
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/${REDIS_PORT}") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "aws_e2e: the TLS Redis did not start" >&2
    return 1
}

# boto3 against moto: `aws_fixture create` or `aws_fixture delete`.
aws_fixture() {
    DB_PASSWORD="${DB_PASSWORD}" JWT_VALUE="${JWT_VALUE}" \
        REDIS_URL_VALUE="rediss://:${REDIS_TOKEN}@127.0.0.1:${REDIS_PORT}" python3 - "$1" "${PREFIX}" \
        "${DB_SECRET}" "${JWT_SECRET_ID}" "${BUCKET}" "${DB_NAME}" "${PORT}" "${RUN_ID}" "${PG_PORT}" <<'PY'
import json, os, sys
import boto3

action, prefix, db_secret, jwt_secret, bucket, db_name, port, run_id, pg_port = sys.argv[1:]
secrets = boto3.client("secretsmanager")
ssm = boto3.client("ssm")
s3 = boto3.client("s3")
parameters = {
    "redis_url": ("SecureString", os.environ["REDIS_URL_VALUE"]),
    "s3_bucket": ("String", bucket),
    "redis_prefix": ("String", f"skillreel-{run_id}"),
    "http/port": ("String", port),
    "http/host": ("String", "127.0.0.1"),
}
if action == "create":
    database = {"username": "postgres", "password": os.environ["DB_PASSWORD"], "host": "127.0.0.1",
                "port": int(pg_port), "dbname": db_name, "engine": "postgres"}
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
    for pid in "${pg_pid}" "${redis_pid}"; do
        [[ -n "${pid}" ]] && { kill "${pid}" 2>/dev/null || true; wait "${pid}" 2>/dev/null || true; }
    done
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

make_ca ours
make_ca rogue
issue ours pg-server
issue ours redis-server
issue rogue rogue-server
start_tls_postgres
start_tls_redis
createdb -h 127.0.0.1 -p "${PG_PORT}" -U postgres "${DB_NAME}"
aws_fixture create
# What user_data gives every instance: the CA bundle of the database (RDS'), and here
# the CA of the test's Redis too (ElastiCache's is public, in the system's roots).
TRUST=(DATABASE_SSLROOTCERT="${WORK}/ours-ca.pem" REDIS_CA_FILE="${WORK}/ours-ca.pem")

# refuses <name> <pattern> [VAR=value...]: start-up with these settings exits with an
# error whose text matches <pattern>.
refuses() {
    local name="$1" pattern="$2" exit_code=0
    shift 2
    start_web "${WORK}/${name}.log" "$@"
    wait "${web_pid}" || exit_code=$?
    [[ "${exit_code}" -ne 0 ]] && grep -Eq -- "${pattern}" "${WORK}/${name}.log"
}

check "missing secret: the web exits, naming the secret" \
    refuses missing "skillreel-${RUN_ID}/absent" "${TRUST[@]}" AWS_DB_SECRET_ID="skillreel-${RUN_ID}/absent"
check "DATABASE_SSLMODE=prefer (may be plaintext): refused, naming the variable and the opt-out" \
    refuses prefer "DATABASE_SSLMODE.*ALLOW_PLAINTEXT_BACKENDS" "${TRUST[@]}" DATABASE_SSLMODE=prefer
check "a database certificate from another CA: refused" \
    refuses db-rogue "connecting to PostgreSQL" DATABASE_SSLROOTCERT="${WORK}/rogue-ca.pem" \
    REDIS_CA_FILE="${WORK}/ours-ca.pem"
check "a Redis certificate from another CA: refused" \
    refuses redis-rogue "connecting to Redis" DATABASE_SSLROOTCERT="${WORK}/ours-ca.pem" \
    REDIS_CA_FILE="${WORK}/rogue-ca.pem"
check "no CA for the database (the public roots do not know it): refused" \
    refuses db-public "connecting to PostgreSQL" REDIS_CA_FILE="${WORK}/ours-ca.pem"

start_web "${WORK}/web.log" "${TRUST[@]}"
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
    test "$(psql -h 127.0.0.1 -p "${PG_PORT}" -U postgres -d "${DB_NAME}" -tAc 'SELECT count(*) > 0 FROM _sqlx_migrations')" = t
check "the web's database connections are TLS (pg_stat_ssl)" \
    test "$(psql -h 127.0.0.1 -p "${PG_PORT}" -U postgres -d "${DB_NAME}" -tAc \
        "SELECT count(*) > 0 AND bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = '${DB_NAME}' AND a.pid <> pg_backend_pid()")" = t
for value in "${DB_PASSWORD}" "${JWT_VALUE}"; do
    check "the logs do not contain a secret value (${#value} characters)" log_lacks "${WORK}/web.log" "${value}"
done
kill "${web_pid}"
exit_code=0
wait "${web_pid}" || exit_code=$?
check "SIGTERM stops the web cleanly" test "${exit_code}" -eq 0

echo "aws_e2e: ${passed} passed, ${failed} failed"
[[ "${failed}" -eq 0 ]]
