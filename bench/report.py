"""Render docs/benchmarks.md from the JSON that the benchmark scripts wrote."""

from __future__ import annotations

import json
import statistics
import sys

from _common import RESULTS, ROOT

COLD_NOTE = (
    "**Cold `caegen check` (goal <= 0.3 s).** The static path imports no TensorFlow and "
    "checking itself takes a few milliseconds; the time goes to importing and building the "
    "stack (the breakdown above). Already done: deferred pydantic schema builds, no string "
    "annotations in the model modules (they cost a `compile()` each), pydantic's plugin "
    "entry-point scan switched off, libyaml's parser, a `check` that loads neither typer nor "
    "rich, lazy imports everywhere else."
)
RATIO_NOTE = """\
**Ratio against the Keras route (goal >= 25x).** The Keras route costs {keras_range}
here (TensorFlow's import dominates), so the ratio is bounded by the cold-check time
above; it reaches the goal when the check process is under about {needed:.2f} s."""

SCALING_NOTE = """\
**2,000 layers (goal <= 1 s).** In-process checking grows linearly (per-layer cost in
the table); the cold process adds the fixed start-up cost above to it."""

RATIO_GOAL = 25


def missed_goal_notes(check: dict | None) -> str:
    """Why each missed check-latency goal is missed; nothing for goals that are met."""
    if not check:
        return ""
    summary = check["summary"]
    keras_times = [r["keras_s"] for r in check["specs"] if r["keras_s"]]
    notes = []
    if summary["max_cold_check_s"] > 0.3:
        notes.append(COLD_NOTE)
    if keras_times and summary["min_ratio_vs_keras"] < RATIO_GOAL:
        notes.append(
            RATIO_NOTE.format(
                keras_range=f"{min(keras_times):.1f}-{max(keras_times):.1f} s",
                needed=min(keras_times) / RATIO_GOAL,
            )
        )
    if summary["largest_generated_cold_s"] > 1.0:
        notes.append(SCALING_NOTE)
    if not notes:
        return ""
    return "\n\n".join(["## What limits the missed goals", *notes]) + "\n"


def machine_line(machine: dict, main_machine: dict) -> list[str]:
    """Where a section was measured, when that is not the machine named at the top."""
    if (machine["cpu"], machine["cores"]) == (main_machine["cpu"], main_machine["cores"]):
        return []
    return [f"Measured on: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}.", ""]


def breakdown_lines(check: dict) -> list[str]:
    """Where a cold check's CPU seconds go, stage by stage (and at a baseline revision)."""
    stages, before = check.get("breakdown"), check.get("baseline_breakdown")
    if not stages:
        return []
    ref = before["ref"] if before else None
    head = "| stage (cumulative) | CPU s |" + (f" CPU s at {ref} |" if ref else "")
    lines = [
        f"Where a cold check of {stages['spec']} goes: each stage a fresh process that also "
        "does every stage above it, medians of CPU seconds"
        + (f", beside the same stages at {ref}" if ref else "")
        + ":",
        "",
        head,
        "| --- | ---: |" + (" ---: |" if ref else ""),
    ]
    for i, r in enumerate(stages["stages"]):
        was = f" {before['stages'][i]['cold_s']:.3f} |" if ref else ""
        lines.append(f"| {r['stage']} | {r['cold_s']:.3f} |{was}")
    was = f" {before['typer_rich_alone_s']:.3f} |" if ref else ""
    lines += [
        f"| for reference: typer and rich alone | {stages['typer_rich_alone_s']:.3f} |{was}",
        "",
    ]
    return lines


