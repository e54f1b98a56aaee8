"""Numbers as people write them: YAML 1.2's `1e-9`, `1E+3`, `.5` and `-2e-4` are floats in
specs, space files and `--set` values (PyYAML's YAML 1.1 resolver read them as strings);
quoted strings stay strings and are refused as before, and positions do not move."""

from __future__ import annotations

import json

import pytest
import yaml

import caegen
from caegen.core.diagnostics import CaegenError
from caegen.spec.yamlpos import safe_dump, safe_load
from caegen.sweep.space import dimension
from tests.conftest import ROOT, run_caegen

BLOCKS = (ROOT / "examples" / "sweep" / "blocks.yaml").read_text()


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1e-9", 1e-9),
        ("1E+3", 1000.0),
        (".5", 0.5),
        ("-.5", -0.5),
        ("-2e-4", -2e-4),
        ("3e2", 300.0),
    ],
)
def test_yaml_12_floats_are_floats(written, value):
    if written != ".5":  # YAML 1.1 has `.5`, not the others
        assert yaml.safe_load(written) == written  # what PyYAML alone does: a string
    loaded = safe_load(written)
    assert isinstance(loaded, float) and loaded == value


@pytest.mark.parametrize(
    ("written", "value"),
    [("12", 12), ("09", "09"), ("0x10", 16), ("1_000", 1000), ("'1e-9'", "1e-9"), ("1e", "1e")],
)
def test_everything_else_resolves_as_before(written, value):
    loaded = safe_load(written)
    assert loaded == value and type(loaded) is type(value)
    assert loaded == yaml.safe_load(written)


def test_the_single_layer_studys_weight_decay_loads(spec_text):
    spec = caegen.loads(
        spec_text(train="{weight_decay: {l2: 1e-9}, optimizer: {name: adam, learning_rate: 1E-3}}")
    )
    assert spec.train.weight_decay.l2 == 1e-9
    assert spec.train.optimizer.learning_rate == 1e-3


def test_a_1_2_float_where_an_integer_belongs_is_refused_at_its_position(spec_text):
    with pytest.raises(CaegenError) as info:
        caegen.loads(spec_text(train="{epochs: 1e1}"), file="s.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "E012" and d.location.path == "train.epochs"
    assert (d.location.line, d.location.column) == (7, 17) and "10.0" in d.message


def test_quoted_numbers_stay_strings_and_are_refused(spec_text):
    with pytest.raises(CaegenError) as info:
        caegen.loads(spec_text(train="{weight_decay: {l2: '1e-9'}}"), file="s.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "E012" and d.location.path == "train.weight_decay.l2"
    assert (d.location.line, d.location.column) == (7, 28) and "'1e-9'" in d.message


def test_positions_after_a_1_2_float_are_unchanged(spec_text):
    with pytest.raises(CaegenError) as info:
        caegen.loads(spec_text(train="{weight_decay: {l2: 1e-9, scope: al}}"), file="s.yaml")
    (d,) = info.value.diagnostics
    assert d.location.path == "train.weight_decay.scope"
    assert (d.location.line, d.location.column) == (7, 41)


def test_a_resolved_spec_reads_back_as_the_same_values(spec_text):
    """The dumper quotes a string that would read as a float (a name `1e5`)."""
    spec = caegen.loads(spec_text(name="'1e5'", train="{weight_decay: {l2: 1e-9}}"))
    again = caegen.loads(safe_dump(spec.resolved(), sort_keys=False))
    assert again.name == "1e5" and again.train.weight_decay.l2 == 1e-9
    assert again.spec_hash() == spec.spec_hash()


def test_sweep_values_read_1_2_floats():
    base = safe_load(BLOCKS)
    flow = dimension("train.optimizer.learning_rate=[1e-3, 2E-3, .5]", base)
    assert flow.choices == [1e-3, 2e-3, 0.5]
    plain = dimension("train.optimizer.learning_rate=1e-3,-2e-4", base)
    assert plain.choices == [1e-3, -2e-4]


def test_a_sweep_over_a_spec_and_space_written_with_1_2_floats(tmp_path):
    spec = tmp_path / "blocks.yaml"
    spec.write_text(
        BLOCKS.replace(
            "loss: bce}",
            "loss: bce, weight_decay: {l2: 1e-9}, optimizer: {name: adam, learning_rate: 1e-3}}",
        )
    )
    space = tmp_path / "space.yaml"
    space.write_text("train.optimizer.learning_rate: [1e-3, 2E-3]\n")
    result = run_caegen(
        "sweep", str(spec), "--space", str(space), "--set", "train.weight_decay.l2=[0, 1e-6]",
        "--objective", "params", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (tmp_path / "sweeps" / "blocks").iterdir()
    rows = json.loads((folder / "leaderboard.json").read_text())
    assert [r["status"] for r in rows] == ["finished"] * 4
    best = caegen.load(folder / "best.yaml")
    assert best.train.optimizer.learning_rate in (1e-3, 2e-3)
    assert best.train.weight_decay.l2 in (0, 1e-6)
