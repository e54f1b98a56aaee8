"""`caegen score` on 1,000 images against a plain forward pass over them.

A run of specs/textures_ssim.yaml (trained briefly: speed does not depend on the weights)
scores 1,000 32x32 texture patches. Sides, alternating, median over repeats:
- forward: the autoencoder alone, `model(x, training=False)` traced once, batches of 256;
- scorer (mse | ssim | max-residual): caegen's scoring pass over the same images (input
  pipeline, reconstruction, anomaly map and score in one TensorFlow function);
- command: the whole `caegen score RUN images.npy` call without figures (the model loaded,
  the threshold's calibration images scored, scores, maps and JSON written), and with them,
  against "forward command": the model loaded from the run and run over the images.
Goal: the scorer at most 2x the forward pass.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, alternate, median, table, write_result


def patches(n: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import skimage.data

    out = []
    for name in ("brick", "grass", "gravel"):
        image = getattr(skimage.data, name)().astype(np.float32) / 255.0
        for top in range(0, image.shape[0] - 32 + 1, 12):
            for left in range(0, image.shape[1] - 32 + 1, 12):
                out.append(image[top : top + 32, left : left + 32, None])
    return np.stack(out[:: max(1, len(out) // n)][:n])


def sides(spec, run_dir: Path, x, images_npy: Path) -> dict:  # type: ignore[no-untyped-def]
    """The timed sides, each a function returning its seconds."""
    from caegen.score.maps import KINDS, ScoreKind
    from caegen.score.runner import ScoreOptions, Scorer, score
    from caegen.training.evaluate import inference_function
    from caegen.training.images import Images
    from caegen.training.rundir import Run

    model = Run(run_dir).load_model("autoencoder")
    infer = inference_function(model, spec)
    images = Images(x)

    def forward() -> float:
        start = time.perf_counter()
        for i in range(0, len(x), 256):
            infer(x[i : i + 256]).numpy()
        return time.perf_counter() - start

    def forward_command() -> float:
        start = time.perf_counter()
        loaded = inference_function(Run(run_dir).load_model("autoencoder"), spec)
        for i in range(0, len(x), 256):
            loaded(x[i : i + 256]).numpy()
        return time.perf_counter() - start

    out = {"forward": forward, "forward command": forward_command}
    for kind in KINDS:
        scorer = Scorer(model, spec, ScoreKind.make(kind, None, spec.data.range), 256)

        def scoring(scorer: Scorer = scorer) -> float:
            start = time.perf_counter()
            scorer.run(images)
            return time.perf_counter() - start

        out[kind] = scoring
    for figures in (False, True):

        def command(figures: bool = figures) -> float:
            start = time.perf_counter()
            score(run_dir, [images_npy], options=ScoreOptions(figures=figures), force=True)
            return time.perf_counter() - start

        out["command" + (" + figures" if figures else "")] = command
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import caegen
    from caegen.score.maps import KINDS

    n = 200 if args.quick else 1000
    repeats = 2 if args.quick else 7
    spec = caegen.load(ROOT / "specs" / "textures_ssim.yaml")
    x = patches(n)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = caegen.train(spec, epochs=1, limit=64, out=Path(tmp)).run_dir
        np.save(Path(tmp) / "images.npy", x)
        timed = sides(spec, run_dir, x, Path(tmp) / "images.npy")
        for side in timed.values():  # warm-up: tracing
            side()
        runs = alternate(timed, repeats)
    base = median(runs["forward"])
    rows = [["side", "seconds (median)", "images/s", "ratio to forward"]]
    summary = {}
    for name, values in runs.items():
        seconds = median(values)
        rows.append([name, f"{seconds:.3f}", f"{n / seconds:,.0f}", f"{seconds / base:.2f}x"])
        summary[name] = {"seconds": seconds, "ratio": seconds / base}
    print(table(rows))
    worst = max(summary[k]["ratio"] for k in KINDS)
    command = summary["command"]["seconds"] / summary["forward command"]["seconds"]
    print(f"scorer at most {worst:.2f}x the forward pass on {n} images (goal <= 2x)")
    print(f"caegen score (no figures) {command:.2f}x loading the model and running it")
    write_result(
        "score_throughput",
        {
            "quick": args.quick,
            "images": n,
            "repeats": repeats,
            "spec": "specs/textures_ssim.yaml",
            "sides": summary,
            "summary": {
                "max_scorer_ratio": worst,
                "command_over_forward_command": command,
                "forward_seconds": base,
            },
        },
    )


if __name__ == "__main__":
    main()