GPU_NOTES = """\
Under XLA the two sides compile to the same computation, and their ratios fall inside
the spread of one side's own rounds (about +-10% here): parity, as expected. The GPU is
far from busy: Method 2 needs about 38 MFLOP per image for a training step, so
100,000 images/s is under 4 TFLOP/s on a chip that does hundreds. Feeding NumPy batches
from the host bounds both sides; `caegen train` feeds a cached, prefetched tf.data
pipeline instead, which this GPU machine (no TensorFlow) could not run. At batch 256 the
same run gave ratios 1.19x / 1.00x / 1.03x and speed-ups 1.23x (float16) and 1.16x
(bfloat16)."""


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def sweep_section(sweep: dict) -> list[str]:
    """How fast samplers stop proposing invalid points (bench/sweep_invalid.py)."""
    rows = []
    for name in ("independent TPE", "multivariate", "random"):
        r = sweep[name]
        n = 30 * len(r["trials_1_30"])
        first, second = sum(r["trials_1_30"]) / n, sum(r["trials_31_60"]) / n
        per_seed = ", ".join(f"{a}/{b}" for a, b in zip(r["trials_1_30"], r["trials_31_60"]))
        rows.append(f"| {name} | {first:.0%} | {second:.0%} | {per_seed} |")
    tpe = sweep["independent TPE"]
    learned = sum(tpe["trials_31_60"]) < sum(tpe["trials_1_30"])
    return [
        "## Sweeps: invalid points (`bench/sweep_invalid.py`)",
        "",
        "1-4 pooling blocks on a 28x28 input (3 and 4 cannot come back: half the region is "
        "invalid) and two filter counts (2..64, log), searched for the fewest parameters (a "
        "static objective, so every point is only checked), "
        f"{len(tpe['trials_1_30'])} seeds of 60 proposals each. An invalid point is a pruned "
        "Optuna trial with a violated constraint. Multivariate is Optuna 5's default TPE "
        "(caegen uses the independent one); random counts distinct points.",
        "",
        "| sampler | invalid in proposals 1-30 | in 31-60 | per seed (of 30) |",
        "| --- | ---: | ---: | --- |",
        *rows,
        "",
        f"Independent TPE proposes fewer invalid points in trials 31-60 than in 1-30 "
        f"(goal: {verdict(learned)}). An invalid point costs only its static check: median "
        f"{sweep['invalid_check_ms_median']:.1f} ms on this machine, where a training of the "
        "smallest valid point takes seconds.",
        "",
    ]


def lsp_section(lsp: dict) -> list[str]:
    """Findings while typing (bench/lsp_latency.py)."""
    s = lsp["summary"]
    return [
        "## Findings while typing (`bench/lsp_latency.py`)",
        "",
        f"`caegen lsp` as a real process over stdio, a {lsp['layers']}-layer spec, "
        f"{lsp['edits']} edits, each a `didChange` waited out to its `publishDiagnostics`. "
        f"The latency includes the server's {s['debounce_ms']:.0f} ms debounce; the same "
        f"load-and-check takes {s['check_in_process_ms']:.1f} ms in-process.",
        "",
        "| median | p90 | max | goal (median < 100 ms) |",
        "| ---: | ---: | ---: | --- |",
        f"| {s['median_ms']:.1f} ms | {s['p90_ms']:.1f} ms | {s['max_ms']:.1f} ms "
        f"| {verdict(s['goal_met'])} |",
        "",
    ] + (lsp_start_lines(lsp) if "start_median_ms" in s else [])


def lsp_start_lines(lsp: dict) -> list[str]:
    """From starting `caegen lsp` to its first findings (bench/lsp_latency.py)."""
    s = lsp["summary"]
    load = s.get("load_average")
    return [
        f"From starting `caegen lsp` to the first findings on the same spec (`initialize` and "
        f"`didOpen` sent as soon as the server answers; {len(lsp['starts_ms'])} starts, "
        "alternating with `python -c pass`"
        + (f"; load average {load:.1f} on the machine" if load is not None else "")
        + "). The server answers the start of a session before it imports pygls, which it "
        "hands the session to after publishing.",
        "",
        "| median | max | `python -c pass` | ratio to it | ratio to an edit | goal (< 0.5 s) |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {s['start_median_ms']:.0f} ms | {s['start_max_ms']:.0f} ms | "
        f"{s['python_pass_ms']:.0f} ms | {s['start_over_python_pass']:.1f}x | "
        f"{s['start_over_edit']:.1f}x | {verdict(s['start_goal_met'])} |",
        "",
    ]


def score_section(score: dict) -> list[str]:
    """`caegen score` against a plain forward pass (bench/score_throughput.py)."""
    s, sides = score["summary"], score["sides"]
    rows = [
        f"| {name} | {v['seconds']:.3f} | {score['images'] / v['seconds']:,.0f} | "
        f"{v['ratio']:.2f}x |"
        for name, v in sides.items()
    ]
    return [
        "## Anomaly scoring (`bench/score_throughput.py`)",
        "",
        f"`caegen score` on {score['images']:,} 32x32 texture patches with a run of "
        f"{score['spec']}; alternating, medians of {score['repeats']} repeats. `forward` is "
        "the autoencoder alone over the same batches of 256; `mse`, `ssim`, `max-residual` "
        "caegen's scoring pass (input pipeline, reconstruction, map and score in one "
        "TensorFlow function); `command` the whole call without and with figures, against "
        "`forward command` (the model loaded from the run, then the forward pass).",
        "",
        "| side | seconds | images/s | ratio to forward |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        f"Scoring pass at most {s['max_scorer_ratio']:.2f}x the forward pass (goal <= 2x): "
        f"{verdict(s['max_scorer_ratio'] <= 2.0)}. The whole command, without figures, is "
        f"{s['command_over_forward_command']:.2f}x loading the model and running it: it also "
        "rebuilds the run's data to score the threshold's calibration images, traces the "
        "scorer, and writes the CSV, the maps and the JSON; the figures add matplotlib's "
        "rendering.",
        "",
    ]


