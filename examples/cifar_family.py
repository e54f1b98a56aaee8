"""The CIFAR-10 comparison family (dense, conv + dense, shallow, shallow strided, strided +
batch norm, and its denoisers), trained on the offline `patches` data as a CIFAR-like
stand-in, then put side by side with `caegen compare`.

    python examples/cifar_family.py --epochs 10 --out runs/family --report docs/compare

On a machine with CIFAR-10 cached in ~/.keras/datasets, pass --source cifar10.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import caegen

ROOT = Path(__file__).resolve().parent.parent
FAMILY = (
    "cifar10_dense_1024",
    "cifar10_dense_deep",
    "cifar10_conv_dense",
    "cifar10_shallow",
    "cifar10_shallow_strided",
    "cifar10_strided_bn",
    "cifar10_strided_bn_denoise_std03",
    "cifar10_strided_bn_denoise_std10",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--source", default="patches")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/family"))
    parser.add_argument("--report", type=Path, default=None, help="write the comparison here")
    args = parser.parse_args()

    runs = []
    for name in FAMILY:
        spec = caegen.load(ROOT / "specs" / f"{name}.yaml")
        data = spec.data.model_copy(update={"source": args.source})
        spec = spec.model_copy(update={"data": data})
        result = caegen.train(spec, epochs=args.epochs, limit=args.limit, out=args.out)
        m = result.metrics
        print(f"{name:<36} PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}  ({result.run_dir})")
        runs.append(str(result.run_dir))
    command = [sys.executable, "-m", "caegen", "compare", *runs, "--format", "markdown"]
    if args.report is not None:
        command += ["--out", str(args.report)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
