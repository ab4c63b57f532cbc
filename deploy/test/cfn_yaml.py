"""Reads a CloudFormation YAML template into plain data, short-form tags included:
`!Ref X` becomes {"Ref": "X"}, `!GetAtt A.B` {"Fn::GetAtt": ["A", "B"]}, `!Sub s`
{"Fn::Sub": s}, and so on for every `!Tag` (as `Fn::Tag`)."""

from __future__ import annotations

import pathlib
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_Loader.add_multi_constructor("!", _tag)


def load(path: str | pathlib.Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
