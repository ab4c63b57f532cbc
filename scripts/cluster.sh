#!/usr/bin/env bash
# A production-shaped skillreel on one machine: nginx terminating TLS on
# https://127.0.0.1:8443 in front of two web instances, plus two workers, all sharing
# one PostgreSQL database, one Redis prefix and one S3 bucket (the moto emulator).
#
#   scripts/cluster.sh up       start whatever is not running (idempotent; builds the
#                               debug binaries when they are missing)
#   scripts/cluster.sh status   what runs, with health; exit 3 when a member is down
#   scripts/cluster.sh down     stop everything `up` started (idempotent)
#
# Works from any directory. Everything lives under $CLUSTER_DIR (default var/cluster/,
# git-ignored): the local CA and certificate (tls/), nginx's configuration, logs (log/),
# pid files (run/), temp directories, and .env, the services' settings (JWT secret
# included, mode 600). docs/OPERATIONS.md, "A local cluster", explains the set-up.
#
# Settings, read by `up` when nothing runs (later commands reuse what `up` saved in
# $CLUSTER_DIR/cluster.conf):
#   CLUSTER_HTTPS_PORT            nginx's TLS port [8443]
#   CLUSTER_WEB_PORTS             one port per web instance [18001,18002]
#   CLUSTER_WEB_METRICS_PORTS     their private /metrics ports [18101,18102]
#   CLUSTER_WORKER_METRICS_PORTS  one per worker: /metrics and /health [18201,18202]
#   CLUSTER_PROXY_ADDR            nginx's source address towards the web; the only
#                                 address whose X-Forwarded-For the web believes [127.0.0.2]
#   CLUSTER_DB                    PostgreSQL database [skillreel_cluster]
#   CLUSTER_REDIS_PREFIX          Redis key prefix of the whole cluster [skillreel-cluster]
#   CLUSTER_BUCKET                S3 bucket [skillreel-cluster]
#   MOTO_PORT                     the S3 emulator's port (scripts/moto.sh) [5055]
#   CLUSTER_BIN_DIR               where skillreel-web/-worker are [$CARGO_TARGET_DIR/debug]
#   CLUSTER_BUILD=1               run cargo build even when the binaries exist
# Service settings passed through from the environment to every instance when set
# (e.g. `BCRYPT_COST=4 FFMPEG_PRESET=ultrafast scripts/cluster.sh up`): BCRYPT_*,
# RATE_LIMIT*, HASHES_PER_CLIENT, FFMPEG_*, UPLOAD_*, WORKER_CONCURRENCY,
# WORKER_MAX_ATTEMPTS, WORKER_BACKOFF_SECS, WORKER_LEASE_SECS, RECONCILE_*, CACHE_*,
# SHUTDOWN_GRACE_SECS, JOB_TIMEOUT_SECS, MEDIA_MAX_SECS, JWT_TTL_SECS,
# DATABASE_MAX_CONNECTIONS, LOG_FORMAT, RUST_LOG. Nothing else of the caller's
# environment (nor the checkout's .env) reaches the services.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER_DIR="${CLUSTER_DIR:-$REPO_ROOT/var/cluster}"
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
CONF="$CLUSTER_DIR/cluster.conf"
RUN="$CLUSTER_DIR/run"
LOGS="$CLUSTER_DIR/log"
TLS="$CLUSTER_DIR/tls"
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
# nginx keeps idle connections to the web this long (its upstream `keepalive_timeout`);
# the web must keep them longer (HTTP_HEADER_READ_TIMEOUT_SECS), or a request nginx
# sends on a connection the web is closing at that moment fails with 502.
UPSTREAM_KEEPALIVE_SECS=60
WEB_HEADER_TIMEOUT_SECS=65

# Service settings a caller may pass through (see the header).
PASSTHROUGH='^(BCRYPT_[A-Z_]+|RATE_LIMITS?(_[A-Z_]+)?|HASHES_PER_CLIENT|FFMPEG_[A-Z_]+|UPLOAD_[A-Z_]+|WORKER_CONCURRENCY|WORKER_MAX_ATTEMPTS|WORKER_BACKOFF_SECS|WORKER_LEASE_SECS|RECONCILE_[A-Z_]+|CACHE_[A-Z_]+|SHUTDOWN_GRACE_SECS|JOB_TIMEOUT_SECS|MEDIA_MAX_SECS|JWT_TTL_SECS|DATABASE_MAX_CONNECTIONS|LOG_FORMAT|RUST_LOG|ADMIN_EMAILS)='

