"""Small things a newcomer meets: switches that read as switches in --help, a missing
Optuna said like any missing extra, a first ETA that leaves out compilation, `caegen sample`
that replaces nothing unasked and plots any 2-D latent."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.cli.progress import RichProgress
from caegen.core.diagnostics import CaegenError
from tests.conftest import ROOT, SPECS

runner = CliRunner()
COMMANDS = ["check", "summary", "train", "export", "schema", "init", "sample", "sweep", "compare"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["caegen", *COMMANDS])
def test_switches_show_as_flags_in_help(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output and "<bool>" not in result.output


def test_check_help_lists_fix_and_strict_without_a_type():
    output = runner.invoke(app, ["check", "--help"], env={"COLUMNS": "160"}).output
    (fix,) = [line for line in output.splitlines() if "--fix " in line]
    assert fix.split("--fix", 1)[1].split()[0] == "Apply"  # no type between flag and help
    (strict,) = [line for line in output.splitlines() if "--strict" in line]
    assert "--no-strict" in strict and "<bool>" not in strict
    (fmt,) = [line for line in output.splitlines() if "--format" in line]
    assert "<text|json>" in fmt  # options that take a value keep their type


def test_a_missing_optuna_is_a_missing_extra(tmp_path):
    """E066 as for pygls or SQLAlchemy, before the sweep folder exists."""
    spec = tmp_path / "blocks.yaml"
    spec.write_text((ROOT / "examples" / "sweep" / "blocks.yaml").read_text())
    code = (
        "import sys; sys.modules['optuna'] = None\n"
        f"sys.argv = ['caegen', 'sweep', {str(spec)!r}, '--sampler', 'tpe', '--objective',"
        " 'params', '--set', 'encoder[0].filters=2,4']\n"
        "from caegen.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "E066" in result.stderr and "caegen[sweep]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "sweeps").exists()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_epochs(progress: RichProgress, clock: Clock, epochs: int, first_step_s: float) -> None:
    """Two epochs of 10 steps, 0.1 s each, the very first taking `first_step_s` (tracing
    and compiling); the trainer's ETA is the last epoch's time times the epochs left."""
    for epoch in (1, 2):
        started = clock.now
        for step in range(1, 11):
            clock.now += first_step_s if (epoch, step) == (1, 1) else 0.1
            progress.batch(epoch, step, 10, 0.5)
        row = {"epoch": epoch, "loss": 0.5, "val_loss": 0.5, "images_per_s": 100.0}
        progress.epoch(row, epochs, (clock.now - started) * (epochs - epoch))


def test_the_first_eta_is_measured_after_compilation():
    out = io.StringIO()
    clock = Clock()
    progress = RichProgress(Console(file=out, width=120), clock=clock)
    info = {
        "run_dir": "runs/x/1", "data": "d", "train_images": 640, "test_images": 10,
        "params": 1, "device": "CPU", "mixed_precision": False, "jit_compile": False,
        "initial_epoch": 0, "epochs": 30,
    }  # fmt: skip
    progress.start(info)
    run_epochs(progress, clock, 30, first_step_s=100.0)
    progress.stop()
    first, second = [line for line in out.getvalue().splitlines() if line.startswith("epoch")]
    assert first.endswith("ETA 29s")  # 10 steps x 0.1 s x 29 epochs, not 101 s x 29
    assert second.endswith("ETA 28s")  # the trainer's own estimate from then on


# --- caegen sample ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plain_2d(tmp_path_factory):
    """A plain (not variational) autoencoder with a 1x1x2 code, trained briefly."""
    spec = caegen.load(SPECS / "digits_2d_latent.yaml")
    out = tmp_path_factory.mktemp("runs")
    return caegen.train(spec, epochs=1, batch_size=32, limit=64, out=out).run_dir


@pytest.mark.keras
@pytest.mark.slow
def test_scatter_and_points_for_a_plain_autoencoder_with_a_2d_latent(plain_2d, tmp_path):
    from PIL import Image

    from caegen.export.sample import sample

    done = sample(plain_2d, scatter=True, points=[(0.0, 0.0), (1.0, -1.0)], out=tmp_path)
    assert [p.name for p in done.written] == ["decoded_points.png", "latent_scatter.png"]
    scatter = np.asarray(Image.open(tmp_path / "latent_scatter.png").convert("RGB"))
    hues = {tuple(c) for c in scatter.reshape(-1, 3)[::7] if max(c) - min(c) > 60}
    assert len(hues) > 20  # points coloured by label, and a colour bar
    decoded = np.asarray(Image.open(tmp_path / "decoded_points.png").convert("L"))
    assert decoded.std() > 5


@pytest.mark.keras
@pytest.mark.slow
def test_sample_replaces_nothing_without_force(plain_2d, tmp_path):
    from caegen.export.sample import sample

    sample(plain_2d, scatter=True, out=tmp_path)
    before = (tmp_path / "latent_scatter.png").read_bytes()
    (tmp_path / "latent_scatter.png").write_bytes(b"mine")
    with pytest.raises(CaegenError) as info:
        sample(plain_2d, scatter=True, points=[(0.5, 0.5)], out=tmp_path)
    (d,) = info.value.diagnostics
    assert d.code == "E050" and "latent_scatter.png" in d.message and "--force" in d.hint
    assert (tmp_path / "latent_scatter.png").read_bytes() == b"mine"
    assert not (tmp_path / "decoded_points.png").exists()  # refused before anything
    sample(plain_2d, scatter=True, out=tmp_path, force=True)
    assert (tmp_path / "latent_scatter.png").read_bytes()[:4] == before[:4] == b"\x89PNG"


@pytest.mark.keras
@pytest.mark.slow
def test_sample_cli_scatter_points_and_refusals(plain_2d, tmp_path):
    args = ["sample", str(plain_2d), "--scatter", "--point", "0.5,-1", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "decoded_points.png" in result.output and "latent_scatter.png" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "E050" in again.output
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    bad = runner.invoke(app, ["sample", str(plain_2d), "--point", "1,x", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "E012" in bad.output and "Traceback" not in bad.output


@pytest.mark.keras
@pytest.mark.slow
def test_scatter_needs_a_2d_latent(tmp_path):
    from caegen.export.sample import sample

    run = caegen.train(
        caegen.load(SPECS / "quickstart.yaml"), epochs=1, batch_size=32, limit=64, out=tmp_path
    ).run_dir
    with pytest.raises(CaegenError) as info:
        sample(run, scatter=True, out=tmp_path / "figures")
    (d,) = info.value.diagnostics
    assert d.code == "E065" and "(4, 4, 8)" in d.message
    assert not (tmp_path / "figures").exists()
