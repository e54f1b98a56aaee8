"""`caegen check` on 10,000 layers: conv + batch-norm pairs against plain convs.

Every batch norm after a relu is a W103 finding with a fix, so the pairs exercise the fix
search, which once rescanned the whole graph and text per finding (4,000 pairs: 20 s).
Both specs have 10,000 layers; the check of each runs in this process, alternating, and
the ratio of the medians is what the goal is about: the pairs within 2x of the plain
convs, and under 2 s. Times are CPU seconds of this process, so that other load on the
machine does not count.
"""

from __future__ import annotations

import argparse
import time

from _common import alternate, median, table, write_result

import caegen


def spec(layers: int, batch_norm: bool) -> str:
    """`layers` layers in the encoder: convs with relu, each followed by a batch norm."""
    rows = ["name: scaling", "input: [32, 32, 1]", "encoder:"]
    conv = "  - {type: conv2d, filters: 4, kernel_size: 3, activation: relu}"
    for _ in range(layers // 2 if batch_norm else layers):
        rows.append(conv)
        if batch_norm:
            rows.append("  - {type: batch_norm}")
    rows += ["decoder:", "  - {type: conv2d, filters: 1, kernel_size: 3, activation: sigmoid}"]
    return "\n".join(rows) + "\n"


def timed_check(text: str) -> float:
    """CPU seconds of one load and check (other work on a shared machine does not count;
    on an idle one it equals the wall time)."""
    started = time.process_time()
    caegen.check(caegen.loads(text))
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 layers, once")
    args = parser.parse_args()
    layers, repeats = (2_000, 1) if args.quick else (args.layers, args.repeats)
    texts = {"plain convs": spec(layers, False), "conv + batch norm": spec(layers, True)}
    report = caegen.check(caegen.loads(texts["conv + batch norm"]))
    findings = sum(1 for d in report.diagnostics if d.code == "W103" and d.fixes)
    times = alternate({k: (lambda t=t: timed_check(t)) for k, t in texts.items()}, repeats)
    medians = {k: median(v) for k, v in times.items()}
    ratio = medians["conv + batch norm"] / medians["plain convs"]
    print(
        table(
            [["spec", "layers", "W103 fixes", "check (median CPU)"]]
            + [
                [k, f"{layers:,}", str(findings if "batch" in k else 0), f"{medians[k]:.3f} s"]
                for k in texts
            ]
        )
    )
    print(f"ratio (pairs / plain): {ratio:.2f}x")
    summary = {
        "layers": layers,
        "w103_fixes": findings,
        "plain_s": round(medians["plain convs"], 4),
        "batch_norm_s": round(medians["conv + batch norm"], 4),
        "ratio": round(ratio, 3),
    }
    path = write_result("check_scaling", {"quick": args.quick, "summary": summary, "times": times})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
