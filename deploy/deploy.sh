#!/usr/bin/env bash
# Deploys skillreel on AWS with CloudFormation (deploy/skillreel.yaml), from an empty
# account or over an existing stack. docs/DEPLOYMENT.md walks through it.
#
#   deploy/deploy.sh up --domain D --certificate-arn ARN --release FILE|s3://URI [options]
#       Creates or updates the stack. The first run needs --domain, --certificate-arn and
#       --release; later runs keep every value not given again. A new release or launch
#       template (user_data, AMI, instance type) is rolled out at once (see `roll`).
#   deploy/deploy.sh roll
#       Replaces the instances (instance refresh): web keeps 100 % healthy, workers 50 %;
#       workers drain, and a job of a killed worker runs again elsewhere.
#   deploy/deploy.sh down --yes
#       Deletes the stack. Kept: the media bucket (players' videos), a final database
#       snapshot, the artifact bucket (releases). Printed at the end.
#   deploy/deploy.sh package [FILE]
#       Only writes the template with user_data/*.sh inlined [var/deploy/skillreel.packaged.yaml].
#   deploy/deploy.sh outputs
#
# Options of `up` (each also as the environment variable in brackets):
#   --stack NAME               stack name [SKILLREEL_STACK, skillreel]
#   --region REGION            [AWS_REGION, AWS_DEFAULT_REGION, the CLI's configured region]
#   --domain NAME              site host name; the bucket's CORS allows https://NAME
#   --certificate-arn ARN      ACM certificate of NAME in REGION
#   --release FILE|URI         release tarball (scripts/release.sh): a local file is uploaded
#                              to the artifact bucket under releases/
#   --hosted-zone-id ID        Route 53 zone of NAME: creates the alias record
#   --alarm-email ADDRESS      subscribed to the alarm topic
#   --web-instance-type T, --worker-instance-type T, --db-instance-class C, --redis-node-type T
#   --image-parameter NAME     SSM parameter naming the AMI (default: Ubuntu 24.04 amd64)
#   --set KEY=VALUE            any other template parameter (repeatable)
#   --no-roll                  never start an instance refresh
#   --artifact-bucket NAME     [SKILLREEL_ARTIFACT_BUCKET, skillreel-artifacts-<account>-<region>]
#
# Needs the AWS CLI (v1 or v2) with credentials allowed to create the stack's resources
# (IAM roles included). AWS_ENDPOINT_URL is honoured, so it also runs against an emulator
# (deploy/test.sh deploys to moto).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEMPLATE="${REPO_ROOT}/deploy/skillreel.yaml"
OUT_DIR="${SKILLREEL_DEPLOY_OUT:-${REPO_ROOT}/var/deploy}"
STACK="${SKILLREEL_STACK:-skillreel}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
ARTIFACT_BUCKET="${SKILLREEL_ARTIFACT_BUCKET:-}"
REDIS_URL_PARAMETER=/skillreel/redis_url
SECRETS=(skillreel/database skillreel/jwt skillreel/redis-auth)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mdeploy.sh:\033[0m %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

# AWS_ENDPOINT_URL is also passed as --endpoint-url: the v1 CLI ignores the variable for
# some commands (rds modify-db-instance).
aws_() { aws --region "${REGION}" ${AWS_ENDPOINT_URL:+--endpoint-url "${AWS_ENDPOINT_URL}"} "$@"; }

# ---------------------------------------------------------------- packaging
# Replaces each `Fn::Base64: "#include user_data/<role>.sh"` line of the template with the
# file as a YAML literal block, byte for byte (deploy/test.sh checks the launch templates).
package_template() {
    local out="$1" line indent file count=0 rx='^( *)Fn::Base64: "#include (user_data/[a-z]+\.sh)"$'
    mkdir -p "$(dirname "${out}")"
    {
        while IFS= read -r line || [[ -n "${line}" ]]; do
            if [[ "${line}" =~ ${rx} ]]; then
                indent="${BASH_REMATCH[1]}"
                file="${REPO_ROOT}/${BASH_REMATCH[2]}"
                check_user_data "${file}"
                printf '%sFn::Base64: |\n' "${indent}"
                while IFS= read -r l; do
                    if [[ -z "${l}" ]]; then echo; else printf '%s  %s\n' "${indent}" "${l}"; fi
                done <"${file}"
                count=$((count + 1))
            else
                printf '%s\n' "${line}"
            fi
        done <"${TEMPLATE}"
    } >"${out}.tmp"
    [[ "${count}" -eq 2 ]] || die "expected 2 user_data includes in ${TEMPLATE}, found ${count}"
    mv "${out}.tmp" "${out}"
}

# A literal block keeps every byte except that it ends with exactly one newline.
check_user_data() {
    local file="$1"
    [[ -f "${file}" ]] || die "${file} not found"
    [[ -z "$(tail -c 1 "${file}")" ]] || die "${file} must end with a newline"
    [[ -n "$(tail -n 1 "${file}")" ]] || die "${file} must not end with an empty line"
    [[ "$(head -c 1 "${file}")" != " " ]] || die "${file} must not start with a space"
    [[ "$(wc -c <"${file}")" -le 16384 ]] || die "${file} is over the 16 KB EC2 user data limit"
}

# ---------------------------------------------------------------- stack helpers
stack_status() {
    aws_ cloudformation describe-stacks --stack-name "${STACK}" \
        --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE
}

# The stack's outputs and parameters, read in one call into OUTPUTS and PARAMETERS.
declare -A OUTPUTS=() PARAMETERS=()
load_stack() {
    local kind key value
    OUTPUTS=()
    PARAMETERS=()
    while IFS=$'\t' read -r kind key value; do
        case "${kind}" in
            o) OUTPUTS["${key}"]="${value}" ;;
            p) PARAMETERS["${key}"]="${value}" ;;
        esac
    done < <(aws_ cloudformation describe-stacks --stack-name "${STACK}" --output text --query \
        "Stacks[0].[Outputs[].['o', OutputKey, OutputValue], Parameters[].['p', ParameterKey, ParameterValue]][]")
}

