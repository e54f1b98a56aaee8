"""Precise batch norm's cost: the recalibration pass against one training epoch.

Trains specs/cifar10_strided_bn.yaml (three batch-norm layers in a chain: three stages) on
the bundled `patches` in a fresh process, then times there, in alternating rounds: the
recalibration pass over the training images as a run does it (each stage continues from the
tensors the previous one kept: every layer runs once), the same pass with each stage
starting from the input images (what runs when the kept tensors would not fit in memory),
one inference pass over the same images, and one more training epoch as a run fits it (its
batches and its validation pass; the training step traced beforehand, as after a run's
first epoch). Each pass builds and traces its functions, as in a run. Wall and CPU time
(all threads) are both reported: on a busy machine the CPU time is the steadier measure of
the work. Also reports the run's own recalibration time and its test PSNR before and after.
Goal: the recalibration costs at most one forward pass, well under one epoch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import ROOT, median, python_json, table, write_result

CHILD = r"""
import json, math, sys, time
import keras
import caegen
from caegen.compile.compiler import check
from caegen.training.batchnorm import recalibrate
from caegen.training.data import load_data
from caegen.training.evaluate import inference_function
from caegen.training.pipeline import evaluation_dataset, training_dataset

spec_path, out, epochs, limit, repeats = sys.argv[1:6]
result = caegen.train(caegen.load(spec_path), epochs=int(epochs), limit=int(limit) or None,
                      out=out)
spec = caegen.load(result.run_dir / "spec.yaml")
graph = check(spec).graph
data = load_data(spec)
train, batch, seed = data.train, spec.train.batch_size, spec.train.seed
model = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)

def timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu

def forward():
    infer = inference_function(model, spec)
    for x, _ in evaluation_dataset(train, spec, 256, seed=0):
        infer(x)

def epoch():  # one more training epoch as a run fits it: its batches, then validation
    model.fit(training_dataset(train, spec, batch, seed, 0, 1),
              steps_per_epoch=math.ceil(len(train) / batch),
              validation_data=evaluation_dataset(data.test, spec, batch, seed=seed + 1),
              epochs=1, verbose=0)

epoch()  # the first traces the training step, as a run's first epoch does
sides = {"kept": lambda: recalibrate(model, graph, spec, train),
         "from_input": lambda: recalibrate(model, graph, spec, train, budget=0),
         "forward": forward, "epoch": epoch}
runs = {name: {"wall": [], "cpu": []} for name in sides}
for r in range(int(repeats)):
    for name in (list(sides) if r % 2 == 0 else list(reversed(sides))):
        wall, cpu = timed(sides[name])
        runs[name]["wall"].append(wall)
        runs[name]["cpu"].append(cpu)
print(json.dumps({"runs": runs, "history_seconds": [row["seconds"] for row in result.history],
                  "train_images": len(train), "batch_size": batch,
                  "recalibration": result.metrics["batch_norm_recalibration"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    epochs, limit, repeats = (2, 256, 1) if args.quick else (args.epochs, 0, args.repeats)
    base = (ROOT / "specs" / "cifar10_strided_bn.yaml").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "strided_bn_patches.yaml"
        spec.write_text(base.replace("source: cifar10", "source: patches"))
        data = python_json(
            CHILD, str(spec), str(Path(tmp) / "runs"), str(epochs), str(limit), str(repeats)
        )
    runs, record = data["runs"], data["recalibration"]
    medians = {
        name: {clock: median(values) for clock, values in sides.items()}
        for name, sides in runs.items()
    }
    epoch = medians["epoch"]
    rows = [["pass", "wall s", "/ epoch", "CPU s", "/ epoch"]]
    for name, label in (
        ("kept", "recalibration (kept tensors)"),
        ("from_input", "recalibration (from the input)"),
        ("forward", "one inference pass"),
        ("epoch", "one training epoch"),
    ):
        m = medians[name]
        rows.append(
            [
                label,
                f"{m['wall']:.2f}",
                f"{m['wall'] / epoch['wall']:.2f}",
                f"{m['cpu']:.2f}",
                f"{m['cpu'] / epoch['cpu']:.2f}",
            ]
        )
    print(table(rows))
    before, after = record["before"]["psnr"], record["after"]["psnr"]
    print(
        f"\n{data['train_images']:,} training images, {epochs} epochs, batch "
        f"{data['batch_size']}, {record['layers']} batch-norm layers in {record['stages']} "
        f"stages, medians of {repeats} alternating rounds; the run's own pass took "
        f"{record['seconds']:.2f} s; test PSNR {before:.2f} dB with the moving averages, "
        f"{after:.2f} dB settled"
    )

    def ratio(name: str, clock: str) -> float:
        return medians[name][clock] / epoch[clock]

    path = write_result(
        "bn_recalibration",
        {
            "quick": args.quick,
            "train_images": data["train_images"],
            "epochs": epochs,
            "batch_size": data["batch_size"],
            "repeats": repeats,
            "layers": record["layers"],
            "stages": record["stages"],
            "runs": runs,
            "history_seconds": data["history_seconds"],
            "summary": {
                "epoch_s": epoch["wall"],
                "epoch_cpu_s": epoch["cpu"],
                "recalibration_s": medians["kept"]["wall"],
                "ratio_to_epoch": ratio("kept", "wall"),
                "cpu_ratio_to_epoch": ratio("kept", "cpu"),
                "from_input_ratio_to_epoch": ratio("from_input", "wall"),
                "from_input_cpu_ratio_to_epoch": ratio("from_input", "cpu"),
                "forward_ratio_to_epoch": ratio("forward", "wall"),
                "forward_cpu_ratio_to_epoch": ratio("forward", "cpu"),
                "in_run_s": record["seconds"],
                "psnr_before": before,
                "psnr_after": after,
            },
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
