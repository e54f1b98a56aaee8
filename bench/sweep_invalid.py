"""How fast a sweep learns to stop proposing invalid points, and what an invalid point costs.

A space where half the region is invalid (1-4 pooling blocks on a 28x28 input: 3 and 4
cannot come back) and two filter counts (2..64, log), searched for the fewest parameters
(a static objective: nothing is trained, every point is only checked). For each seed, the
share of invalid points among Optuna's proposals 1-30 and 31-60, for caegen's independent
TPE, Optuna 5's default multivariate TPE, and random sampling. Also the static check's
time per invalid point (what it costs instead of a training).
Goal: the share in trials 31-60 below the share in trials 1-30 (independent TPE).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from _common import ROOT, table, write_result

BASE = (ROOT / "examples" / "sweep" / "blocks.yaml").read_text()
SETS = [
    "encoder[0:2]*+decoder[0:2]*=1,2,3,4",
    "encoder[0].filters=2..64:log",
    "decoder[0].filters=2..64:log",
]
SEEDS = range(8)


def shares(sampler: str, variant: str, seed: int, folder: Path) -> tuple[int, int, list[float]]:
    import optuna

    from caegen.sweep.runner import SweepConfig, open_sweep

    spec = folder / "blocks.yaml"
    spec.write_text(BASE)
    config = SweepConfig(
        spec_path=spec,
        sets=SETS,
        sampler=sampler,
        objective="params",
        max_trials=60,
        seed=seed,
        out=folder / f"{variant}-{seed}",
    )
    sweep = open_sweep(config)
    if variant == "multivariate":
        sweep.sampler.study.sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    sweep.work()
    checks = [t.check_ms for t in sweep.store.trials() if t.state == "invalid" and t.check_ms]
    if sweep.sampler is not None:
        status = {t.number: t.state for t in sweep.store.trials()}
        proposals = [  # a point proposed again is as invalid as the point it repeats
            status[t.user_attrs["duplicate_of"]] == "invalid"
            if "duplicate_of" in t.user_attrs
            else t.constraints.get("invalid", 0) > 0
            for t in sweep.sampler.study.trials
        ]
    else:
        proposals = [t.state == "invalid" for t in sweep.store.trials()]
    return sum(proposals[:30]), sum(proposals[30:60]), checks


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows, result, all_checks = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for variant, sampler in (
            ("independent TPE", "tpe"),
            ("multivariate", "tpe"),
            ("random", "random"),
        ):
            firsts, seconds = [], []
            for seed in SEEDS:
                first, second, checks = shares(sampler, variant, seed, Path(tmp))
                firsts.append(first)
                seconds.append(second)
                all_checks += checks
            result[variant] = {"trials_1_30": firsts, "trials_31_60": seconds}
            rows.append(
                [
                    variant,
                    f"{sum(firsts) / (30 * len(firsts)):.0%}",
                    f"{sum(seconds) / (30 * len(seconds)):.0%}",
                    ", ".join(f"{a}/{b}" for a, b in zip(firsts, seconds)),
                ]
            )
    print(table([["sampler", "invalid 1-30", "invalid 31-60", "per seed (of 30)"], *rows]))
    median_ms = statistics.median(all_checks)
    print(f"\nstatic check of an invalid point: median {median_ms:.1f} ms over {len(all_checks)}")
    result["invalid_check_ms_median"] = median_ms
    write_result("sweep_invalid", result)


if __name__ == "__main__":
    main()