output() { echo "${OUTPUTS[$1]:-}"; }

ensure_artifact_bucket() {
    if aws_ s3api head-bucket --bucket "${ARTIFACT_BUCKET}" >/dev/null 2>&1; then
        return 0
    fi
    log "creating the artifact bucket ${ARTIFACT_BUCKET} (releases, packaged templates)"
    if [[ "${REGION}" == us-east-1 ]]; then
        aws_ s3api create-bucket --bucket "${ARTIFACT_BUCKET}" >/dev/null
    else
        aws_ s3api create-bucket --bucket "${ARTIFACT_BUCKET}" \
            --create-bucket-configuration "LocationConstraint=${REGION}" >/dev/null
    fi
    aws_ s3api put-public-access-block --bucket "${ARTIFACT_BUCKET}" --public-access-block-configuration \
        BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    aws_ s3api put-bucket-ownership-controls --bucket "${ARTIFACT_BUCKET}" \
        --ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]'
    aws_ s3api put-bucket-encryption --bucket "${ARTIFACT_BUCKET}" --server-side-encryption-configuration \
        '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
}

# /skillreel/redis_url carries the AUTH token, so it is a SecureString under the stack's
# key, which CloudFormation cannot create: written here, from the stack's secret and
# endpoint, and only when it changed. The value never reaches a command line or a log.
write_redis_url() {
    local endpoint secret token url current input
    endpoint="$(output RedisEndpoint)"
    secret="$(output RedisAuthSecret)"
    [[ -n "${endpoint}" && "${endpoint}" != None ]] || die "stack ${STACK} has no RedisEndpoint output"
    token="$(aws_ secretsmanager get-secret-value --secret-id "${secret}" --query SecretString --output text)"
    [[ "${token}" =~ ^[A-Za-z0-9]+$ ]] || die "the Redis AUTH token in ${secret} is not alphanumeric"
    url="rediss://:${token}@${endpoint}:6379"
    current="$(aws_ ssm get-parameter --name "${REDIS_URL_PARAMETER}" --with-decryption \
        --query Parameter.Value --output text 2>/dev/null || true)"
    if [[ "${current}" == "${url}" ]]; then
        return 0
    fi
    log "writing ${REDIS_URL_PARAMETER} (SecureString, alias/skillreel)"
    input="$(umask 077 && mktemp)"
    # shellcheck disable=SC2064  # expand now: the variable is local
    trap "rm -f '${input}'" RETURN
    printf '{"Name": "%s", "Type": "SecureString", "KeyId": "alias/skillreel", "Overwrite": true, "Value": "%s"}\n' \
        "${REDIS_URL_PARAMETER}" "${url}" >"${input}"
    aws_ ssm put-parameter --cli-input-json "file://${input}" >/dev/null
}

# ---------------------------------------------------------------- commands
cmd_package() {
    local out="${1:-${OUT_DIR}/skillreel.packaged.yaml}"
    package_template "${out}"
    echo "${out}"
}

