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
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

import caegen
from caegen.core.diagnostics import CaegenError
from caegen.spec.schema import json_schema
from caegen.spec.yamlpos import safe_dump, safe_load
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
        caegen.loads(safe_dump(data, sort_keys=False))
    except CaegenError:
        return False
    return True


def test_schema_and_loader_agree_on_mutated_specs():
    validator = jsonschema.Draft202012Validator(json_schema())
    shipped = [safe_load(p.read_text()) for p in sorted(Path(SPECS).glob("*.yaml"))]
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
    spec = safe_load((SPECS / "quickstart.yaml").read_text())
    spec["encoder"][0] = layer
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not validator.is_valid(spec) and not loader_accepts(spec)


def _best_match(section: str, index: int, layer: Any) -> Any:
    """python-jsonschema's best guess at what is wrong with the quickstart spec with one
    layer replaced."""
    spec = safe_load((SPECS / "quickstart.yaml").read_text())
    spec[section][index] = layer
    validator = jsonschema.Draft202012Validator(json_schema())
    return jsonschema.exceptions.best_match(validator.iter_errors(spec))


@pytest.mark.parametrize(
    ("section", "index", "layer", "where", "says"),
    [
        ("encoder", 1, {"type": "max_pool2d", "pool_size": "two"},
         "$.encoder[1].pool_size", "'two'"),
        ("encoder", 0, {"type": "conv2d", "kernel_size": 3},
         "$.encoder[0]", "'filters' is a required"),
        ("encoder", 0, {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2},
         "$.encoder[0]", "('stride' was unexpected)"),
        ("encoder", 0, {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "full"},
         "$.encoder[0].padding", "'full' is not one of ['same', 'valid']"),
        ("encoder", 0, {"type": "maxpool2d"}, "$.encoder[0].type", "not one of ['conv2d'"),
        ("encoder", 0, {"filters": 4}, "$.encoder[0]", "'type' is a required property"),
        ("decoder", 0, {"type": "dense", "units": -1}, "$.decoder[0].units", "minimum of 0"),
        ("encoder", 1, {"type": "max_pool2d", "filters": 4}, "$.encoder[1]",
         "('filters' was unexpected)"),
    ],
)  # fmt: skip
def test_a_standard_validator_names_the_layer_and_field(section, index, layer, where, says):
    """Each layer is checked against its own type's schema (`if`/`then` on the tag), not a
    `oneOf` over every type: the error is that layer's and that field's."""
    error = _best_match(section, index, layer)
    assert error.json_path == where and says in error.message


def test_an_optimizers_fields_are_its_own():
    spec = safe_load((SPECS / "quickstart.yaml").read_text())
    validator = jsonschema.Draft202012Validator(json_schema())
    spec["train"]["optimizer"] = {"name": "adam", "beta_1": "x"}
    error = jsonschema.exceptions.best_match(validator.iter_errors(spec))
    assert error.json_path == "$.train.optimizer.beta_1"
    spec["train"]["optimizer"] = {"name": "adam", "momentum": 0.9}  # an SGD field
    error = jsonschema.exceptions.best_match(validator.iter_errors(spec))
    assert error.json_path == "$.train.optimizer" and "'momentum' was unexpected" in error.message


def test_the_schema_has_no_openapi_keywords():
    assert "discriminator" not in json.dumps(json_schema())


YAML_LS = shutil.which("yaml-language-server")


@pytest.mark.skipif(YAML_LS is None, reason="yaml-language-server (npm) is not on PATH")
def test_yaml_language_server_completes_a_layers_own_fields(tmp_path):
    """yaml-language-server (Node) reads the schema through a modeline and, inside a layer,
    offers that layer type's fields only: a `conv2d` is not offered conv2d_transpose's
    `output_padding` (it takes a `const` as met by any prefix of it, see the schema)."""
    from tests.lsp_client import LspProcess

    (tmp_path / "caegen.schema.json").write_text(json.dumps(json_schema()))
    text = (
        "# yaml-language-server: $schema=caegen.schema.json\n"
        "name: t\ninput: [16, 16, 1]\nencoder:\n"
        "  - type: conv2d\n    \n"
        "  - {type: conv2d, fi}\n"
        "  - {type: max_pool2d, po}\n"
    )
    uri = (tmp_path / "t.yaml").as_uri()
    server = LspProcess(tmp_path / "stderr.log", command=[str(YAML_LS), "--stdio"])
    try:
        server.initialize(tmp_path)
        server.open(uri, text)

        def labels(line: int, character: int) -> set[str]:
            where = {
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": character},
            }
            result = server.request("textDocument/completion", where)
            items = result["items"] if isinstance(result, dict) else result
            return {item["label"] for item in items}

        for line, character in ((5, 4), (6, 21)):  # a block mapping, a flow mapping
            offered = labels(line, character)
            assert {"filters", "kernel_size", "dilation_rate"} <= offered
            assert "output_padding" not in offered and "pool_size" not in offered
        pool = labels(7, 25)
        assert "pool_size" in pool and "filters" not in pool
    finally:
        server.close()


def test_the_schema_bounds_labels_by_source():
    import jsonschema

    schema = json_schema()
    base = safe_load((SPECS / "quickstart.yaml").read_text())
    for data, valid in (
        ({"source": "mnist", "normal": [9]}, True),
        ({"source": "mnist", "normal": [70000]}, False),
        ({"normal": [10]}, False),  # digits, the default source
        ({"source": "cifar100", "classes": [99]}, True),
        ({"source": "patches", "classes": [1]}, False),
        ({"source": "mnist", "classes": [3, 7, 3]}, False),  # each label once
        ({"source": "mnist", "classes": [3, 7], "normal": [7, 7]}, False),
    ):
        spec = {**base, "data": data}
        assert jsonschema.Draft202012Validator(schema).is_valid(spec) is valid, data
        assert loader_accepts(spec) is valid, data
