"""Optuna samplers for `caegen sweep` (`pip install caegen[sweep]`, Optuna >= 5).

The sweep keeps the loop (ask/tell): Optuna proposes a point, caegen checks it statically.
An invalid point is told to Optuna as a pruned trial with a violated constraint
(`trial.set_constraint`), not as FAIL: TPE ignores FAIL trials and would keep proposing the
same invalid region, while an infeasible trial teaches it where not to look. The study
lives in the sweep's own SQLite file, so every process of the sweep shares it.
"""

from __future__ import annotations

import json
from typing import Any

from caegen.core.diagnostics import error
from caegen.sweep.objectives import OBJECTIVES
from caegen.sweep.space import point_key
from caegen.sweep.store import FINISHED, INVALID

CONSTRAINT = "invalid"


def _label(value: Any) -> Any:
    """Optuna's categorical choices must be plain scalars: others travel as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def missing_optuna(sampler: str) -> Any:
    """E066 for a sampler that needs Optuna where it is not installed (None if it is)."""
    import importlib.util

    if importlib.util.find_spec("optuna") is not None:
        return None
    return error(
        "E066",
        f"--sampler {sampler} needs Optuna, which is not installed",
        "pip install 'caegen[sweep]' (Optuna >= 5), or use --sampler grid|random",
    )


class OptunaSampler:
    def __init__(self, sweep: Any) -> None:
        try:
            import optuna
        except ImportError:
            raise missing_optuna(sweep.config.sampler) or error(
                "E066", "Optuna cannot be imported", "reinstall it: pip install 'caegen[sweep]'"
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        seed = sweep.config.seed
        make = {
            # independent TPE: Optuna 5's default multivariate TPE learned the infeasible
            # region far more slowly in our measurements (docs/benchmarks.md)
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=False),
            "qmc": lambda: optuna.samplers.QMCSampler(seed=seed),
            "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        }[sweep.config.sampler]
        try:
            sampler = make()
        except ImportError as exc:  # CMA-ES needs the `cmaes` package
            raise error(
                "E066",
                f"--sampler {sweep.config.sampler} needs {exc.name or 'a package'}, which is "
                "not installed",
                "pip install 'caegen[sweep]'",
            ) from None
        self.study = optuna.create_study(
            study_name=sweep.study_name,
            storage=sweep.store.url,
            sampler=sampler,
            direction=OBJECTIVES[sweep.config.objective][1],
            load_if_exists=True,
        )
        self.distributions: dict[str, Any] = {}
        self.decode: dict[str, dict[Any, Any]] = {}
        for dim in sweep.space.dimensions:
            if dim.choices is not None:
                labels = [_label(v) for v in dim.choices]
                self.decode[dim.name] = dict(zip(labels, dim.choices))
                self.distributions[dim.name] = optuna.distributions.CategoricalDistribution(labels)
            elif dim.integer:
                self.distributions[dim.name] = optuna.distributions.IntDistribution(
                    int(dim.low), int(dim.high), log=dim.log
                )
            else:
                self.distributions[dim.name] = optuna.distributions.FloatDistribution(
                    float(dim.low), float(dim.high), log=dim.log
                )

    def propose(self, sweep: Any) -> bool:
        trial = self.study.ask(self.distributions)
        point = {
            name: self.decode[name][value] if name in self.decode else value
            for name, value in trial.params.items()
        }
        recorded = sweep._record(point, point_key(point), external=trial.number)
        if recorded is None:  # Optuna proposed a point the sweep has seen: reuse its outcome
            known = next(t for t in sweep.store.trials() if t.point == point)
            if known.state == INVALID:
                self._infeasible(trial)
            elif known.state == FINISHED and sweep.objective_value(known) is not None:
                trial.set_constraint(CONSTRAINT, 0.0)
                self.study.tell(trial, sweep.objective_value(known))
            else:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            return True
        if recorded.state == INVALID:
            self._infeasible(trial)
        else:
            trial.set_constraint(CONSTRAINT, 0.0)
        return True

    def _infeasible(self, trial: Any) -> None:
        trial.set_constraint(CONSTRAINT, 1.0)
        self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)

    def tell(self, sweep: Any, trial: Any, failed: bool) -> None:
        if trial.external is None:
            return
        state = (
            self.study.trials[trial.external].state
            if trial.external < len(self.study.trials)
            else None
        )
        if state is not None and state.is_finished():
            return
        value = None if failed else sweep.objective_value(trial)
        if value is None:
            self.study.tell(trial.external, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial.external, value)
