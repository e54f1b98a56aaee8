"""The static passes' arithmetic on a spec's numbers is bounded: huge strides, sizes and
counts, and very deep strided stacks, give diagnostics or a summary, never an
OverflowError; `check`, `summary`, `sweep` points and the editor all survive them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.cli.render import layer_table, summary_totals
from caegen.compile.passes.shapes import RF_CAP
from caegen.core.diagnostics import CaegenError
from caegen.core.limits import MAX_INT
from caegen.editor.analysis import analyze, hover_text, layer_at

runner = CliRunner()

SIZES = st.one_of(
    st.integers(1, 9),
    st.integers(1, MAX_INT),
    st.sampled_from([MAX_INT, MAX_INT + 1, 2**63, 10**40]),
    st.integers(MAX_INT + 1, 10**400),
)


def stride_2_stack(depth: int) -> str:
    layers = "".join(
        "  - {type: conv2d, filters: 1, kernel_size: 3, strides: 2}\n" for _ in range(depth)
    )
    return (
        f"name: deep\ninput: [28, 28, 1]\nencoder:\n{layers}"
        "decoder:\n  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 28}\n"
    )


def checked(text: str) -> caegen.Report | None:
    try:
        return caegen.check(caegen.loads(text))
    except CaegenError:
        return None


def test_the_issues_stride_and_a_deep_stride_2_stack_are_answered(tmp_path: Path):
    huge = tmp_path / "huge.yaml"
    huge.write_text(stride_2_stack(1).replace("strides: 2}", "strides: 1" + "0" * 400 + "}", 1))
    result = runner.invoke(app, ["check", "-f", "json", str(huge)])
    found = json.loads(result.output)["results"][0]["diagnostics"]
    assert result.exit_code == 1 and found[0]["code"] == "E012"
    assert "less than or equal to 2147483647" in found[0]["message"]
    report = checked(stride_2_stack(1200))  # 2^1200 overflows a float
    assert report is not None and report.ok
    assert report.receptive_field == (int(RF_CAP), int(RF_CAP))
    assert "receptive field  >=9,007,199,254,740,992x" in "\n".join(summary_totals(report))


def test_a_feature_map_past_int32_is_e030_not_a_giant_number():
    text = stride_2_stack(1).replace(
        "{type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 28}",
        f"{{type: upsampling2d, size: {MAX_INT}}}",
    )
    report = checked(text)
    assert report is not None
    (e030,) = [d for d in report.diagnostics if d.code == "E030"]
    assert "larger than 2,147,483,647" in e030.message


def test_the_editor_answers_on_such_specs():
    for text in (stride_2_stack(1200), stride_2_stack(1).replace("strides: 2", "strides: 1e400")):
        analysis = analyze(text, "deep.yaml")
        assert analysis.diagnostics or analysis.report is not None
        if analysis.report is not None:
            node = layer_at(analysis.report, 5)
            assert node is not None and "receptive field" in hover_text(analysis.report, node)


LAYERS = [
    "{{type: conv2d, filters: {a}, kernel_size: {b}, strides: {c}}}",
    "{{type: conv2d_transpose, filters: {a}, kernel_size: {b}, strides: {c}}}",
    "{{type: max_pool2d, pool_size: {a}, strides: {b}}}",
    "{{type: upsampling2d, size: {a}}}",
    "{{type: zero_padding2d, padding: {a}}}",
    "{{type: cropping2d, cropping: {a}}}",
    "{{type: depthwise_conv2d, kernel_size: {a}, depth_multiplier: {b}}}",
    "{{type: separable_conv2d, filters: {a}, kernel_size: {b}, dilation_rate: {c}}}",
    "{{type: dense, units: {a}}}",
    "{{type: flatten}}",
    "{{type: reshape, target_shape: [{a}, {b}, {c}]}}",
    "{{type: group_norm, groups: {a}}}",
]


@st.composite
def specs(draw: st.DrawFn) -> str:
    def layer() -> str:
        template = draw(st.sampled_from(LAYERS))
        return template.format(a=draw(SIZES), b=draw(SIZES), c=draw(SIZES))

    enc = [layer() for _ in range(draw(st.integers(1, 6)))]
    dec = [layer() for _ in range(draw(st.integers(1, 4)))]
    h, w, c = draw(SIZES), draw(SIZES), draw(st.integers(1, 4))
    return (
        f"name: big\ninput: [{h}, {w}, {c}]\n"
        + "encoder:\n"
        + "".join(f"  - {x}\n" for x in enc)
        + "decoder:\n"
        + "".join(f"  - {x}\n" for x in dec)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_any_sizes_give_diagnostics_or_a_summary_quickly(text):
    started = time.perf_counter()
    report = checked(text)
    if report is not None:
        json.dumps(report.to_dict())  # every number prints (no int too long for str())
        layer_table(report)
        summary_totals(report)
        ratio = report.compression_ratio
        assert ratio is None or ratio > 0
    assert time.perf_counter() - started < 2.0


def test_summary_and_check_of_a_deep_stack_through_the_cli(tmp_path: Path):
    spec = tmp_path / "deep.yaml"
    spec.write_text(stride_2_stack(1200))
    for command in (["check", "--no-table"], ["summary"]):
        result = runner.invoke(app, [*command, str(spec)])
        assert result.exit_code == 0, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert sys.getrecursionlimit() >= 1000  # nothing above depended on raising it
