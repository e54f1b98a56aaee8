"""`caegen check`, `init`, `schema` and `--help` through typer's CliRunner and subprocesses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.spec.schema import json_schema
from tests.conftest import FIXTURES, ROOT, SPECS

runner = CliRunner()
DIAG = FIXTURES / "diagnostics"


def test_clean_spec_exits_0_with_ok_line():
    result = runner.invoke(app, ["check", str(SPECS / "cifar10_method2.yaml")])
    assert result.exit_code == 0, result.output
    assert "OK " in result.output
    assert "19,363 params (19,107 trainable, 256 non-trainable)" in result.output
    assert "bnorm1_1" in result.output  # the layer table


def test_errors_exit_1_and_render_file_line_col():
    result = runner.invoke(app, ["check", "--no-table", str(SPECS / "cifar10_method1_bug.yaml")])
    assert result.exit_code == 1
    assert result.output.count("E040 error: dead branch") == 4
    assert "cifar10_method1_bug.yaml:9:5: E040 error" in result.output
    assert "hint: make `mpool1_1` read it" in result.output
    assert "18,851 params" in result.output


def test_layer_table_rows_and_columns():
    result = runner.invoke(app, ["check", str(SPECS / "cifar10_method1_bug.yaml")])
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    assert lines[header].split() == [
        "#",
        "name",
        "type",
        "inputs",
        "output",
        "params",
        "non-train",
        "MACs",
    ]
    rows = lines[header + 1 : header + 14]
    assert [r.split()[0] for r in rows] == [f"encoder[{i}]" for i in range(6)] + [
        f"decoder[{i}]" for i in range(7)
    ]
    dead = [r.split()[1] for r in rows if "(dead)" in r]
    assert dead == ["bnorm1_1", "bnorm1_2", "bnorm2_1", "bnorm2_2"]
    # right-aligned numbers: every row's output shape ends where the header's `output` does
    output_end = lines[header].index("output") + len("output")
    for row in rows:
        shape = row.split()[5 if "(dead)" in row else 4]
        assert row.index(" " + shape + " ") + 1 + len(shape) == output_end, row
    assert "bnorm1_1 (dead)  batch_norm    conv1_1   32x32x64     256        128" in rows[1]


def test_layer_table_styles_dead_rows():
    import io

    from rich.console import Console

    from caegen.cli.render import layer_table

    report = caegen.check(caegen.load(SPECS / "cifar10_method1_bug.yaml"))
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard")
    console.print(layer_table(report), soft_wrap=True)
    lines = console.file.getvalue().splitlines()
    assert lines[0].startswith("\x1b[1m#")  # bold header
    assert "\x1b[2;9m" in lines[2] and "bnorm1_1" in lines[2]  # dead: dim, struck through
    assert "\x1b[" not in lines[1]  # live rows are plain


METHOD1 = (SPECS / "cifar10_method1_bug.yaml").read_text()
METHOD2 = (SPECS / "cifar10_method2.yaml").read_text()


def struck_rows(text: str) -> list[str]:
    """The names the rendered layer table marks dead: `(dead)` and struck through."""
    from caegen.cli.render import layer_table

    report = caegen.check(caegen.loads(text))
    rows = layer_table(report).render(ansi=True).splitlines()[1:]
    marked = [row.split()[1] for row in rows if "(dead)" in row]
    assert marked == [row.split()[1] for row in rows if "\x1b[2;9m" in row]
    return marked


@pytest.mark.parametrize("layer", ["up2_2, size: 2", "mpool1_1, pool_size: 2"])
def test_an_unknown_reference_on_the_path_marks_no_layer_dead(layer):
    """What the misspelt name meant is open: any layer above it may be live."""
    text = METHOD2.replace(f"{layer}}}", f"{layer}, inputs: no_such_layer}}")
    assert text != METHOD2 and "E020" in {d.code for d in caegen.check(caegen.loads(text)).errors}
    assert struck_rows(text) == []
    report = caegen.check(caegen.loads(text))
    assert None in [layer["live"] for layer in report.to_dict()["layers"]]
    from caegen.cli.render import verdict_line

    assert "params" not in verdict_line(report).plain  # no live-graph count to give


def test_an_unknown_reference_leaves_dead_what_no_mending_could_revive():
    # the first layer may read only the input: the four batch norms stay dead
    first = METHOD1.replace("activation: relu}", "activation: relu, inputs: inptu}", 1)
    assert struck_rows(first) == ["bnorm1_1", "bnorm1_2", "bnorm2_1", "bnorm2_2"]
    # a misspelt name in a layer nothing reads: that layer is dead, the rest live
    side = METHOD2.replace(
        "  - {type: batch_norm, name: bnorm1_1}",
        "  - {type: conv2d, name: side, filters: 2, kernel_size: 1, inputs: conv11}\n"
        "  - {type: batch_norm, name: bnorm1_1, inputs: conv1_1}",
    )
    assert struck_rows(side) == ["side"]
    assert struck_rows(METHOD1) == ["bnorm1_1", "bnorm1_2", "bnorm2_1", "bnorm2_2"]


def test_strict_fails_on_warnings():
    spec = str(SPECS / "cifar10_method2.yaml")
    assert runner.invoke(app, ["check", spec]).exit_code == 0
    result = runner.invoke(app, ["check", "--strict", spec])
    assert result.exit_code == 1 and "W103" in result.output


def test_strict_verdict_is_per_file_and_consistent_in_json():
    clean, warned = str(SPECS / "quickstart.yaml"), str(SPECS / "cifar10_method2.yaml")
    result = runner.invoke(app, ["check", "--strict", "--no-table", clean, warned])
    assert result.exit_code == 1
    assert f"OK {clean}" in result.output and f"OK {warned}" not in result.output
    assert f"FAILED {warned}: 0 error(s), 4 warning(s) (--strict" in result.output
    result = runner.invoke(app, ["check", "--strict", "--format", "json", clean, warned])
    data = json.loads(result.output)
    assert data["ok"] is False and data["strict"] is True
    assert [r["ok"] for r in data["results"]] == [True, False]


UNET = (FIXTURES / "unet.yaml").read_text()


def test_suppression_per_layer_per_spec_and_on_the_command_line(tmp_path):
    spec = tmp_path / "unet.yaml"
    spec.write_text(UNET)
    result = runner.invoke(app, ["check", "--strict", "--no-table", str(spec)])
    assert result.exit_code == 1 and "W105" in result.output  # a real U-Net skip
    layer = UNET.replace("inputs: [up, e1]}", "inputs: [up, e1], ignore: [W105]}")
    spec.write_text(layer)
    result = runner.invoke(app, ["check", "--strict", "--no-table", str(spec)])
    assert result.exit_code == 0, result.output
    assert "W105 warning" not in result.output and "1 finding(s) suppressed" in result.output
    spec.write_text(UNET + "lint: {ignore: [W105, I106, I108]}\n")
    result = runner.invoke(app, ["check", "--strict", "--no-table", str(spec)])
    assert result.exit_code == 0 and "3 finding(s) suppressed" in result.output
    spec.write_text(UNET)
    result = runner.invoke(
        app, ["check", "--strict", "--no-table", "--ignore", "w105,I108", str(spec)]
    )
    assert result.exit_code == 0 and "I106" in result.output and "I108" not in result.output
    result = runner.invoke(app, ["check", "--no-table", "--select", "W", str(spec)])
    assert "I106" not in result.output and "W105" in result.output


def test_a_suppression_that_suppresses_nothing_is_reported(tmp_path):
    spec = tmp_path / "unet.yaml"
    spec.write_text(
        UNET.replace("{type: max_pool2d}", "{type: max_pool2d, ignore: [W103]}")
        + "lint: {ignore: [W101]}\n"
    )
    report = caegen.check(caegen.load(spec))
    unused = [d for d in report.diagnostics if d.code == "I110"]
    assert [d.location.path for d in unused] == ["encoder[1].ignore", "lint.ignore"]
    assert "encoder[1]" in unused[0].message and unused[0].location.line == 6


def test_errors_cannot_be_suppressed(tmp_path):
    spec = tmp_path / "bug.yaml"
    spec.write_text((SPECS / "cifar10_method1_bug.yaml").read_text() + "lint: {ignore: [E040]}\n")
    result = runner.invoke(app, ["check", "--no-table", str(spec)])
    assert result.exit_code == 1 and "E012" in result.output and "lint.ignore" in result.output


def test_version():
    result = subprocess.run(
        [sys.executable, "-m", "caegen", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == f"caegen {caegen.__version__}"


def test_json_format_is_stable():
    result = runner.invoke(
        app,
        ["check", "--format", "json", str(SPECS / "cifar10_method2.yaml"), str(DIAG / "E040.yaml")],
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["version"] == 1 and data["ok"] is False
    good, bad = data["results"]
    assert good["ok"] and good["summary"]["params"] == {
        "total": 19363,
        "trainable": 19107,
        "non_trainable": 256,
    }
    assert good["summary"]["latent_shape"] == [8, 8, 16]
    assert set(good["layers"][0]) == {
        "name",
        "type",
        "path",
        "inputs",
        "output_shape",
        "params",
        "macs",
        "live",
        "line",
    }
    (diag,) = [d for d in bad["diagnostics"] if d["severity"] == "error"]
    assert diag["code"] == "E040" and diag["name"] == "dead-branch"
    assert diag["location"] == {
        "file": str(DIAG / "E040.yaml"),
        "line": 6,
        "column": 5,
        "path": "encoder[1]",
    }


def test_json_for_unloadable_spec(tmp_path):
    result = runner.invoke(app, ["check", "-f", "json", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1
    (res,) = json.loads(result.output)["results"]
    assert res["summary"] is None and res["diagnostics"][0]["code"] == "E001"


def test_user_mistakes_never_traceback(tmp_path):
    cases = {
        "missing": None,
        "yaml": "name: x\ninput: [1, 2\n",
        "type": "name: x\ninput: [8,8,1]\nencoder: [{type: nope}]\ndecoder: [{type: flatten}]\n",
        "cycle": (DIAG / "E023.yaml").read_text(),
        "binary": "\x00\x01",
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.yaml"
        if text is not None:
            path.write_text(text)
        result = runner.invoke(app, ["check", str(path)])
        assert result.exit_code == 1, name
        assert result.exception is None or isinstance(result.exception, SystemExit), name
        assert "Traceback" not in result.output


def test_init_list_and_write(tmp_path):
    listing = runner.invoke(app, ["init", "--list"])
    assert listing.exit_code == 0 and "quickstart" in listing.output
    out = tmp_path / "mine.yaml"
    result = runner.invoke(app, ["init", "quickstart", "--out", str(out)])
    assert result.exit_code == 0 and out.read_text().startswith("# yaml-language-server")
    again = runner.invoke(app, ["init", "quickstart", "--out", str(out)])
    assert again.exit_code == 1 and "E050" in again.output
    assert runner.invoke(app, ["init", "quickstart", "--out", str(out), "--force"]).exit_code == 0
    (tmp_path / "file").write_text("mine\n")
    blocked = runner.invoke(app, ["init", "quickstart", "--out", str(tmp_path / "file" / "q.yaml")])
    assert blocked.exit_code == 1 and "E057" in blocked.output
    unknown = runner.invoke(app, ["init", "quikstart"])
    assert unknown.exit_code == 1 and "did you mean `quickstart`" in unknown.output


def test_schema_is_the_committed_one():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    committed = (ROOT / "docs" / "caegen.schema.json").read_text()
    assert json.loads(result.output) == json.loads(committed), "run `make schema`"


def test_check_and_help_never_import_tensorflow():
    code = (
        "import sys\n"
        "from caegen.cli import app\n"
        "for argv in (['--help'], ['check', '--no-table', sys.argv[1]]):\n"
        "    try:\n"
        "        app(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf2onnx', 'onnx', 'onnxruntime', 'optuna', 'pygls'))\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(SPECS / "cifar10_method2.yaml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "HEAVY []" in out, out


def test_diagnostic_code_table_is_current():
    from caegen.core.diagnostics import codes_markdown

    assert (ROOT / "docs" / "diagnostics.md").read_text() == codes_markdown(), (
        "regenerate docs/diagnostics.md"
    )


def test_readme_code_table_is_current():
    from caegen.core.diagnostics import codes_markdown

    readme = (ROOT / "README.md").read_text()
    for line in codes_markdown().splitlines():
        if line.startswith("| E") or line.startswith("| W") or line.startswith("| I"):
            assert line in readme, f"README's code table is stale at: {line}"


def test_every_shipped_spec_points_editors_at_the_schema():
    for path in SPECS.glob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../docs/caegen.schema.json", path.name


@pytest.mark.parametrize("options", [[], ["--epochs", "1", "--batch-size", "8"]])
def test_train_points_a_graph_error_at_its_file_line_and_column(options, tmp_path):
    """train checks the spec with its options applied, and the error still points into the
    file (it once lost the file's text whenever it rebuilt the spec)."""
    fixture = DIAG / "E031.yaml"
    result = runner.invoke(app, ["train", str(fixture), *options, "--out", str(tmp_path)])
    assert result.exit_code == 1 and not any(tmp_path.iterdir())
    assert f"{fixture}:10:5: E031 error" in result.output
    assert "   10 |   - {type: max_pool2d, pool_size: 2}" in result.output


def test_summary_shows_warnings_and_errors_with_their_source_line():
    result = runner.invoke(app, ["summary", str(SPECS / "cifar10_method2.yaml")])
    assert result.exit_code == 0
    assert "W103 warning" in result.output and "|   - {type: batch_norm, name: bnorm1_1}" in (
        result.output
    )
    result = runner.invoke(app, ["summary", str(SPECS / "cifar10_method1_bug.yaml")])
    assert result.exit_code == 1
    assert "E040 error" in result.output and "    9 |   - {type: batch_norm" in result.output


def test_a_closed_pipe_ends_quietly():
    """`caegen init --list | head`: the reader goes away; no traceback, no error exit 1."""
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "caegen", "init", "--list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before caegen writes anything
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == -signal.SIGPIPE and err == b""


@pytest.mark.slow
def test_init_gives_editor_completion_from_an_installed_copy(tmp_path):
    """A non-editable install, used from another directory: the spec's modeline names a
    schema file that exists next to it and is caegen's schema."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), "-q", "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import caegen; print(caegen.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site))
    result = subprocess.run(
        [sys.executable, "-m", "caegen", "init", "quickstart", "--out", "specs/q.yaml"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    spec = elsewhere / "specs" / "q.yaml"
    modeline = spec.read_text().splitlines()[0]
    assert modeline.startswith("# yaml-language-server: $schema=")
    schema = spec.parent / modeline.split("$schema=", 1)[1]  # resolved from the YAML's folder
    assert json.loads(schema.read_text()) == json_schema()
    again = subprocess.run(
        [sys.executable, "-m", "caegen", "check", "--no-table", str(spec)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stdout + again.stderr


def test_init_never_replaces_a_schema_file_that_is_not_caegens(tmp_path):
    (tmp_path / "caegen.schema.json").write_text('{"title": "mine"}')
    result = runner.invoke(app, ["init", "quickstart", "--out", str(tmp_path / "q.yaml")])
    assert result.exit_code == 0 and "kept" in result.output
    assert (tmp_path / "caegen.schema.json").read_text() == '{"title": "mine"}'


def test_schema_out(tmp_path):
    result = runner.invoke(app, ["schema", "--out", str(tmp_path / "s.json")])
    assert result.exit_code == 0
    assert json.loads((tmp_path / "s.json").read_text()) == json_schema()


def test_a_spec_that_does_not_load_is_read_once_for_all_its_findings(tmp_path, monkeypatch):
    """Each finding's snippet came from reading the spec again: a spec with thousands of
    unknown fields took minutes (200,000: seven), as reads of the whole file per finding."""
    import caegen.cli.render as render
    from caegen.cli import failures
    from caegen.cli.checker import check_files

    spec = tmp_path / "many.yaml"
    spec.write_text(
        (SPECS / "quickstart.yaml").read_text() + "".join(f"k{i}: 1\n" for i in range(50))
    )
    reads: list[str] = []
    read = render.read_input_text

    def counted(path, *args, **kwargs):
        reads.append(str(path))
        return read(path, *args, **kwargs)

    monkeypatch.setattr(render, "read_input_text", counted)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert check_files([spec], table=False) == 1
    assert reads == [str(spec)] and sys.stdout.getvalue().count("| k49: 1") == 1
    with pytest.raises(caegen.CaegenError) as failed:
        caegen.load(spec)
    reads.clear()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    failures.report(failed.value.diagnostics)
    assert reads == [str(spec)] and sys.stderr.getvalue().count("E011") == 50
