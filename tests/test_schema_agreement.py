"""The JSON Schema that editors use and the loader give the same verdict.

Shipped specs are mutated one value at a time (a key dropped or added, a value replaced by
one of another type or out of range), and each mutant is judged twice: by a JSON Schema
validator over `caegen schema` and by `caegen.loads`. Duplicate keys are not drawn (JSON
Schema sees parsed data). Limits, by design: JSON Schema's "integer" accepts 3.0, which
the loader refuses (a YAML float is not an int), so integral floats are not drawn; cross-
field rules (strides with dilation, output_padding below strides) are the loader's alone.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

import caegen
from caegen.core.diagnostics import CaegenError
from caegen.spec.schema import json_schema
from tests.conftest import SPECS

jsonschema = pytest.importorskip("jsonschema")

VALUES: list[Any] = [
    True, False, 0, -1, 1, 2, 2.5, -0.5, 1e-3, 70000, "2", "x", "same", "relu", None,
    [], {}, [1, 2], [0, 0], float("inf"), float("-inf"),
]  # fmt: skip
MUTANTS = 3000


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def mutate(data: dict, rng: random.Random) -> dict:
    data = copy.deepcopy(data)
    path = rng.choice(_paths(data))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    op = rng.random()
    if op < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    elif op < 0.2 and isinstance(parent, dict):
        parent[rng.choice(["bogus", "extra_field"])] = 1
    else:
        parent[path[-1]] = rng.choice(VALUES)
    return data


def loader_accepts(data: dict) -> bool:
    try:
        caegen.loads(yaml.safe_dump(data, sort_keys=False))
    except CaegenError:
        return False
    return True


def test_schema_and_loader_agree_on_mutated_specs():
    validator = jsonschema.Draft202012Validator(json_schema())
    shipped = [yaml.safe_load(p.read_text()) for p in sorted(Path(SPECS).glob("*.yaml"))]
    rng = random.Random(0)
    disagreements = []
    for _ in range(MUTANTS):
        data = mutate(rng.choice(shipped), rng)
        schema_ok, loader_ok = validator.is_valid(data), loader_accepts(data)
        if schema_ok != loader_ok:
            disagreements.append((schema_ok, loader_ok, data))
    assert not disagreements, (
        f"{len(disagreements)} of {MUTANTS} verdicts differ, e.g. schema "
        f"{'accepts' if disagreements[0][0] else 'rejects'} and the loader "
        f"{'accepts' if disagreements[0][1] else 'rejects'}: {disagreements[0][2]}"
    )


@pytest.mark.parametrize(
    "layer",
    [
        {"filters": 4, "kernel_size": 3},  # no type
        {"type": "reshape", "target_shape": [4, 0, 1]},
        {"type": "gaussian_noise", "stddev": float("inf")},
    ],
)
def test_both_reject(layer):
    spec = yaml.safe_load((SPECS / "quickstart.yaml").read_text())
    spec["encoder"][0] = layer
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not validator.is_valid(spec) and not loader_accepts(spec)