# ---------- settings ----------

list() { tr ',' ' ' <<<"$1"; }

load_conf() {
  if [ -f "$CONF" ]; then
    # shellcheck source=/dev/null
    source "$CONF"
  fi
  HTTPS_PORT="${HTTPS_PORT:-${CLUSTER_HTTPS_PORT:-8443}}"
  WEB_PORTS="${WEB_PORTS:-${CLUSTER_WEB_PORTS:-18001,18002}}"
  WEB_METRICS_PORTS="${WEB_METRICS_PORTS:-${CLUSTER_WEB_METRICS_PORTS:-18101,18102}}"
  WORKER_METRICS_PORTS="${WORKER_METRICS_PORTS:-${CLUSTER_WORKER_METRICS_PORTS:-18201,18202}}"
  PROXY_ADDR="${PROXY_ADDR:-${CLUSTER_PROXY_ADDR:-127.0.0.2}}"
  DB="${DB:-${CLUSTER_DB:-skillreel_cluster}}"
  PREFIX="${PREFIX:-${CLUSTER_REDIS_PREFIX:-skillreel-cluster}}"
  BUCKET="${BUCKET:-${CLUSTER_BUCKET:-skillreel-cluster}}"
  S3_PORT="${S3_PORT:-${MOTO_PORT:-5055}}"
  BIN_DIR="${BIN_DIR:-${CLUSTER_BIN_DIR:-$CARGO_TARGET_DIR/debug}}"
  read -r -a WEB_PORT_LIST <<<"$(list "$WEB_PORTS")"
  read -r -a WEB_METRICS_LIST <<<"$(list "$WEB_METRICS_PORTS")"
  read -r -a WORKER_METRICS_LIST <<<"$(list "$WORKER_METRICS_PORTS")"
  [ "${#WEB_PORT_LIST[@]}" = "${#WEB_METRICS_LIST[@]}" ] \
    || die "CLUSTER_WEB_PORTS and CLUSTER_WEB_METRICS_PORTS must list as many ports"
}

save_conf() {
  cat >"$CONF" <<EOF
# Written by scripts/cluster.sh up; read by status, down and the next up.
HTTPS_PORT=$HTTPS_PORT
WEB_PORTS=$WEB_PORTS
WEB_METRICS_PORTS=$WEB_METRICS_PORTS
WORKER_METRICS_PORTS=$WORKER_METRICS_PORTS
PROXY_ADDR=$PROXY_ADDR
DB=$DB
PREFIX=$PREFIX
BUCKET=$BUCKET
S3_PORT=$S3_PORT
BIN_DIR=$BIN_DIR
EOF
}

# The services' own settings: kept in $CLUSTER_DIR/.env, whose presence also stops the
# binaries' dotenv lookup from climbing to the checkout's .env.
write_service_env() {
  local env_file="$CLUSTER_DIR/.env" secret="" name
  local -A defaults=([LOG_FORMAT]=json [DATABASE_MAX_CONNECTIONS]=8 [SHUTDOWN_GRACE_SECS]=20)
  if [ -f "$env_file" ]; then
    secret="$(grep -E '^JWT_SECRET=' "$env_file" | cut -d= -f2- || true)"
  fi
  [ "${#secret}" -ge 64 ] || secret="$(random_secret)"
  local tmp="$env_file.tmp"
  (
    umask 077
    {
      echo "# Settings of every cluster member, written by scripts/cluster.sh up."
      echo "JWT_SECRET=$secret"
      echo "DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/$DB"
      echo "REDIS_URL=redis://127.0.0.1:6379"
      echo "REDIS_PREFIX=$PREFIX"
      echo "STORAGE_BACKEND=s3"
      echo "S3_BUCKET=$BUCKET"
      echo "AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT"
      echo "AWS_ACCESS_KEY_ID=test"
      echo "AWS_SECRET_ACCESS_KEY=test"
      echo "AWS_REGION=us-east-1"
      echo "MEDIA_ASSETS_DIR=$CLUSTER_DIR/assets"
      echo "HOST=127.0.0.1"
      echo "TRUSTED_PROXIES=$PROXY_ADDR/32"
      echo "HTTP_HEADER_READ_TIMEOUT_SECS=$WEB_HEADER_TIMEOUT_SECS"
      # Defaults of this cluster (JSON logs as in production, a pool sized for four
      # processes on one PostgreSQL, a short drain), overridable like the rest.
      for name in "${!defaults[@]}"; do echo "$name=${!name:-${defaults[$name]}}"; done | sort
      env | grep -E "$PASSTHROUGH" | grep -vE "^($(IFS='|'; echo "${!defaults[*]}"))=" | sort || true
    } >"$tmp"
  )
  grep -q $'[ \t\'"]' <(grep -v '^#' "$tmp") && die "a passed-through setting holds a space or a quote: not supported"
  mv "$tmp" "$env_file"
}

