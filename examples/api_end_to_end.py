"""The Python API end to end: load, check, build, train, export.

python examples/api_end_to_end.py [--epochs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import caegen

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", default="runs")
    args = parser.parse_args()

    spec = caegen.load(ROOT / "specs" / "quickstart.yaml")
    report = caegen.check(spec)  # static: no TensorFlow imported yet
    for d in report.diagnostics:
        print(f"{d.code} {d.severity.value}: {d.message}")
    print(report.ok_line())

    built = caegen.build(spec)  # Keras 3 models sharing weights
    print(
        f"built {built.autoencoder.name}: {built.autoencoder.count_params():,} params; "
        f"encoder -> {built.encoder.output.shape}, decoder -> {built.decoder.output.shape}"
    )

    result = caegen.train(spec, epochs=args.epochs, out=args.out)
    m = result.metrics
    print(f"trained {len(result.history)} epochs -> {result.run_dir}")
    print(
        f"test PSNR {m['psnr']:.2f} dB vs mean-image baseline "
        f"{m['baseline_mean_image_psnr']:.2f} dB"
    )

    for part in ("autoencoder", "encoder", "decoder"):
        exported = caegen.export_onnx(result.run_dir, part=part)
        print(f"{exported.path}: max |onnx - keras| = {exported.max_abs_diff:.2e}")


if __name__ == "__main__":
    main()
