"""Writes docs/iam/web-policy.json and worker-policy.json from the roles' "skillreel"
policies in deploy/skillreel.yaml, with the placeholders the docs use (MEDIA_BUCKET,
ARTIFACT_BUCKET, REGION, ACCOUNT_ID, KMS_KEY_ID), so the template is their one source.

    python3 deploy/iam.py            rewrite docs/iam/*.json
    python3 deploy/iam.py --check    exit 1 when they differ from the template (deploy/test.sh)
    python3 deploy/iam.py --out DIR  write them into DIR instead
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "test"))
import cfn_yaml  # noqa: E402

ROLES = {"WebRole": "web-policy.json", "WorkerRole": "worker-policy.json"}
SUBSTITUTIONS = {
    "${MediaBucket.Arn}": "arn:aws:s3:::MEDIA_BUCKET",
    "${ArtifactBucket}": "ARTIFACT_BUCKET",
    "${AWS::Partition}": "aws",
    "${AWS::Region}": "REGION",
    "${AWS::AccountId}": "ACCOUNT_ID",
}
ATTRIBUTES = {
    ("MediaBucket", "Arn"): "arn:aws:s3:::MEDIA_BUCKET",
    ("ConfigKey", "Arn"): "arn:aws:kms:REGION:ACCOUNT_ID:key/KMS_KEY_ID",
}


def render(value: Any) -> Any:
    """The template's policy with every intrinsic function replaced by its placeholder."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            for variable, placeholder in SUBSTITUTIONS.items():
                text = text.replace(variable, placeholder)
            if "${" in text:
                raise ValueError(f"no placeholder for a variable in {value['Fn::Sub']!r}")
            return text
        if set(value) == {"Fn::GetAtt"}:
            return ATTRIBUTES[tuple(value["Fn::GetAtt"])]
        if any(key == "Ref" or key.startswith("Fn::") for key in value):
            raise ValueError(f"no placeholder for {value!r}")
        return {key: render(item) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item) for item in value]
    return value


def policies(template_path: pathlib.Path) -> dict[str, str]:
    resources = cfn_yaml.load(template_path)["Resources"]
    files = {}
    for role, file_name in ROLES.items():
        (document,) = [
            p["PolicyDocument"] for p in resources[role]["Properties"]["Policies"] if p["PolicyName"] == "skillreel"
        ]
        files[file_name] = json.dumps(render(document), indent=2) + "\n"
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "iam")
    parser.add_argument("--template", type=pathlib.Path, default=ROOT / "deploy" / "skillreel.yaml")
    args = parser.parse_args()
    stale = []
    for file_name, text in policies(args.template).items():
        path = args.out / file_name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date with {args.template}: {', '.join(stale)} (run python3 deploy/iam.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