service_env() { grep -E '^[A-Z_][A-Z0-9_]*=' "$CLUSTER_DIR/.env"; }
env_value() { { service_env | grep -E "^$1=" || true; } | tail -n1 | cut -d= -f2-; }

# ---------- processes ----------

# Prints the pid of member $1 when its pid file names a live process of binary $2.
member_pid() {
  local pid cmdline
  pid="$(cat "$RUN/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Read whole, then match: `tr | grep -q` under pipefail fails when grep quits early.
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$2"* ]] || return 1
  echo "$pid"
}

web_names() { local i; for i in "${!WEB_PORT_LIST[@]}"; do echo "web-$((i + 1))"; done; }
worker_names() { local i; for i in "${!WORKER_METRICS_LIST[@]}"; do echo "worker-$((i + 1))"; done; }

# start_member <name> <binary> [VAR=value...]: runs the binary detached (own session,
# so a Ctrl-C in the calling terminal does not reach it) with only the cluster's
# settings, in $CLUSTER_DIR, logging to log/<name>.log.
start_member() {
  local name="$1" bin="$2"
  shift 2
  local -a settings
  mapfile -t settings < <(service_env)
  mkdir -p "$CLUSTER_DIR/tmp/$name"
  (
    cd "$CLUSTER_DIR"
    setsid nohup env -i PATH="$PATH" HOME="$HOME" LANG="${LANG:-C.UTF-8}" \
      "${settings[@]}" TEMP_DIR="$CLUSTER_DIR/tmp/$name" "$@" "$bin" \
      >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
  )
  log "started $name (pid $(cat "$RUN/$name.pid"), log: $LOGS/$name.log)"
}

# stop_member <name> <binary> <seconds>: SIGTERM, then SIGKILL after the given time.
stop_member() {
  local name="$1" bin="$2" wait_secs="$3" pid
  if pid="$(member_pid "$name" "$bin")"; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < wait_secs * 5; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop within ${wait_secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name"
  fi
  rm -f "$RUN/$name.pid"
}

# Dies when something already listens on 127.0.0.1:$1 (for member $2; setting $3).
need_free_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    die "127.0.0.1:$1, the port of $2, is taken by another process: choose another with $3"
  fi
}