cmd_outputs() {
    aws_ cloudformation describe-stacks --stack-name "${STACK}" \
        --query 'Stacks[0].Outputs[].[OutputKey, OutputValue]' --output text
}

cmd_roll() {
    local web worker
    [[ ${#OUTPUTS[@]} -gt 0 ]] || load_stack
    web="$(output WebGroup)"
    worker="$(output WorkerGroup)"
    log "instance refresh of ${web} (web: new instances pass /health/ready before old ones leave)"
    aws_ autoscaling start-instance-refresh --auto-scaling-group-name "${web}" \
        --preferences '{"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "InstanceWarmup": 420}' >/dev/null
    log "instance refresh of ${worker} (workers: half at a time; stopping workers drain)"
    aws_ autoscaling start-instance-refresh --auto-scaling-group-name "${worker}" \
        --preferences '{"MinHealthyPercentage": 50, "InstanceWarmup": 420}' >/dev/null
    log "follow it: aws autoscaling describe-instance-refreshes --auto-scaling-group-name ${web}"
}

cmd_up() {
    local domain="" certificate="" release="" roll=1 status account artifact_uri="" packaged
    local -a overrides=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --domain) domain="$2"; overrides+=("DomainName=$2"); shift 2 ;;
            --certificate-arn) certificate="$2"; overrides+=("CertificateArn=$2"); shift 2 ;;
            --release) release="$2"; shift 2 ;;
            --hosted-zone-id) overrides+=("HostedZoneId=$2"); shift 2 ;;
            --alarm-email) overrides+=("AlarmEmail=$2"); shift 2 ;;
            --web-instance-type) overrides+=("WebInstanceType=$2"); shift 2 ;;
            --worker-instance-type) overrides+=("WorkerInstanceType=$2"); shift 2 ;;
            --db-instance-class) overrides+=("DatabaseInstanceClass=$2"); shift 2 ;;
            --redis-node-type) overrides+=("RedisNodeType=$2"); shift 2 ;;
            --image-parameter) overrides+=("ImageId=$2"); shift 2 ;;
            --set) [[ "$2" == ?*=* ]] || die "--set takes KEY=VALUE"; overrides+=("$2"); shift 2 ;;
            --no-roll) roll=0; shift ;;
            -h | --help) usage 0 ;;
            *) die "unknown option $1 (deploy/deploy.sh --help)" ;;
        esac
    done

    status="$(stack_status)"
    case "${status}" in
        NONE)
            [[ -n "${domain}" && -n "${certificate}" && -n "${release}" ]] ||
                die "a new stack needs --domain, --certificate-arn and --release"
            ;;
        ROLLBACK_COMPLETE | ROLLBACK_FAILED | DELETE_FAILED)
            die "stack ${STACK} is ${status}: see its events, then deploy/deploy.sh down --yes and run up again" ;;
        *_IN_PROGRESS)
            die "stack ${STACK} is ${status}; wait for it to finish" ;;
    esac

    account="$(aws_ sts get-caller-identity --query Account --output text)"
    ARTIFACT_BUCKET="${ARTIFACT_BUCKET:-skillreel-artifacts-${account}-${REGION}}"
    ensure_artifact_bucket
    overrides+=("ArtifactBucket=${ARTIFACT_BUCKET}")

    if [[ -n "${release}" ]]; then
        if [[ "${release}" == s3://* ]]; then
            artifact_uri="${release}"
        else
            [[ -f "${release}" ]] || die "release ${release} not found (scripts/release.sh builds one)"
            artifact_uri="s3://${ARTIFACT_BUCKET}/releases/$(basename "${release}")"
            log "uploading ${release} to ${artifact_uri}"
            aws_ s3 cp --only-show-errors "${release}" "${artifact_uri}"
        fi
        overrides+=("ArtifactUri=${artifact_uri}")
    fi

    local before_artifact="" before_web="" before_worker=""
    if [[ "${status}" != NONE ]]; then
        load_stack
        before_artifact="${PARAMETERS[ArtifactUri]:-}"
        before_web="$(output WebLaunchTemplateVersion)"
        before_worker="$(output WorkerLaunchTemplateVersion)"
    fi

    packaged="${OUT_DIR}/${STACK}.packaged.yaml"
    package_template "${packaged}"
    log "deploying stack ${STACK} in ${REGION} (a new stack takes 20-30 minutes: RDS and ElastiCache)"
    aws_ cloudformation deploy --stack-name "${STACK}" --template-file "${packaged}" \
        --s3-bucket "${ARTIFACT_BUCKET}" --s3-prefix "templates/${STACK}" \
        --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
        --tags project=skillreel \
        --parameter-overrides "${overrides[@]}"

    load_stack
    write_redis_url

    if [[ "${status}" != NONE && "${roll}" -eq 1 ]]; then
        if [[ -n "${artifact_uri}" && "${artifact_uri}" != "${before_artifact}" ]] ||
            [[ "$(output WebLaunchTemplateVersion)" != "${before_web}" ]] ||
            [[ "$(output WorkerLaunchTemplateVersion)" != "${before_worker}" ]]; then
            cmd_roll
        fi
    fi

    log "stack ${STACK} is up"
    local key
    for key in "${!OUTPUTS[@]}"; do
        printf '%s\t%s\n' "${key}" "${OUTPUTS[${key}]}"
    done | sort
    cat >&2 <<EOF

Next: point $(output SiteUrl) at $(output LoadBalancerDns) (unless --hosted-zone-id did),
then check it as docs/DEPLOYMENT.md, "After the deploy", says.
EOF
}

cmd_down() {
    local yes=0 database media
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --yes) yes=1; shift ;;
            *) die "unknown option $1" ;;
        esac
    done
    [[ "$(stack_status)" != NONE ]] || die "no stack ${STACK} in ${REGION}"
    [[ "${yes}" -eq 1 ]] || die "this deletes stack ${STACK} in ${REGION}, its database included (a final snapshot is kept); rerun with --yes"

    load_stack
    media="$(output MediaBucket)"
    ARTIFACT_BUCKET="${ARTIFACT_BUCKET:-${PARAMETERS[ArtifactBucket]:-}}"
    database="$(aws_ cloudformation describe-stack-resource --stack-name "${STACK}" \
        --logical-resource-id Database --query StackResourceDetail.PhysicalResourceId --output text 2>/dev/null || true)"
    if [[ -n "${database}" && "${database}" != None ]]; then
        log "lifting the deletion protection of database ${database}"
        aws_ rds modify-db-instance --db-instance-identifier "${database}" \
            --no-deletion-protection --apply-immediately >/dev/null
    fi
    aws_ ssm delete-parameter --name "${REDIS_URL_PARAMETER}" 2>/dev/null || true
    log "deleting stack ${STACK}"
    aws_ cloudformation delete-stack --stack-name "${STACK}"
    aws_ cloudformation wait stack-delete-complete --stack-name "${STACK}"
    # The secrets' fixed names must be free for the next `up`, not pending deletion.
    local secret error
    for secret in "${SECRETS[@]}"; do
        if ! error="$(aws_ secretsmanager delete-secret --secret-id "${secret}" \
            --force-delete-without-recovery 2>&1 >/dev/null)" && [[ "${error}" != *ResourceNotFound* ]]; then
            die "cannot delete secret ${secret}: ${error}"
        fi
    done
    cat >&2 <<EOF
