"""A 2-D latent space: scatter the test digits by class, and decode a chosen point.

    python examples/latent_2d.py [--run RUN_DIR] [--point X Y] [--epochs N]

Without --run it trains specs/digits_2d_latent.yaml (offline). Writes latent_scatter.png
and decoded_points.png into the run directory, as `caegen sample RUN --scatter --point X,Y`
does; without --point the point decoded is the mean code of the test digits 3.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import caegen

ROOT = Path(__file__).resolve().parent.parent


def mean_code(run_dir: Path, label: int) -> tuple[float, float]:
    """The mean 2-D code of the test images with this label."""
    from caegen.training.data import load_data
    from caegen.training.rundir import Run

    run = Run(run_dir)
    test = load_data(run.spec).test
    codes = run.load_model("encoder").predict(test.array, verbose=0).reshape(len(test), -1)
    if codes.shape[1] != 2:
        raise SystemExit(f"{run.spec.name} has a {codes.shape[1]}-D latent code, not 2-D")
    x, y = codes[test.labels == label].mean(axis=0)
    return float(x), float(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, help="a run of a spec with a 2-D latent code")
    parser.add_argument("--point", type=float, nargs=2, help="latent point to decode")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default="runs")
    args = parser.parse_args()

    from caegen.export.sample import sample
    from caegen.training.rundir import Run

    if args.run is None:
        spec = caegen.load(ROOT / "specs" / "digits_2d_latent.yaml")
        run_dir = caegen.train(spec, epochs=args.epochs, out=args.out).run_dir
    else:
        run_dir = Run.find(args.run, purpose="export").path
    point = tuple(args.point) if args.point else mean_code(run_dir, label=3)
    done = sample(run_dir, scatter=True, points=[point], force=True)
    print(f"decoded z = ({point[0]:.2f}, {point[1]:.2f})")
    print("wrote " + " and ".join(str(path) for path in done.written))


if __name__ == "__main__":
    main()