# started_alive <name>: the member this run just started still lives. Only the pid:
# until the forked shell has exec'd the binary, /proc/<pid>/cmdline is still this
# script's, so member_pid's binary check would call a member that is starting dead.
started_alive() {
  local pid
  pid="$(cat "$RUN/$1.pid" 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# wait_http <url> <seconds> <member> [curl options...]: waits for <url> to answer 2xx while
# the member this run started lives.
wait_http() {
  local url="$1" secs="$2" pidname="$3" i
  shift 3
  for ((i = 0; i < secs * 4; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null && return 0
    started_alive "$pidname" || {
      tail -n 30 "$LOGS/$pidname.log" >&2 || true
      die "$pidname exited during start-up (log: $LOGS/$pidname.log)"
    }
    sleep 0.25
  done
  die "$pidname did not answer $url within ${secs}s (log: $LOGS/$pidname.log)"
}

# ---------- TLS ----------

# A local CA (kept across up/down, so trusting it once is enough) and a certificate for
# localhost, 127.0.0.1 and ::1 that it signs; the certificate is renewed a month before
# it expires (397 days: within what browsers accept for a leaf).
ensure_tls() {
  mkdir -p "$TLS"
  chmod 700 "$TLS"
  if [ ! -s "$TLS/ca.pem" ] || [ ! -s "$TLS/ca.key" ]; then
    log "creating the cluster's local CA ($TLS/ca.pem)"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=skillreel local cluster CA $(hostname) $(date +%Y-%m-%d)" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$TLS/ca.key" -out "$TLS/ca.pem" 2>/dev/null
    rm -f "$TLS/server.pem"
  fi
  if [ ! -s "$TLS/server.pem" ] || ! openssl x509 -checkend $((30 * 86400)) -noout -in "$TLS/server.pem" >/dev/null \
      || ! openssl verify -CAfile "$TLS/ca.pem" "$TLS/server.pem" >/dev/null 2>&1; then
    log "issuing the certificate for localhost / 127.0.0.1 ($TLS/server.pem)"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
    openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" \
      -CAcreateserial -days 397 -sha256 -out "$TLS/server.pem" -extfile <(printf '%s\n' \
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth") 2>/dev/null
    rm -f "$TLS/server.csr"
  fi
  chmod 600 "$TLS/ca.key" "$TLS/server.key"
}

# ---------- nginx ----------

ensure_nginx() {
  [ -x "$NGINX_BIN" ] && return 0
  # Debian's package starts a default site on :80 unless policy-rc.d says no.
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
  fi
  apt_install nginx-light 2>/dev/null || apt_install nginx
  [ "$added" = 0 ] || rm -f "$policy"
  NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
  [ -x "$NGINX_BIN" ] || die "nginx is not installed"
}

write_nginx_conf() {
  local max_bytes upload_limit servers="" port user=""
  max_bytes="$(env_value UPLOAD_MAX_BYTES)"
  max_bytes="${max_bytes:-104857600}"
  # The web's own bound on a whole upload body: the file limit plus 1 MiB of multipart
  # framing (crates/web/src/routes/mod.rs). Within it the web answers past the file
  # limit itself (400 file-too-large); nginx refuses only bodies it would refuse too.
  upload_limit=$((max_bytes + 1048576))
  for port in "${WEB_PORT_LIST[@]}"; do
    servers+="        server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"$'\n'
  done
  # Started as root, nginx's worker runs as nobody (it writes no file: see below).
  [ "$(id -u)" != 0 ] || user="user nobody nogroup;"
  mkdir -p "$CLUSTER_DIR/nginx"
  cat >"$CLUSTER_DIR/nginx/nginx.conf" <<EOF
# Generated by scripts/cluster.sh up; edits are overwritten.
worker_processes 1;
pid $RUN/nginx.pid;
error_log $LOGS/nginx-error.log warn;
$user

events {
    worker_connections 1024;
}

http {
    default_type application/octet-stream;
    server_tokens off;
    log_format cluster '\$remote_addr [\$time_iso8601] "\$request" \$status \$body_bytes_sent '
                       'rt=\$request_time upstream="\$upstream_addr" ustatus="\$upstream_status" '
                       'urt="\$upstream_response_time" rid=\$request_id';
    access_log $LOGS/nginx-access.log cluster;

    # Bodies stay in memory (JSON bodies are at most 2 MiB, uploads stream through),
    # and answers are never spooled to disk: the workers write no file.
    client_body_temp_path $CLUSTER_DIR/nginx/client_body;
    proxy_temp_path $CLUSTER_DIR/nginx/proxy;
    fastcgi_temp_path $CLUSTER_DIR/nginx/fastcgi;
    uwsgi_temp_path $CLUSTER_DIR/nginx/uwsgi;
    scgi_temp_path $CLUSTER_DIR/nginx/scgi;
    proxy_max_temp_file_size 0;

    upstream skillreel_web {
$servers
        # Idle connections to the web are kept $UPSTREAM_KEEPALIVE_SECS s; the web keeps them
        # HTTP_HEADER_READ_TIMEOUT_SECS=$WEB_HEADER_TIMEOUT_SECS s, so nginx always closes first.
        keepalive 16;
        keepalive_timeout ${UPSTREAM_KEEPALIVE_SECS}s;
        keepalive_requests 1000;
    }

    server {
        listen 127.0.0.1:$HTTPS_PORT ssl http2;
        server_name localhost;

        ssl_certificate $TLS/server.pem;
        ssl_certificate_key $TLS/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:tls:1m;

        # Slow request heads are the edge's to cut off (the web's own limit is above).
        client_header_timeout 10s;
        client_body_timeout 60s;
        # The web's JSON body limit (axum's 2 MiB); uploads have their own below.
        client_max_body_size 2m;
        client_body_buffer_size 2m;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$host;
        # The client's address, appended to whatever the client sent: the web takes the
        # right-most address that is not a trusted proxy, so a forged header changes nothing.
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
        proxy_set_header X-Request-Id \$request_id;
        # nginx reaches the web from its own address: TRUSTED_PROXIES=$PROXY_ADDR/32, so a
        # local process connecting to a web port directly is not believed.
        proxy_bind $PROXY_ADDR;

        # Passive failover. A connection refused or timed out is retried on the other
        # instance for every method (nothing was sent); once a request has been sent,
        # nginx retries only idempotent methods (no non_idempotent flag): a POST that may
        # have been handled (sign-up, vote, upload) is never sent twice.
        proxy_connect_timeout 2s;
        proxy_next_upstream error timeout;
        proxy_next_upstream_tries 2;
        proxy_next_upstream_timeout 10s;
        # The web answers every route but the upload within 30 s (then 503).
        proxy_read_timeout 40s;
        proxy_send_timeout 40s;
        proxy_buffering on;

        # Errors of nginx itself get the API's JSON error body.
        error_page 502 504 =503 @unavailable;
        error_page 413 @too_large;

        location / {
            proxy_pass http://skillreel_web;
        }

        location ~ ^/api/videos/upload/?\$ {
            # Streams to the web as it arrives (the web cuts it off at the limit).
            proxy_request_buffering off;
            client_max_body_size $upload_limit;
            # The web's idle (UPLOAD_IDLE_SECS) and total (UPLOAD_MAX_SECS) limits answer first.
            client_body_timeout 60s;
            proxy_send_timeout 120s;
            proxy_read_timeout 120s;
            # error_page here replaces the server's list: both are needed.
            error_page 502 504 =503 @unavailable;
            error_page 413 @upload_too_large;
            proxy_pass http://skillreel_web;
        }

        # Live status streams (GET /api/videos/{id}/events): every event passed on as it
        # comes (no buffering; the web also sends X-Accel-Buffering: no). The web writes a
        # comment every EVENTS_KEEPALIVE_SECS (15 s) and ends a stream after
        # EVENTS_MAX_STREAM_SECS, so 120 s without a byte means a hung instance, not a
        # quiet video.
        location ~ ^/api/videos/[^/]+/events/?\$ {
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 120s;
            proxy_pass http://skillreel_web;
        }

        location @unavailable {
            default_type application/json;
            add_header Retry-After 5 always;
            return 503 '{"detail":"The service is unavailable; try again in a few seconds","code":"service-unavailable"}';
        }
        location @too_large {
            default_type application/json;
            return 413 '{"detail":"The request body is too large","code":"payload-too-large"}';
        }
        location @upload_too_large {
            default_type application/json;
            return 400 '{"detail":"The file exceeds the $((max_bytes / 1048576)) MB upload limit","code":"file-too-large"}';
        }
    }
}
EOF
}

nginx_cmd() { "$NGINX_BIN" -p "$CLUSTER_DIR/nginx" -c "$CLUSTER_DIR/nginx/nginx.conf" -e "$LOGS/nginx-error.log" "$@"; }

# ---------- S3 ----------

ensure_s3() {
  local endpoint="http://127.0.0.1:$S3_PORT" was_up=0 code
  curl -fsS -o /dev/null --max-time 2 "$endpoint/moto-api/config" 2>/dev/null && was_up=1
  MOTO_PORT="$S3_PORT" bash "$REPO_ROOT/scripts/moto.sh" >/dev/null
  if [ "$was_up" = 0 ]; then
    # Ours to stop on `down`.
    cp "${TMPDIR:-/tmp}/skillreel-moto-$S3_PORT.pid" "$RUN/moto.pid"
  fi
  # moto checks no signature: a plain PUT creates the bucket (409 when it exists).
  code="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT "$endpoint/$BUCKET")"
  case "$code" in 200 | 409) ;; *) die "could not create the bucket $BUCKET on $endpoint (HTTP $code)" ;; esac
  # Browsers PUT upload parts straight to the bucket and must read each part's ETag
  # (deploy/skillreel.yaml has the same rule for the site's origin).
  code="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT "$endpoint/$BUCKET?cors" -H 'Content-Type: application/xml' --data-binary \
    '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>')"
  case "$code" in 200 | 204) ;; *) die "could not set the CORS rule of the bucket $BUCKET on $endpoint (HTTP $code)" ;; esac
}

