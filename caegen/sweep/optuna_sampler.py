"""Optuna samplers for `caegen sweep` (`pip install caegen[sweep]`, Optuna >= 5).

The sweep keeps the loop (ask/tell): Optuna proposes a point, caegen checks it statically.
An invalid point is told to Optuna as a pruned trial with a violated constraint, not as
FAIL: TPE ignores FAIL trials and would keep proposing the same invalid region, while an
infeasible trial teaches it where not to look. The study lives in the sweep's database, so
every process of the sweep shares it, and anything that reads Optuna storage (Optuna's
API, optuna-dashboard) sees one trial per point with caegen's number, the point, its
status, run directory, sizes, metrics and, for an invalid point, the reason.
"""

from __future__ import annotations

import json
from typing import Any

from caegen.core.diagnostics import error
from caegen.sweep.objectives import OBJECTIVES
from caegen.sweep.space import point_key
from caegen.sweep.store import INVALID, Trial

CONSTRAINT = "invalid"


def _label(value: Any) -> Any:
    """Optuna's categorical choices must be plain scalars: others travel as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


class OptunaSampler:
    def __init__(self, sweep: Any) -> None:
        try:
            import optuna
        except ImportError:
            raise error(
                "E064",
                f"--sampler {sweep.config.sampler} needs Optuna",
                "pip install 'caegen[sweep]' (Optuna >= 5), or use --sampler grid|random",
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
                "E064",
                f"--sampler {sweep.config.sampler} needs {exc.name or 'a missing package'}",
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
        """Ask Optuna for a point; True when it is new to the sweep.

        One Optuna trial per caegen point: a point asked again is answered from the sweep's
        table, and the extra trial Optuna's ask made is closed as FAIL (which samplers
        ignore) with `user_attrs["duplicate_of"]` naming the caegen trial."""
        trial = self.study.ask(self.distributions)
        point = {
            name: self.decode[name][value] if name in self.decode else value
            for name, value in trial.params.items()
        }
        recorded = sweep.record_point(point, external=trial.number)
        if recorded is None:  # with --repeats, the point's first repeat answers
            known = sweep.store.by_point(point_key(sweep.trial_points(point)[0]))
            trial.set_user_attr("duplicate_of", known.number if known else None)
            trial.set_user_attr("point", point)
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            return False
        self._describe(trial._trial_id, recorded)
        if recorded.state == INVALID:
            self._constrain(trial._trial_id, 1.0)
            self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
        else:
            self._constrain(trial._trial_id, 0.0)
        return True

    def _describe(self, trial_id: int, point: Trial) -> None:
        """The caegen point on its Optuna trial: number, point, status, run directory,
        static sizes, metrics and, for an invalid or failed point, the reason."""
        attrs = {
            "caegen_trial": point.number,
            "point": point.point,
            "status": point.state,
            "run_dir": point.run_dir,
            "params": point.static.get("params"),
            "macs": point.static.get("macs"),
            "latent_size": point.static.get("latent_size"),
            "metrics": point.metrics,
        }
        if point.diagnostics:
            attrs["reason"] = [
                {"code": d["code"], "layer": d.get("where"), "message": d["message"]}
                for d in point.diagnostics
            ]
        # The storage API: a trial told by another process than the one that asked it
        # is known here by its number only (Optuna's Trial(...) would run the sampler's
        # before_trial hook again).
        for key, value in attrs.items():
            self.study._storage.set_trial_user_attr(trial_id, key, value)

    def _constrain(self, trial_id: int, violation: float) -> None:
        """Feasible (0) or not (1), in both forms: Optuna 5's `constraints:invalid`, which
        its samplers read, and the `constraints` list, which optuna-dashboard reads."""
        storage = self.study._storage
        storage.set_trial_system_attr(trial_id, f"constraints:{CONSTRAINT}", violation)
        storage.set_trial_system_attr(trial_id, "constraints", [violation])

    def tell(self, sweep: Any, trial: Any, failed: bool) -> None:
        """The outcome of a trained (or statically scored) point, on its Optuna trial."""
        if trial.external is None:
            return
        storage = self.study._storage
        try:
            trial_id = storage.get_trial_id_from_study_id_trial_number(
                self.study._study_id, trial.external
            )
        except KeyError:
            return  # a trial number this study never had (a damaged table)
        if storage.get_trial(trial_id).state.is_finished():
            return
        self._describe(trial_id, trial)
        value = None if failed else sweep.objective_value(trial)
        if value is None:
            self.study.tell(trial.external, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial.external, value)