def before_after_section(ba: dict) -> list[str]:
    """The single-process path before and after a change (bench/before_after.py)."""
    s = ba["summary"]
    return [
        "## Single-process training before and after (`bench/before_after.py`)",
        "",
        f"`bench/train_throughput.py` run {ba['rounds']} times in a worktree of {ba['before']} "
        f"(before multi-worker training) and {ba['rounds']} times at {ba['after']}, "
        "alternating; medians of caegen's images/s and of its ratio to the plain Keras "
        "baseline of the same invocation.",
        "",
        "| side | revision | caegen images/s | caegen / plain Keras |",
        "| --- | --- | ---: | ---: |",
        *(
            f"| {side} | {ba[side]} | {s[f'caegen_{side}']:,.0f} | "
            f"{s[f'ratio_to_keras_{side}']:.2f}x |"
            for side in ("before", "after")
        ),
        "",
        f"After / before: {s['after_over_before']:.3f} (goal >= 0.97, within run-to-run "
        f"noise: {verdict(s['after_over_before'] >= 0.97)}).",
        "",
    ]


def scaling_section(scaling: dict) -> list[str]:
    """The check of a 10,000-layer spec whose every batch norm has a fix (check_scaling)."""
    s = scaling["summary"]
    return [
        "## Checking 10,000 layers with a fix each (`bench/check_scaling.py`)",
        "",
        f"{s['layers']:,} layers, checked in process: conv + batch-norm pairs (each batch norm "
        f"after a relu is a W103 finding with a fix: {s['w103_fixes']:,} of them) against "
        "plain convs; medians of CPU seconds, alternating. The fix search once rescanned the "
        "graph and the text per finding (4,000 pairs took 20 s).",
        "",
        "| plain convs | conv + batch norm | ratio | goal (< 2 s, linear) |",
        "| ---: | ---: | ---: | --- |",
        f"| {s['plain_s']:.2f} s | {s['batch_norm_s']:.2f} s | {s['ratio']:.2f}x "
        f"| {verdict(s['batch_norm_s'] < 2.0)} |",
        "",
    ]


def fuzz_section(fuzz: dict) -> list[str]:
    """Mutated inputs through the static boundary (bench/fuzz_inputs.py)."""
    s = fuzz["summary"]
    kinds = ", ".join(f"{k} {n:,}" for k, n in s["by_kind"].items())
    return [
        "## Fuzzing the inputs (`bench/fuzz_inputs.py`)",
        "",
        f"{s['cases']:,} cases from seed {fuzz['seed']} ({kinds}) over {s['workers']} "
        f"processes in {s['seconds'] / 60:.1f} min: {s['cases_per_s']:,.0f} cases/s. A case "
        "passes when it gives a diagnostic (or none); any other exception, or more than 2 s "
        "of CPU, fails it.",
        "",
        "| cases | failures | slowest case (CPU) | slowest case (wall) | goal |",
        "| ---: | ---: | ---: | ---: | --- |",
        f"| {s['cases']:,} | {s['failures']} | {s['slowest_case_cpu_s']:.3f} s "
        f"| {s['slowest_case_wall_s']:.3f} s "
        f"| {verdict(s['cases'] >= 1_000_000 and not s['failures'] and not s['too_slow'])} |",
        "",
    ]


