"""The CIFAR-10 comparison family (dense, conv + dense, shallow and deeper, shallow strided,
strided + batch norm, and its denoisers), trained on the offline `patches` data as a
CIFAR-like stand-in, each spec over several seeds, then put side by side with
`caegen compare` (repeats grouped, groups tested pairwise on the same test images).

    python examples/cifar_family.py --epochs 10 --repeats 3 --out runs/family --report docs/compare

On a machine with CIFAR-10 cached in ~/.keras/datasets, pass --source cifar10.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import caegen

ROOT = Path(__file__).resolve().parent.parent
# cheapest first; the 35.7M-parameter dense autoencoder last
FAMILY = (
    ROOT / "specs" / "cifar10_shallow.yaml",
    ROOT / "specs" / "cifar10_shallow_strided.yaml",
    ROOT / "specs" / "cifar10_strided_bn.yaml",
    ROOT / "examples" / "family" / "cifar10_deep_8x8.yaml",
    ROOT / "examples" / "family" / "cifar10_deep_4x4.yaml",
    ROOT / "specs" / "cifar10_strided_bn_denoise_std03.yaml",
    ROOT / "specs" / "cifar10_strided_bn_denoise_std10.yaml",
    ROOT / "specs" / "cifar10_dense_1024.yaml",
    ROOT / "specs" / "cifar10_conv_dense.yaml",
    ROOT / "specs" / "cifar10_dense_deep.yaml",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="seeds 0..K-1 for each spec")
    parser.add_argument("--source", default="patches")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/family"))
    parser.add_argument("--report", type=Path, default=None, help="write the comparison here")
    args = parser.parse_args()

    runs = []
    for path in FAMILY:
        spec = caegen.load(path)
        spec = spec.model_copy(
            update={"data": spec.data.model_copy(update={"source": args.source})}
        )
        for seed in range(args.repeats):
            result = caegen.train(
                spec, epochs=args.epochs, seed=seed, limit=args.limit, out=args.out
            )
            m = result.metrics
            print(
                f"{spec.name:<36} seed {seed}  PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}"
                f"  {m['train_seconds']:.0f} s  ({result.run_dir})",
                flush=True,
            )
            runs.append(str(result.run_dir))
    command = [sys.executable, "-m", "caegen", "compare", *runs, "--format", "markdown"]
    if args.report is not None:
        command += ["--out", str(args.report)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
