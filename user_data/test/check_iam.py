"""Checks docs/iam/*.json: valid IAM JSON, no wildcards in actions, and exactly the
S3 access each role needs on the media bucket (docs/DEPLOYMENT.md, "IAM").

Usage: python3 check_iam.py docs/iam   (exit 0 when every policy passes)
"""

import json
import pathlib
import sys

BUCKET = "arn:aws:s3:::MEDIA_BUCKET"
UPLOADED, PROCESSED = f"{BUCKET}/uploaded/*", f"{BUCKET}/processed/*"

# Exactly these (action, resource) pairs on the media bucket, nothing more, nothing less.
EXPECTED_MEDIA_ACCESS = {
    "web-policy.json": {
        ("s3:PutObject", UPLOADED),
        # an upload over 16 MiB goes multipart; a failed one is aborted
        ("s3:AbortMultipartUpload", UPLOADED),
        # resumable uploads: "which parts are stored" (ListParts)
        ("s3:ListMultipartUploadParts", UPLOADED),
        # inspection of an assembled resumable upload (ranged reads, ffprobe on a presigned GET)
        ("s3:GetObject", UPLOADED),
        ("s3:GetObject", PROCESSED),
        ("s3:DeleteObject", UPLOADED),
        ("s3:DeleteObject", PROCESSED),
        ("s3:ListBucket", BUCKET),
    },
    "worker-policy.json": {
        ("s3:GetObject", UPLOADED),
        ("s3:PutObject", PROCESSED),
        ("s3:AbortMultipartUpload", PROCESSED),
        ("s3:DeleteObject", PROCESSED),
        ("s3:ListBucket", BUCKET),
    },
}


def as_list(value):
    return value if isinstance(value, list) else [value]


def problems(path):
    try:
        policy = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        return [f"not valid JSON: {err}"]
    found = []
    if policy.get("Version") != "2012-10-17":
        found.append("Version must be 2012-10-17")
    media_access = set()
    secrets_ok = ssm_ok = kms_ok = False
    for statement in as_list(policy.get("Statement", [])):
        sid = statement.get("Sid", "?")
        if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
            found.append(f"{sid}: only plain Allow statements are expected")
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        for action in actions:
            if "*" in action:
                found.append(f"{sid}: wildcard action {action}")
        for resource in resources:
            # "*" alone, or an ARN whose resource part is only "*" (every bucket, key...).
            if resource == "*" or resource.split(":", 5)[-1] in ("*", "*/*"):
                found.append(f"{sid}: resource {resource} is too broad")
        for action in actions:
            for resource in resources:
                if resource.startswith(BUCKET):
                    media_access.add((action, resource))
        if "secretsmanager:GetSecretValue" in actions:
            secrets_ok = all(":secret:skillreel/" in r for r in resources)
        if "ssm:GetParametersByPath" in actions:
            ssm_ok = resources == ["arn:aws:ssm:REGION:ACCOUNT_ID:parameter/skillreel"]
        if "kms:Decrypt" in actions:
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            kms_ok = "ssm.REGION.amazonaws.com" in as_list(via or []) and all(":key/" in r for r in resources)
    expected = EXPECTED_MEDIA_ACCESS.get(path.name)
    if expected is None:
        found.append("unknown policy file (add its expected access to check_iam.py)")
    elif media_access != expected:
        found.append(f"media bucket access: extra {sorted(media_access - expected)}, missing {sorted(expected - media_access)}")
    if not secrets_ok:
        found.append("secretsmanager:GetSecretValue must be limited to the skillreel/ secrets")
    if not ssm_ok:
        found.append("ssm:GetParametersByPath must be limited to the /skillreel path")
    if not kms_ok:
        found.append("kms:Decrypt must name the key and carry a kms:ViaService condition for SSM")
    return found


def main():
    directory = pathlib.Path(sys.argv[1])
    policies = sorted(directory.glob("*.json"))
    failed = not policies
    if not policies:
        print(f"no policy in {directory}", file=sys.stderr)
    for path in policies:
        for problem in problems(path):
            failed = True
            print(f"{path.name}: {problem}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