def bn_section(bn: dict) -> list[str]:
    s, runs = bn["summary"], bn["runs"]
    epoch = {clock: statistics.median(runs["epoch"][clock]) for clock in ("wall", "cpu")}

    def row(name: str, label: str) -> str:
        wall, cpu = (statistics.median(runs[name][clock]) for clock in ("wall", "cpu"))
        return (
            f"| {label} | {wall:.2f} | {wall / epoch['wall']:.2f} | {cpu:.2f} | "
            f"{cpu / epoch['cpu']:.2f} |"
        )

    return [
        "## Precise batch norm (`bench/bn_recalibration.py`)",
        "",
        f"specs/cifar10_strided_bn.yaml ({bn['layers']} batch-norm layers in a chain: "
        f"{bn['stages']} stages) trained on {bn['train_images']:,} `patches` images for "
        f"{bn['epochs']} epochs of batch {bn['batch_size']}; then, in the same process, "
        f"{bn['repeats']} alternating rounds of each pass over the training images (each "
        "builds and traces its functions, as a run does) and of one more training epoch "
        "(batches and validation, the step already traced). Medians; CPU time sums all "
        "threads and is the steadier measure on a busy machine.",
        "",
        "| pass | wall (s) | / epoch | CPU (s) | / epoch |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("kept", "recalibration, kept tensors (what a run does)"),
        row("from_input", "recalibration, each stage from the input"),
        row("forward", "one inference pass over the same images"),
        row("epoch", "one training epoch"),
        "",
        "Every layer runs once over the training images (each stage continues from the "
        "tensors the previous one kept); the pass costs "
        f"{s['cpu_ratio_to_epoch'] / s['forward_cpu_ratio_to_epoch']:.1f}x an inference pass "
        "in CPU time, the rest being each batch-norm input's moments and a traced function "
        f"per stage. The run's own pass took {s['in_run_s']:.2f} s (its first call). Test "
        f"PSNR {s['psnr_before']:.2f} dB with the moving averages, {s['psnr_after']:.2f} dB "
        "settled. Goal: under one epoch: "
        f"{verdict(max(s['ratio_to_epoch'], s['cpu_ratio_to_epoch']) <= 1.0)}.",
        "",
    ]


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> None:
    check = load("check_latency")
    train = load("train_throughput")
    onnx = load("onnx_inference")
    sweep = load("sweep_invalid")
    lsp = load("lsp_latency")
    score = load("score_throughput")
    scaling = load("check_scaling")
    fuzzed = load("fuzz_inputs")
    before_after = load("train_before_after")
    gpu = load("backend_throughput")
    bn = load("bn_recalibration")
    any_result = check or train or onnx
    if any_result is None:
        sys.exit("no results: run make bench first")
    m = (train or onnx or any_result)["machine"]
    out = [
        "# Benchmarks",
        "",
        "Generated by `bench/report.py` from `bench/results/*.json` (`make bench`). Each "
        "script measures caegen and a plain Keras baseline in the same invocation, "
        "alternating the two sides, and reports medians.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}. No "
        "GPU (the GPU section at the end names its own machine).",
        "",
    ]
    if check:
        s = check["summary"]
        out += [
            "## `caegen check` latency (`bench/check_latency.py`)",
            "",
            "A cold `python -m caegen check` process per spec (layer table included, as a user "
            "runs it), against a process that imports "
            "TensorFlow and builds the same model (the way to find a shape error without "
            "caegen).",
            "",
            *machine_line(check["machine"], m),
            "| spec | cold check (s) | Keras route (s) | ratio |",
            "| --- | ---: | ---: | ---: |",
        ]
        for r in check["specs"]:
            keras_s = f"{r['keras_s']:.2f}" if r["keras_s"] else ""
            ratio = f"{r['ratio']:.1f}x" if r["ratio"] else ""
            out.append(f"| {r['spec']} | {r['check_s']:.3f} | {keras_s} | {ratio} |")
        out += [
            "",
            "Generated specs (conv / batch_norm / activation blocks):",
            "",
            "| layers | cold process (s) | in-process (ms) | in-process per layer (us) |",
            "| ---: | ---: | ---: | ---: |",
        ]
        for r in check["scaling"]:
            out.append(
                f"| {r['layers']:,} | {r['cold_s']:.3f} | {r['in_process_s'] * 1e3:.1f} "
                f"| {r['in_process_s'] / r['layers'] * 1e6:.0f} |"
            )
        big = check["scaling"][-1]
        ratios = [r["ratio"] for r in check["specs"] if r["ratio"]]
        cpu = s.get("cpu_ratio_vs_keras")
        cpu_text = (
            f"; CPU seconds {s['cold_check_cpu_s']:.3f} against {s['keras_route_cpu_s']:.2f}: "
            f"{cpu:.1f}x"
            if cpu
            else ""
        )
        out += [
            "",
            *breakdown_lines(check),
            "| goal | measured | |",
            "| --- | --- | --- |",
            f"| cold check of a shipped spec <= 0.3 s | worst {s['max_cold_check_s']:.3f} s | "
            f"{verdict(s['max_cold_check_s'] <= 0.3)} |",
            f"| >= {RATIO_GOAL}x faster than the Keras route | wall {min(ratios):.1f}x to "
            f"{max(ratios):.1f}x{cpu_text} | "
            f"{verdict(min(ratios) >= RATIO_GOAL and (cpu or RATIO_GOAL) >= RATIO_GOAL)} |",
            f"| {big['layers']:,} layers <= 1 s | {big['cold_s']:.2f} s cold, "
            f"{big['in_process_s']:.2f} s in-process | {verdict(big['cold_s'] <= 1.0)} |",
            "",
        ]
    if train:
        s = train["summary"]
        out += [
            "## Training throughput (`bench/train_throughput.py`)",
            "",
            f"Method 2 on {train['train_images']:,} 32x32 RGB patches, batch "
            f"{train['batch_size']}, {train['epochs']} epochs, {train['repeats']} alternating "
            "runs per side in fresh processes; images/s is the median over epochs after the "
            "first. The baseline is the Q&A's hand-written Keras code (`model.fit` on NumPy "
            f"arrays). Mixed precision {train['mixed_precision']}, XLA {train['jit_compile']} "
            "(both sides alike; pass `--mixed-precision on --jit on` on a GPU).",
            "",
            "| side | images/s (median) | runs |",
            "| --- | ---: | --- |",
            f"| caegen train | {s['caegen_images_per_s']:,.0f} | "
            f"{', '.join(f'{v:,.0f}' for v in train['runs']['caegen'])} |",
            f"| plain Keras | {s['keras_images_per_s']:,.0f} | "
            f"{', '.join(f'{v:,.0f}' for v in train['runs']['keras'])} |",
            "",
            f"Ratio {s['ratio']:.2f}x (goal >= 1.0x on CPU: {verdict(s['ratio'] >= 1.0)}).",
            "",
        ]
    if onnx:
        out += [
            "## ONNX inference (`bench/onnx_inference.py`)",
            "",
            f"The {onnx['spec']} autoencoder exported by caegen; onnxruntime (CPU provider) "
            f"against Keras `predict` on the same batches, {onnx['repeats']} alternating runs.",
            "",
            "| batch | Keras predict (img/s) | onnxruntime (img/s) | ratio | max abs diff |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in onnx["batches"]:
            out.append(
                f"| {r['batch_size']} | {r['keras_images_per_s']:,.0f} | "
                f"{r['onnx_images_per_s']:,.0f} | {r['ratio']:.1f}x | "
                f"{r['max_abs_diff']:.1e} |"
            )
        ratio = onnx["summary"]["median_ratio"]
        out += ["", f"Median ratio {ratio:.1f}x (goal >= 2x: {verdict(ratio >= 2.0)}).", ""]
    if gpu:
        g = gpu["machine"]
        out += [
            "## Emitted model on a GPU (`bench/backend_throughput.py`)",
            "",
            f"Device: {gpu['device']} (host: {g['cpu']}, {g['cores']} cores, Python "
            f"{g['python']}); Keras {gpu['keras']} on the {gpu['backend']} backend. The "
            "Method 2 model from `caegen.build` against the hand-written Q&A code, both "
            f"`model.fit` on the same {gpu['images']:,} NumPy images of 32x32x3, batch "
            f"{gpu['batch_size']}, XLA on, {gpu['repeats']} alternating rounds of "
            f"{gpu['epochs']} epochs per side and precision, one process.",
            "",
            "| precision | caegen model (img/s) | hand-written (img/s) | ratio "
            "| speed-up vs float32 |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        base = gpu["precisions"][0]["caegen_images_per_s"]
        for r in gpu["precisions"]:
            out.append(
                f"| {r['precision']} | {r['caegen_images_per_s']:,.0f} | "
                f"{r['keras_images_per_s']:,.0f} | {r['ratio']:.2f}x | "
                f"{r['caegen_images_per_s'] / base:.2f}x |"
            )
        out += ["", GPU_NOTES, ""]
    if bn:
        out += bn_section(bn)
    if sweep:
        out += sweep_section(sweep)
    if before_after:
        out += before_after_section(before_after)
    if lsp:
        out += lsp_section(lsp)
    if score:
        out += score_section(score)
    if scaling:
        out += scaling_section(scaling)
    if fuzzed:
        out += fuzz_section(fuzzed)
    out.append(missed_goal_notes(check))
    path = ROOT / "docs" / "benchmarks.md"
    path.write_text("\n".join(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
