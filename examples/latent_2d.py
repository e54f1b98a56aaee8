"""A 2-D latent space: scatter the test digits by class, and decode a chosen point.

    python examples/latent_2d.py [--run RUN_DIR] [--point X Y] [--epochs N]

Without --run it trains specs/digits_2d_latent.yaml (offline). Writes latent_scatter.png
and generated.png into the run directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import caegen

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, help="a run of a spec with a 2-D latent code")
    parser.add_argument("--point", type=float, nargs=2, help="latent point to decode")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default="runs")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from caegen.training.data import load_data
    from caegen.training.rundir import Run

    if args.run is None:
        spec = caegen.load(ROOT / "specs" / "digits_2d_latent.yaml")
        run_dir = caegen.train(spec, epochs=args.epochs, out=args.out).run_dir
    else:
        run_dir = Run.find(args.run, purpose="export").path
    run = Run(run_dir)
    spec = run.spec
    encoder, decoder = run.load_model("encoder"), run.load_model("decoder")

    test = load_data(spec).test
    codes = encoder.predict(test.array, verbose=0).reshape(len(test.array), -1)
    if codes.shape[1] != 2:
        raise SystemExit(f"{spec.name} has a {codes.shape[1]}-D latent code, not 2-D")

    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=test.labels, cmap="tab10", s=8)
    fig.colorbar(points, ax=ax, label="digit")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"{spec.name}: test digits in the latent plane")
    point = np.array(args.point or codes[test.labels == 3].mean(axis=0), dtype=np.float32)
    ax.scatter(*point, marker="x", color="black", s=80)
    fig.savefig(run_dir / "latent_scatter.png", dpi=110, bbox_inches="tight")

    latent_shape = decoder.inputs[0].shape[1:]
    image = decoder.predict(point.reshape(1, *latent_shape), verbose=0)[0, ..., 0]
    fig2, ax2 = plt.subplots(figsize=(3, 3))
    ax2.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax2.set_title(f"decoded z = ({point[0]:.2f}, {point[1]:.2f})")
    ax2.axis("off")
    fig2.savefig(run_dir / "generated.png", dpi=110, bbox_inches="tight")
    print(f"wrote {run_dir / 'latent_scatter.png'} and {run_dir / 'generated.png'}")


if __name__ == "__main__":
    main()