Stack ${STACK} deleted. Kept on purpose (delete them by hand when you mean it):
  media bucket      ${media} (players' videos; DeletionPolicy Retain)
  final snapshot    aws rds describe-db-snapshots --snapshot-type manual --region ${REGION}
  artifact bucket   ${ARTIFACT_BUCKET} (releases, packaged templates)
EOF
}

main() {
    local command="${1:-up}" rest=()
    [[ $# -gt 0 ]] && shift
    # Options every command takes, wherever they stand.
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --stack) STACK="$2"; shift 2 ;;
            --region) REGION="$2"; shift 2 ;;
            --artifact-bucket) ARTIFACT_BUCKET="$2"; shift 2 ;;
            *) rest+=("$1"); shift ;;
        esac
    done
    set -- "${rest[@]}"
    case "${command}" in
        package) cmd_package "$@"; return ;;
        -h | --help | help) usage 0 ;;
    esac
    command -v aws >/dev/null || die "the AWS CLI is missing (https://aws.amazon.com/cli/, or pip install awscli)"
    REGION="${REGION:-$(aws configure get region 2>/dev/null || true)}"
    [[ -n "${REGION}" ]] || die "no region: pass --region or set AWS_REGION"
    case "${command}" in
        up) cmd_up "$@" ;;
        roll) cmd_roll ;;
        down) cmd_down "$@" ;;
        outputs) cmd_outputs ;;
        *) usage ;;
    esac
}

main "$@"
