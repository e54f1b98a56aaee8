"""`caegen check` latency: a cold process versus building the model in Keras to find out.

Also scaling: generated specs of 10 to 2,000 layers, cold process and in-process.
Goals: <= 0.3 s cold on the shipped specs, >= 25x faster than the Keras route (wall, and
CPU seconds, which other load on the machine does not inflate),
2,000 layers <= 1 s, growth close to linear.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, alternate, median, table, write_result

SPECS = sorted(p for p in (ROOT / "specs").glob("*.yaml") if "bug" not in p.name)
# The Keras route costs ~10 s a process here: it is measured on a representative subset.
KERAS_SUBSET = ("quickstart", "cifar10_method2", "mnist_2d_latent", "cifar10_conv_dense")
KERAS_ROUTE = "import sys, caegen, keras\ncaegen.build(caegen.load(sys.argv[1]))\nprint('{}')\n"
# Where a cold check's time goes: each stage is a fresh process that does everything the
# stage before it did, and more. The CLI switches pydantic's plugin scan off; so do these.
BREAKDOWN_SPEC = ROOT / "specs" / "cifar10_bn_before_activation.yaml"  # the largest shipped
BREAKDOWN_STAGES = (
    ("Python interpreter start", "pass"),
    (
        "+ pydantic (BaseModel, Field) and PyYAML",
        "from pydantic import BaseModel, Field; import yaml",
    ),
    ("+ caegen's spec models and compiler", "import caegen.spec.loader, caegen.compile.compiler"),
    (
        "+ load and check (validator build)",
        "import sys, caegen; caegen.check(caegen.load(sys.argv[1]))",
    ),
)
CLI_STACK = "import typer, rich.console, rich.table"
# `caegen check` as users run it (the fast start, where the revision has one), and the same
# command line through the typer app; both are given it as the process's own command line
# (`check SPEC`), which the fast start takes only then.
CLI_CHECK = (
    "import sys, runpy; sys.argv[0] = 'caegen'; runpy.run_module('caegen', run_name='__main__')"
)
TYPER_CHECK = "import sys; sys.argv[0] = 'caegen'; from caegen.cli import main; main()"


CPU_SECONDS: dict[str, list[float]] = {"check": [], "keras": []}
"""CPU seconds (user + system) of each cold process, by route: unlike wall time, other load
on a shared machine does not inflate them."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_check(spec: Path) -> float:
    """A cold `caegen check` as a user runs it: layer table, diagnostics, OK line."""
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(
        [sys.executable, "-m", "caegen", "check", str(spec)],
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    CPU_SECONDS["check"].append(_children_cpu() - cpu)
    return time.perf_counter() - start


def cold_keras(spec: Path) -> float:
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(
        [sys.executable, "-c", KERAS_ROUTE, str(spec)],
        capture_output=True,
        check=True,
        cwd=ROOT,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin"},
    )
    CPU_SECONDS["keras"].append(_children_cpu() - cpu)
    return time.perf_counter() - start


def cold_python(code: str, *args: str, root: Path = ROOT) -> float:
    """A fresh process running `code` with the caegen of `root` (another checkout: the
    baseline); its CPU seconds."""
    cpu = _children_cpu()
    subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__", "PYTHONPATH": str(root)},
    )
    return _children_cpu() - cpu


def stage_breakdown(repeats: int, root: Path = ROOT) -> dict[str, Any]:
    """CPU seconds of each cumulative stage of the check path in a cold process, and of the
    CLI stack, for the caegen at `root`."""
    spec = str(BREAKDOWN_SPEC)
    stages = [
        {
            "stage": name,
            "cold_s": median([cold_python(code, *args, root=root) for _ in range(repeats)]),
        }
        for name, code, args in (
            *((name, code, [spec]) for name, code in BREAKDOWN_STAGES),
            ("caegen check (the table too), as users run it", CLI_CHECK, ["check", spec]),
            ("caegen check through the typer command line", TYPER_CHECK, ["check", spec]),
        )
    ]
    stack = median([cold_python(CLI_STACK, root=root) for _ in range(repeats)])
    return {"spec": BREAKDOWN_SPEC.name, "stages": stages, "typer_rich_alone_s": stack}