# ---------- commands ----------

anything_running() {
  local name
  member_pid nginx "$NGINX_BIN" >/dev/null && return 0
  for name in $(web_names); do member_pid "$name" skillreel-web >/dev/null && return 0; done
  for name in $(worker_names); do member_pid "$name" skillreel-worker >/dev/null && return 0; done
  return 1
}

cmd_up() {
  mkdir -p "$RUN" "$LOGS"
  if [ -f "$CONF" ]; then
    load_conf
    if ! anything_running; then
      # Nothing runs: this start takes the current environment's settings.
      rm -f "$CONF"
      unset HTTPS_PORT WEB_PORTS WEB_METRICS_PORTS WORKER_METRICS_PORTS PROXY_ADDR DB PREFIX BUCKET S3_PORT BIN_DIR
      load_conf
    else
      log "members already run: keeping the settings in $CONF"
    fi
  else
    load_conf
  fi

  local i name
  # Every port of a member that is not running must be free before anything starts.
  member_pid nginx "$NGINX_BIN" >/dev/null || need_free_port "$HTTPS_PORT" nginx CLUSTER_HTTPS_PORT
  for i in "${!WEB_PORT_LIST[@]}"; do
    member_pid "web-$((i + 1))" skillreel-web >/dev/null && continue
    need_free_port "${WEB_PORT_LIST[$i]}" "web-$((i + 1))" CLUSTER_WEB_PORTS
    need_free_port "${WEB_METRICS_LIST[$i]}" "web-$((i + 1))" CLUSTER_WEB_METRICS_PORTS
  done
  for i in "${!WORKER_METRICS_LIST[@]}"; do
    member_pid "worker-$((i + 1))" skillreel-worker >/dev/null && continue
    need_free_port "${WORKER_METRICS_LIST[$i]}" "worker-$((i + 1))" CLUSTER_WORKER_METRICS_PORTS
  done

  ensure_ffmpeg
  command -v openssl >/dev/null || apt_install openssl
  ensure_postgres
  ensure_redis
  ensure_nginx
  ensure_database "$DB"
  if [ ! -x "$BIN_DIR/skillreel-web" ] || [ ! -x "$BIN_DIR/skillreel-worker" ] || [ "${CLUSTER_BUILD:-0}" = 1 ]; then
    ensure_cargo
    log "building the debug binaries (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO_ROOT" && nice cargo build --locked -p skillreel-web -p skillreel-worker)
  fi
  [ -x "$BIN_DIR/skillreel-web" ] || die "no skillreel-web in $BIN_DIR"
  ensure_s3
  ensure_tls
  if [ ! -f "$CLUSTER_DIR/.env" ] || ! anything_running; then
    write_service_env
  fi
  save_conf

  for i in "${!WEB_PORT_LIST[@]}"; do
    name="web-$((i + 1))"
    member_pid "$name" skillreel-web >/dev/null && continue
    start_member "$name" "$BIN_DIR/skillreel-web" PORT="${WEB_PORT_LIST[$i]}" \
      WEB_METRICS_ADDR="127.0.0.1:${WEB_METRICS_LIST[$i]}"
  done
  for i in "${!WORKER_METRICS_LIST[@]}"; do
    name="worker-$((i + 1))"
    member_pid "$name" skillreel-worker >/dev/null && continue
    start_member "$name" "$BIN_DIR/skillreel-worker" WORKER_METRICS_ADDR="127.0.0.1:${WORKER_METRICS_LIST[$i]}"
  done
  for i in "${!WEB_PORT_LIST[@]}"; do
    wait_http "http://127.0.0.1:${WEB_PORT_LIST[$i]}/health/ready" 120 "web-$((i + 1))"
  done
  for i in "${!WORKER_METRICS_LIST[@]}"; do
    wait_http "http://127.0.0.1:${WORKER_METRICS_LIST[$i]}/health" 120 "worker-$((i + 1))"
  done

  write_nginx_conf
  nginx_cmd -t -q || die "nginx refused the generated configuration ($CLUSTER_DIR/nginx/nginx.conf)"
  if member_pid nginx "$NGINX_BIN" >/dev/null; then
    nginx_cmd -s reload
  else
    nginx_cmd
    log "started nginx (pid $(cat "$RUN/nginx.pid"), logs: $LOGS/nginx-*.log)"
  fi
  wait_http "https://127.0.0.1:$HTTPS_PORT/health/ready" 30 nginx --cacert "$TLS/ca.pem"

  log "the cluster is up: https://localhost:$HTTPS_PORT/app/  (API docs: https://localhost:$HTTPS_PORT/docs)"
  cat >&2 <<EOF
    Its certificate is signed by a local CA made for this checkout: $TLS/ca.pem
    curl:      curl --cacert $TLS/ca.pem https://localhost:$HTTPS_PORT/health/ready
    browsers:  import that file as a trusted authority (Chromium: Settings > Privacy and
               security > Security > Manage certificates > Authorities; Firefox: Settings >
               Certificates > View Certificates > Authorities > Import)
    system:    cp $TLS/ca.pem /usr/local/share/ca-certificates/skillreel-cluster.crt && update-ca-certificates
    status:    $REPO_ROOT/scripts/cluster.sh status      stop: $REPO_ROOT/scripts/cluster.sh down
