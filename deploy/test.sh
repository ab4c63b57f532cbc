#!/usr/bin/env bash
# Tests deploy/ without an AWS account:
#   1. shellcheck of the scripts; cfn-lint of the template, as written and as deploy.sh
#      packages it (user_data/*.sh inlined); docs/iam/*.json generated from the template;
#   2. the template checks of deploy/test/check_stack.py, which must also fail on a broken copy;
#   3. a real deployment with deploy/deploy.sh against moto's CloudFormation
#      (deploy/test/moto_cfn.py, a server of our own on 127.0.0.1:${DEPLOY_MOTO_PORT:-5056},
#      never scripts/moto.sh's), the resources checked through the AWS APIs, an update with
#      a new release, then deploy.sh down and what it must leave behind.
# Installs cfn-lint, moto and the AWS CLI (pinned, PyPI) into a venv under ~/.cache.
# Logs and the packaged template: var/deploy-test/ (git-ignored).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO_ROOT"

# moto_cfn.py patches moto's internals: keep moto pinned, and this list with it.
REQUIREMENTS=("moto[server]==5.2.5" "cfn-lint==1.58.0" "awscli==1.46.3")
VENV="$HOME/.cache/skillreel-deploy-$(printf '%s\n' "${REQUIREMENTS[@]}" | sha256sum | cut -c1-12)"
PORT="${DEPLOY_MOTO_PORT:-5056}"
OUT="$REPO_ROOT/var/deploy-test"
STACK=skillreel-test
started=$SECONDS
step() { log "deploy [$((SECONDS - started)) s]: $*"; }

# ---------- tools
if [ ! -f "$VENV/.complete" ]; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  log "installing ${REQUIREMENTS[*]} into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
  touch "$VENV/.complete"
fi
command -v shellcheck >/dev/null || apt_install shellcheck
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python"
rm -rf "$OUT"
mkdir -p "$OUT"

# ---------- static checks
step "shellcheck"
shellcheck -x deploy/deploy.sh deploy/test.sh

step "cfn-lint (template, and packaged with user_data/)"
bash deploy/deploy.sh package "$OUT/skillreel.packaged.yaml" >/dev/null
cfn-lint deploy/skillreel.yaml "$OUT/skillreel.packaged.yaml"

step "docs/iam/*.json match the template's role policies"
"$PY" deploy/iam.py --check
"$PY" deploy/iam.py --out "$OUT/iam"
"$PY" user_data/test/check_iam.py "$OUT/iam"

step "template checks"
(cd deploy/test && "$PY" check_stack.py template "$OUT/skillreel.packaged.yaml") >"$OUT/template-checks.log" ||
  { cat "$OUT/template-checks.log"; die "template checks failed"; }

# The checks must be able to fail: a copy with four things broken fails exactly those four.
sed -e 's/rds.force_ssl: "1"/rds.force_ssl: "0"/' \
    -e 's/ExposedHeaders: \[ETag\]/ExposedHeaders: []/' \
    -e 's/TransitEncryptionEnabled: true/TransitEncryptionEnabled: false/' \
    -e 's/^\( *\)set -euo pipefail$/\1set -eu/' \
    "$OUT/skillreel.packaged.yaml" >"$OUT/broken.yaml"
if (cd deploy/test && "$PY" check_stack.py template "$OUT/broken.yaml") >"$OUT/broken-checks.log"; then
  die "the template checks passed on a broken template ($OUT/broken.yaml)"
fi
grep -q ', 4 failed$' "$OUT/broken-checks.log" ||
  { cat "$OUT/broken-checks.log"; die "the broken template should fail exactly 4 checks"; }

# ---------- deployment on moto
if curl -sS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null; then
  die "something already answers on 127.0.0.1:$PORT; set DEPLOY_MOTO_PORT to a free port"
fi
step "moto CloudFormation on 127.0.0.1:$PORT (log: $OUT/moto.log)"
"$PY" deploy/test/moto_cfn.py -H 127.0.0.1 -p "$PORT" >"$OUT/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/moto-api/config" 2>/dev/null && break
  kill -0 "$moto_pid" 2>/dev/null || { tail -n 20 "$OUT/moto.log"; die "moto exited during start-up"; }
  sleep 0.5
done

# localhost, not 127.0.0.1: moto finds a TemplateURL's bucket in the path only for localhost.
export AWS_ENDPOINT_URL="http://localhost:$PORT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SKILLREEL_STACK="$STACK" SKILLREEL_DEPLOY_OUT="$OUT"
unset AWS_PROFILE AWS_SESSION_TOKEN
certificate=$(aws acm request-certificate --domain-name skillreel.test --query CertificateArn --output text)
zone=$(aws route53 create-hosted-zone --name skillreel.test --caller-reference "$STACK" --query HostedZone.Id --output text)
release1="$OUT/skillreel-0.1.0-g0000001-x86_64-linux.tar.gz"
release2="$OUT/skillreel-0.1.1-g0000002-x86_64-linux.tar.gz"
head -c 4096 /dev/urandom >"$release1"
head -c 4096 /dev/urandom >"$release2"

step "deploy.sh up (new stack)"
# AdminEmails is set: moto answers DescribeStackResources with a broken entry (no
# LogicalResourceId) for a resource whose Condition is false (ParamAdminEmails).
bash deploy/deploy.sh up --domain skillreel.test --certificate-arn "$certificate" \
  --hosted-zone-id "${zone##*/}" --alarm-email ops@skillreel.test --release "$release1" \
  --set AdminEmails=organizer@skillreel.test >"$OUT/up.log" 2>&1 ||
  { tail -n 30 "$OUT/up.log"; die "deploy.sh up failed (log: $OUT/up.log)"; }

step "checks of the deployed stack"
(cd deploy/test && "$PY" check_stack.py deployed "$OUT/$STACK.packaged.yaml" "$STACK") >"$OUT/deployed-checks.log" ||
  { cat "$OUT/deployed-checks.log"; die "deployed stack checks failed"; }
tail -n 1 "$OUT/deployed-checks.log"

# An update: every parameter not given keeps its value (instance refresh: moto has none).
step "deploy.sh up with a new release"
bash deploy/deploy.sh up --no-roll --release "$release2" >"$OUT/up-release.log" 2>&1 ||
  { tail -n 30 "$OUT/up-release.log"; die "deploy.sh up --release failed"; }
artifact=$(aws ssm get-parameter --name /skillreel/artifact_uri --query Parameter.Value --output text)
[ "$artifact" = "s3://skillreel-artifacts-123456789012-us-east-1/releases/$(basename "$release2")" ] ||
  die "/skillreel/artifact_uri is $artifact after the new release"
aws s3api head-object --bucket skillreel-artifacts-123456789012-us-east-1 \
  --key "releases/$(basename "$release2")" >/dev/null || die "the new release was not uploaded"

step "deploy.sh down"
media=$(bash deploy/deploy.sh outputs | awk '$1 == "MediaBucket" {print $2}')
bash deploy/deploy.sh down --yes >"$OUT/down.log" 2>&1 ||
  { tail -n 30 "$OUT/down.log"; grep moto_cfn: "$OUT/moto.log" || true; die "deploy.sh down failed"; }
(cd deploy/test && "$PY" check_stack.py removed "$STACK" "$media") >"$OUT/removed-checks.log" ||
  { cat "$OUT/removed-checks.log"; die "checks after deploy.sh down failed"; }

step "all checks passed (logs: $OUT)"