def baseline_breakdown(ref: str, repeats: int) -> dict[str, Any]:
    """The same breakdown for the caegen of git revision `ref` (a temporary worktree)."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "-q", "--detach", str(tree), ref], cwd=ROOT, check=True
        )
        try:
            return {"ref": ref, **stage_breakdown(repeats, tree)}
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )


def generated_spec(layers: int) -> str:
    """A valid spec of about `layers` layers: conv / batch_norm / activation blocks."""
    per_side = max(1, layers // 2)
    block = [
        "  - {type: conv2d, filters: 4, kernel_size: 3}",
        "  - {type: batch_norm}",
        "  - {type: activation, activation: relu}",
    ]
    enc = [block[i % 3] for i in range(per_side)]
    dec = [block[i % 3] for i in range(per_side - 1)]
    dec.append("  - {type: conv2d, filters: 1, kernel_size: 3, activation: sigmoid}")
    return (
        "name: generated\ninput: [8, 8, 1]\nencoder:\n"
        + "\n".join(enc)
        + "\ndecoder:\n"
        + "\n".join(dec)
        + "\n"
    )


def in_process(text: str, repeats: int) -> float:
    import caegen

    caegen.check(caegen.loads(text))  # warm-up: pydantic builds its validators once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        report = caegen.check(caegen.loads(text))
        times.append(time.perf_counter() - start)
        assert report.ok, [d.message for d in report.errors][:3]
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
    parser.add_argument(
        "--baseline-ref",
        default=None,
        help="also break down the check path of this git revision (before vs after)",
    )
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    specs = [ROOT / "specs" / "quickstart.yaml"] if args.quick else SPECS

    rows = [["spec", "caegen check (s)", "keras build (s)", "ratio"]]
    per_spec = []
    for spec in specs:
        with_keras = args.quick or spec.stem in KERAS_SUBSET
        sides = {"check": lambda s=spec: cold_check(s)}
        if with_keras:
            sides["keras"] = lambda s=spec: cold_keras(s)
        runs = alternate(sides, 1 if args.quick else (3 if with_keras else repeats))
        c = median(runs["check"])
        k = median(runs["keras"]) if with_keras else None
        per_spec.append(
            {"spec": spec.name, "check_s": c, "keras_s": k, "ratio": k / c if k else None}
        )
        rows.append([spec.stem, f"{c:.3f}", f"{k:.2f}" if k else "", f"{k / c:.1f}x" if k else ""])
    print(table(rows))

    sizes = [10, 100] if args.quick else [10, 100, 1000, 2000]
    scaling = []
    srows = [["layers", "cold process (s)", "in-process (ms)", "in-process us/layer"]]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            text = generated_spec(n)
            path = Path(tmp) / f"gen{n}.yaml"
            path.write_text(text)
            cold = median([cold_check(path) for _ in range(repeats)])
            warm = in_process(text, repeats)
            scaling.append({"layers": n, "cold_s": cold, "in_process_s": warm})
            srows.append([str(n), f"{cold:.3f}", f"{warm * 1000:.1f}", f"{warm / n * 1e6:.0f}"])
    print()
    print(table(srows))
    stages = stage_breakdown(repeats)
    before = baseline_breakdown(args.baseline_ref, repeats) if args.baseline_ref else None
    frows = [
        ["stage (cumulative)", "CPU s"] + ([f"CPU s at {args.baseline_ref}"] if before else [])
    ]
    for i, r in enumerate(stages["stages"]):
        frows.append(
            [r["stage"], f"{r['cold_s']:.3f}"]
            + ([f"{before['stages'][i]['cold_s']:.3f}"] if before else [])
        )
    frows.append(
        [f"for reference: {CLI_STACK}", f"{stages['typer_rich_alone_s']:.3f}"]
        + ([f"{before['typer_rich_alone_s']:.3f}"] if before else [])
    )
    print()
    print(table(frows))
    worst = max(r["check_s"] for r in per_spec)
    cpu_check, cpu_keras = median(CPU_SECONDS["check"]), median(CPU_SECONDS["keras"])
    summary = {
        "cpu_ratio_vs_keras": cpu_keras / cpu_check,
        "cold_check_cpu_s": cpu_check,
        "keras_route_cpu_s": cpu_keras,
        "max_cold_check_s": worst,
        "min_ratio_vs_keras": min(r["ratio"] for r in per_spec if r["ratio"]),
        "median_ratio_vs_keras": median([r["ratio"] for r in per_spec if r["ratio"]]),
        "largest_generated_cold_s": scaling[-1]["cold_s"],
    }
    print(
        f"\nworst cold check {worst:.3f} s (goal <= 0.3 s); "
        f"min ratio {summary['min_ratio_vs_keras']:.1f}x (goal >= 25x); in CPU seconds "
        f"{cpu_check:.3f} against {cpu_keras:.2f}: {summary['cpu_ratio_vs_keras']:.1f}x"
    )
    path = write_result(
        "check_latency",
        {
            "quick": args.quick,
            "repeats": repeats,
            "specs": per_spec,
            "scaling": scaling,
            "breakdown": stages,
            "baseline_breakdown": before,
            "summary": summary,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
