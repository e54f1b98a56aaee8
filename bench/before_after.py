"""The single-process training path before and after a change: no slower, measured.

Runs bench/train_throughput.py (caegen train against plain Keras, fresh processes) in a
git worktree of `--before` and in this tree, alternating, one repeat per round. Reports
caegen's images/s on both sides, and each side's ratio to the plain Keras baseline of the
same invocation (which absorbs the machine's drift).
Goal: the after/before ratio of caegen's images/s >= 0.97 (within the run-to-run noise).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, table, write_result


def throughput(tree: Path, results: Path, quick: bool) -> dict:
    env = {**os.environ, "CAEGEN_BENCH_RESULTS": str(results)}
    args = ["--quick"] if quick else ["--repeats", "1"]
    subprocess.run(
        [sys.executable, str(tree / "bench" / "train_throughput.py"), *args],
        check=True,
        capture_output=True,
        cwd=tree,
        env=env,
    )
    return json.loads((results / "train_throughput.json").read_text())["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True, help="the git revision before the change")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    before_rev = subprocess.run(
        ["git", "rev-parse", "--short", args.before],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    after_rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), before_rev],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        try:
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for r in range(rounds):
                order = [("before", old), ("after", ROOT)]
                for side, tree in order if r % 2 == 0 else reversed(order):
                    out = Path(tmp) / f"{side}{r}"
                    runs[side].append(throughput(tree, out, args.quick))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True
            )
    med = {
        side: {
            "caegen": statistics.median(r["caegen_images_per_s"] for r in rs),
            "ratio_to_keras": statistics.median(r["ratio"] for r in rs),
        }
        for side, rs in runs.items()
    }
    change = med["after"]["caegen"] / med["before"]["caegen"]
    print(
        table(
            [
                ["side", "revision", "caegen images/s", "caegen / plain Keras"],
                [
                    "before",
                    before_rev,
                    f"{med['before']['caegen']:,.0f}",
                    f"{med['before']['ratio_to_keras']:.2f}x",
                ],
                [
                    "after",
                    after_rev,
                    f"{med['after']['caegen']:,.0f}",
                    f"{med['after']['ratio_to_keras']:.2f}x",
                ],
            ]
        )
    )
    print(f"\nafter / before: {change:.3f} (goal >= 0.97)")
    write_result(
        "train_before_after",
        {
            "quick": args.quick,
            "before": before_rev,
            "after": after_rev,
            "rounds": rounds,
            "runs": runs,
            "summary": {
                **{f"{k}_{s}": v for s, m in med.items() for k, v in m.items()},
                "after_over_before": change,
            },
        },
    )


if __name__ == "__main__":
    main()