EOF
}

cmd_down() {
  [ -d "$RUN" ] || { log "nothing to stop"; return 0; }
  load_conf
  local name pid grace
  # The edge first, so nothing new arrives; then web; then workers, which finish or hand
  # back their jobs within SHUTDOWN_GRACE_SECS.
  if pid="$(member_pid nginx "$NGINX_BIN")"; then
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    log "stopped nginx"
  fi
  rm -f "$RUN/nginx.pid"
  for name in $(web_names); do stop_member "$name" skillreel-web 15; done
  grace=""
  if [ -f "$CLUSTER_DIR/.env" ]; then grace="$(env_value SHUTDOWN_GRACE_SECS || true)"; fi
  for name in $(worker_names); do stop_member "$name" skillreel-worker $(( ${grace:-20} + 10 )); done
  if pid="$(member_pid moto moto.server)"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    log "stopped the S3 emulator this cluster had started"
  fi
  rm -f "$RUN/moto.pid"
}

cmd_status() {
  if [ ! -f "$CONF" ]; then
    echo "no cluster set up under $CLUSTER_DIR (scripts/cluster.sh up)"
    return 3
  fi
  load_conf
  local down=0 i name pid health
  row() { printf '%-9s %-8s %-8s %s\n' "$@"; }
  row member pid state detail
  if pid="$(member_pid nginx "$NGINX_BIN")"; then
    health="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$TLS/ca.pem" \
      "https://127.0.0.1:$HTTPS_PORT/health/ready" 2>/dev/null || true)"
    row nginx "$pid" running "https://localhost:$HTTPS_PORT  /health/ready: $health"
  else
    row nginx - stopped "https://localhost:$HTTPS_PORT"; down=1
  fi
  for i in "${!WEB_PORT_LIST[@]}"; do
    name="web-$((i + 1))"
    if pid="$(member_pid "$name" skillreel-web)"; then
      health="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:${WEB_PORT_LIST[$i]}/health/ready" 2>/dev/null || true)"
      row "$name" "$pid" running "http://127.0.0.1:${WEB_PORT_LIST[$i]}  /health/ready: $health  metrics: 127.0.0.1:${WEB_METRICS_LIST[$i]}"
    else
      row "$name" - stopped "port ${WEB_PORT_LIST[$i]}"; down=1
    fi
  done
  for i in "${!WORKER_METRICS_LIST[@]}"; do
    name="worker-$((i + 1))"
    if pid="$(member_pid "$name" skillreel-worker)"; then
      health="$(curl -sS --max-time 3 "http://127.0.0.1:${WORKER_METRICS_LIST[$i]}/health" 2>/dev/null | tr -d '\n' || true)"
      row "$name" "$pid" running "metrics: 127.0.0.1:${WORKER_METRICS_LIST[$i]}  /health: ${health:-no answer}"
    else
      row "$name" - stopped "metrics port ${WORKER_METRICS_LIST[$i]}"; down=1
    fi
  done
  if pid="$(member_pid moto moto.server)"; then
    row s3 "$pid" running "moto on 127.0.0.1:$S3_PORT (started by this cluster), bucket $BUCKET"
  else
    row s3 - shared "moto on 127.0.0.1:$S3_PORT, bucket $BUCKET"
  fi
  row postgres - shared "127.0.0.1:5432, database $DB"
  row redis - shared "127.0.0.1:6379, prefix $PREFIX"
  echo "logs: $LOGS/   CA: $TLS/ca.pem"
  return $((down * 3))
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
