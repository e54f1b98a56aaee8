"""Compare several specs' runs: one table of metrics and one loss plot.

python examples/compare_runs.py RUN_DIR... [--plot compare_loss.png]
python examples/compare_runs.py --train SPEC... [--epochs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import caegen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="*", type=Path, help="run directories or runs/<name>")
    parser.add_argument("--train", nargs="*", type=Path, default=[], help="specs to train first")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default="runs")
    parser.add_argument("--plot", type=Path, default=Path("compare_loss.png"))
    args = parser.parse_args()

    from caegen.training.rundir import Run

    runs = [Run.find(r, purpose="export").path for r in args.runs]
    for spec_path in args.train:
        result = caegen.train(
            caegen.load(spec_path), epochs=args.epochs, limit=args.limit, out=args.out
        )
        runs.append(result.run_dir)
    if not runs:
        raise SystemExit("pass run directories, or --train SPEC...")

    header = f"{'run':<40} {'params':>10} {'epochs':>6} {'PSNR dB':>8} {'SSIM':>6} {'img/s':>8}"
    print(header)
    print("-" * len(header))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        record = Run(run)
        m = record.metrics()
        params = caegen.check(record.spec).params.total
        ssim = f"{m['ssim']:.3f}" if m.get("ssim") is not None else "-"
        label = f"{m['spec']}/{run.name}"
        print(
            f"{label:<40} {params:>10,} {m['epochs']:>6} {m['psnr']:>8.2f} {ssim:>6} "
            f"{m['images_per_s'] or 0:>8,.0f}"
        )
        history = record.history()
        ax.plot([h["epoch"] for h in history], [h["val_loss"] for h in history], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val_loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(args.plot, dpi=110, bbox_inches="tight")
    print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
