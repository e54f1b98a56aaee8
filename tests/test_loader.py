"""User mistakes in spec files: each a located diagnostic, never a traceback."""

from __future__ import annotations

import pytest

import caegen
from caegen.core.diagnostics import CaegenError


def load_error(text: str) -> CaegenError:
    with pytest.raises(CaegenError) as info:
        caegen.loads(text, file="spec.yaml")
    return info.value


def test_missing_file(tmp_path):
    with pytest.raises(CaegenError) as info:
        caegen.load(tmp_path / "nope.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "E001" and "nope.yaml" in d.message


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(CaegenError) as info:
        caegen.load(tmp_path)
    assert info.value.diagnostics[0].code == "E001"


def test_malformed_yaml_has_line_and_column():
    (d,) = load_error("name: x\ninput: [1, 2\nencoder: []\n").diagnostics
    assert d.code == "E002" and d.location.line == 3


def test_not_a_mapping():
    (d,) = load_error("- 1\n- 2\n").diagnostics
    assert d.code == "E012"


def test_empty_file():
    (d,) = load_error("").diagnostics
    assert d.code == "E012"


def test_unknown_layer_type_suggests_closest(spec_text):
    text = spec_text(encoder="\n  - {type: maxpool2d}")
    (d,) = load_error(text).diagnostics
    assert d.code == "E010"
    assert "did you mean `max_pool2d`" in d.hint
    assert (d.location.line, d.location.column) == (4, 12)


def test_unknown_field_suggests_closest(spec_text):
    text = spec_text(encoder="\n  - {type: conv2d, filters: 4, kernel_size: 3, stride: 2}")
    (d,) = load_error(text).diagnostics
    assert d.code == "E011" and "did you mean `strides`" in d.hint
    assert d.location.line == 4 and d.location.column == 48


def test_unknown_top_level_field(spec_text):
    text = spec_text() + "trian: {epochs: 3}\n"
    (d,) = load_error(text).diagnostics
    assert d.code == "E011" and "did you mean `train`" in d.hint and d.location.line == 7


def test_unknown_optimizer_name(spec_text):
    text = spec_text() + "train:\n  optimizer: {name: adamm}\n"
    (d,) = load_error(text).diagnostics
    assert d.code == "E010" and "adam" in d.hint and d.location.line == 8


def test_optimizer_field_is_checked_per_optimizer(spec_text):
    text = spec_text() + "train:\n  optimizer: {name: adam, momentum: 0.9}\n"
    (d,) = load_error(text).diagnostics
    assert d.code == "E011" and "beta_1" in d.hint


@pytest.mark.parametrize(
    ("layer", "field"),
    [
        ("{type: conv2d, filters: -4, kernel_size: 3}", "filters"),
        ("{type: conv2d, filters: 4, kernel_size: 2.5}", "kernel_size"),
        ("{type: conv2d, filters: 4, kernel_size: 3.0}", "kernel_size"),
        ("{type: conv2d, filters: '4', kernel_size: 3}", "filters"),
    ],
)
def test_invalid_values_point_at_the_field(spec_text, layer, field):
    (d,) = load_error(spec_text(encoder=f"\n  - {layer}")).diagnostics
    assert d.code == "E012"
    assert d.location.path == f"encoder[0].{field}"
    assert d.location.line == 4


def test_missing_required_fields(spec_text):
    diagnostics = load_error("name: x\ninput: [8, 8, 1]\n").diagnostics
    assert {d.code for d in diagnostics} == {"E013"}
    assert {d.location.path for d in diagnostics} == {"encoder", "decoder"}


def test_duplicate_keys(spec_text):
    (d,) = load_error(spec_text() + "name: again\n").diagnostics
    assert d.code == "E003" and d.location.line == 7


def test_python_tags_are_refused():
    (d,) = load_error("name: !!python/object/apply:os.system ['echo hi']\n").diagnostics
    assert d.code == "E002"


def test_bad_name_and_input(spec_text):
    diagnostics = load_error(spec_text(name="My Model", input="[28, 28]")).diagnostics
    assert [d.location.path for d in diagnostics] == ["name", "input"]


def test_folder_source_needs_a_path(spec_text):
    (d,) = load_error(spec_text() + "data: {source: folder}\n").diagnostics
    assert d.code == "E012" and "needs `path`" in d.message


def test_valid_spec_keeps_its_source(spec_text):
    spec = caegen.loads(spec_text(), file="x.yaml")
    assert spec.source is not None and spec.source.file == "x.yaml"
    assert spec.encoder[0].strides == (2, 2)
    assert len(spec.spec_hash()) == 16


def test_yaml_on_off_toggles(spec_text):
    spec = caegen.loads(spec_text() + "train: {mixed_precision: off, jit_compile: on}\n")
    assert spec.train.mixed_precision == "off" and spec.train.jit_compile == "on"


def _alias_bomb(levels: int = 9) -> str:
    """Nested YAML aliases whose full expansion has 9**levels elements."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_are_not_expanded():
    text = _alias_bomb() + "name: *a8\n"
    diagnostics = load_error(text).diagnostics
    unknown = [d for d in diagnostics if d.code == "E011"]
    assert len(unknown) == 9
    (name,) = [d for d in diagnostics if d.location.path == "name"]
    assert name.code == "E012" and name.location.line == 10
    assert len(name.message) < 500


def test_anchors_and_merge_keys_work(spec_text):
    spec = caegen.loads(
        spec_text(
            encoder="\n  - &conv {type: conv2d, filters: 4, kernel_size: 3, strides: 2}",
            decoder="\n  - {<<: *conv, type: conv2d_transpose, filters: 1}",
        )
    )
    (layer,) = spec.decoder
    assert layer.type == "conv2d_transpose" and layer.filters == 1 and layer.strides == (2, 2)


def test_deep_nesting_is_an_error_not_a_crash():
    (d,) = load_error("name: " + "[" * 5000 + "]" * 5000 + "\n").diagnostics
    assert d.code == "E002" and "nesting" in d.message


def test_recursive_alias_is_an_error():
    (d,) = load_error("a: &a [*a]\n").diagnostics
    assert d.code == "E002"


@pytest.mark.parametrize("key", ["[[1]]", "{a: 1}", "[1, 2]"])
def test_collection_keys_are_refused(key):
    (d,) = load_error(f"? {key}\n: x\nname: y\n").diagnostics
    assert d.code == "E002" and "plain value" in d.message and d.location.line == 1


@pytest.mark.parametrize(
    ("train", "field"),
    [
        ("{seed: true}", "seed"),
        ("{seed: 4294967296}", "seed"),
        ("{seed: '3'}", "seed"),
        ("{optimizer: {name: adam, learning_rate: '2'}}", "learning_rate"),
        ("{optimizer: {name: adam, learning_rate: .inf}}", "learning_rate"),
        ("{optimizer: {name: sgd, momentum: .nan}}", "momentum"),
        ("{batch_size: 99999999999999999999}", "batch_size"),
        ("{weight_decay: {l2: true}}", "l2"),
    ],
)
def test_values_are_taken_as_yaml_typed_them_and_bounded(spec_text, train, field):
    """No bool-as-int, no numeric strings, no infinities: what `check` accepts can train."""
    (d,) = load_error(spec_text(train=train)).diagnostics
    assert d.code == "E012" and field in (d.location.path or "")


def test_a_nul_byte_keeps_the_reason():
    (d,) = load_error("name: x\x00\n").diagnostics
    assert d.code == "E002" and "NUL" in d.message and d.location.line == 1


@pytest.mark.parametrize(
    ("layer", "unknown", "suggested", "not_listed"),
    [
        ("{type: batch_norm, momentun: 0.9}", "momentun", "momentum", "filters"),
        ("{type: group_norm, grups: 2}", "grups", "groups", "kernel_size"),
        (
            "{type: conv2d_transpose, filters: 2, kernel_size: 3, output_pading: 1}",
            "output_pading",
            "output_padding",
            "units",
        ),
        (
            "{type: separable_conv2d, filters: 2, kernel_size: 3, depth_multiplyer: 2}",
            "depth_multiplyer",
            "depth_multiplier",
            "units",
        ),
        ("{type: dense, units: 8, unit: 4}", "unit", "units", "kernel_size"),
        ("{type: max_pool2d, pool_sise: 2}", "pool_sise", "pool_size", "filters"),
        ("{type: upsampling2d, sise: 2}", "sise", "size", "filters"),
        ("{type: dropout, rate: 0.5, rat: 0.5}", "rat", "rate", "filters"),
        (
            "{type: activation, activation: relu, activaton: 1}",
            "activaton",
            "activation",
            "filters",
        ),
    ],
    ids=[
        "batch_norm",
        "group_norm",
        "conv2d_transpose",
        "separable",
        "dense",
        "pool",
        "upsampling",
        "dropout",
        "activation",
    ],
)
def test_unknown_field_is_answered_with_that_layer_types_fields(
    spec_text, layer, unknown, suggested, not_listed
):
    (d,) = load_error(spec_text(encoder=f"\n  - {layer}")).diagnostics
    assert d.code == "E011" and f"`{unknown}`" in d.message
    assert f"did you mean `{suggested}`" in d.hint and not_listed not in d.hint


def test_unknown_field_of_the_activation_layer_names_that_field(spec_text):
    text = spec_text(encoder="\n  - {type: activation, activation: leaky_relu, slope: 0.1}")
    (d,) = load_error(text).diagnostics
    assert d.code == "E011" and "unknown field `slope`" in d.message
    assert "did you mean `activation`" not in d.hint


@pytest.mark.parametrize(
    ("layer", "field", "hint"),
    [
        (
            "{type: conv2d, filters: 2, kernel_size: 3, strides: 2, dilation_rate: 2}",
            "dilation_rate",
            "use strides: 1 with the dilation",
        ),
        (
            "{type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 2, output_padding: 2}",
            "output_padding",
            "use output_padding 0 (or up to strides - 1)",
        ),
    ],
)
def test_cross_field_errors_point_at_the_field_and_say_the_fix(spec_text, layer, field, hint):
    (d,) = load_error(spec_text(encoder=f"\n  - {layer}")).diagnostics
    assert d.code == "E012" and d.location.path == f"encoder[0].{field}"
    assert d.message.count("received") == 0 and hint in d.hint
    assert d.location.column == 5 + layer.index(f"{field}:") + len(f"{field}: ")  # its value


def test_input_needs_three_numbers(spec_text):
    (d,) = load_error(spec_text(input="[28, 28]")).diagnostics
    assert d.code == "E012" and d.location.path == "input"
    assert "H, W, C" in d.message and "[28, 28, 1]" in d.hint
    assert "missing required field `2`" not in d.message


def test_a_layer_type_that_is_no_name_is_refused_beside_defaults():
    text = (
        "name: x\ninput: [8, 8, 1]\ndefaults: {activation: relu}\n"
        "encoder:\n  - {type: [1, 2], filters: 4, kernel_size: 3}\n"
        "decoder:\n  - {type: conv2d, filters: 1, kernel_size: 3}\n"
    )
    with pytest.raises(CaegenError) as caught:
        caegen.loads(text)
    assert caught.value.diagnostics[0].code in {"E010", "E012", "E013"}
