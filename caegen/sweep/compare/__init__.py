"""`caegen compare`: runs side by side, repeats grouped, differences tested on the same images.

`compare(paths)` reads the runs (`collect`), groups repeats and labels them (`groups`),
summarizes each group and tests pairs of groups (`stats`); `render` writes the tables,
`write_figures` the plots. Every number comes from the runs' own files, read through `Run`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from caegen.core.diagnostics import error
from caegen.sweep.compare.collect import Collected, Entry, Skipped, collect
from caegen.sweep.compare.groups import Family, Group, families_of, make_groups
from caegen.sweep.compare.stats import (
    BETTER,
    METRICS,
    WORSE,
    Pair,
    Ranking,
    Summary,
    group_summaries,
    higher_is_better,
    paired,
    pareto,
    rank,
    ranked_metric,
)
from caegen.sweep.compare.tables import render
from caegen.training.rundir import SPEC, SWEEP_RECORD

__all__ = [
    "METRICS",
    "Comparison",
    "Entry",
    "Group",
    "Pair",
    "Ranking",
    "Skipped",
    "collect",
    "compare",
    "refuse_out_in_run",
    "render",
    "write_figures",
]


ALL_PAIRS_UP_TO = 10
"""Families of up to this many groups report every pair of groups."""


@dataclass
class Comparison:
    entries: list[Entry]
    groups: list[Group]
    families: list[Family]
    summaries: dict[int, dict[str, Summary]]
    pairs: list[Pair]
    rankings: list[Ranking]
    pareto: set[int]
    """Group numbers on their family's front of the ranked metric against parameters."""
    skipped: list[Skipped]
    notes: list[str]
    metric: str
    baseline: Group | None = None
    _cache: dict[tuple[int, int], Pair] = field(default_factory=dict, repr=False)

    def group_of(self, entry: Entry) -> Group:
        return next(g for g in self.groups if any(e is entry for e in g.entries))

    def pair(self, a: Group, b: Group, seed: int = 0) -> Pair:
        """A against B (computed once; B against A is its mirror)."""
        if (a.number, b.number) not in self._cache:
            if (b.number, a.number) in self._cache:
                self._cache[a.number, b.number] = _mirror(self._cache[b.number, a.number])
            else:
                self._cache[a.number, b.number] = paired(a, b, self.metric, seed)
        return self._cache[a.number, b.number]


def compare(
    paths: list[Path], metric: str = "psnr", baseline: str | None = None, seed: int = 0
) -> Comparison:
    """Collect, group, summarize, test and rank the runs named by `paths`."""
    if metric not in METRICS:
        raise error("E081", f"unknown metric `{metric}`", f"choose {', '.join(METRICS)}")
    also = (Path(baseline),) if baseline is not None and Path(baseline).exists() else ()
    collected = collect(list(map(Path, paths)), also)
    groups = make_groups(collected.entries)
    result = Comparison(
        entries=collected.entries,
        groups=groups,
        families=families_of(groups),
        summaries={g.number: group_summaries(g) for g in groups},
        pairs=[],
        rankings=[],
        pareto=set(),
        skipped=collected.skipped,
        notes=list(collected.notes),
        metric=metric,
    )
    if baseline is not None:
        result.baseline = _baseline(baseline, collected, groups)
    for family in result.families:
        ranking = rank(
            family, groups, result.summaries, metric, lambda a, b: result.pair(a, b, seed)
        )
        result.rankings.append(ranking)
        result.pareto |= {g.number for g in front_of(result, family, "params")}
    result.pairs = _reported_pairs(result, seed)
    result.notes += _notes(result)
    return result


def front_of(result: Comparison, family: Family, size: str) -> list[Group]:
    name = ranked_metric(family.task, result.metric)
    sign = 1.0 if higher_is_better(name) else -1.0
    members = [g for g in result.groups if g.family is family]
    values = {}
    for g in members:
        mean = result.summaries[g.number][name].mean
        values[g.number] = sign * mean if mean is not None else None
    return pareto(members, values, size)


def _reported_pairs(result: Comparison, seed: int) -> list[Pair]:
    """Every pair within a family, better-ranked first (in a family of more than
    ALL_PAIRS_UP_TO groups, each against the first); or each group against --baseline."""
    if result.baseline is not None:
        base = result.baseline
        return [
            result.pair(g, base, seed)
            for g in result.groups
            if g is not base and g.family is base.family
        ]
    pairs = []
    for ranking in result.rankings:
        order = ranking.order
        if len(order) > ALL_PAIRS_UP_TO:  # each against the first: n - 1 pairs, not n^2 / 2
            pairs += [result.pair(order[0], b, seed) for b in order[1:]]
            continue
        for i, a in enumerate(order):
            pairs += [result.pair(a, b, seed) for b in order[i + 1 :]]
    return pairs


def _mirror(pair: Pair) -> Pair:
    verdict = {BETTER: WORSE, WORSE: BETTER}.get(pair.verdict, pair.verdict)
    flip = lambda v: -v if v is not None else None  # noqa: E731
    return dataclasses.replace(
        pair,
        a=pair.b,
        b=pair.a,
        verdict=verdict,
        diff=flip(pair.diff),
        low=flip(pair.high),
        high=flip(pair.low),
    )


def _baseline(text: str, collected: Collected, groups: list[Group]) -> Group:
    path = Path(text)
    if path.exists():
        wanted = {p.resolve() for p in (path, *path.glob("*"))}
        wanted |= {collected.copies[p] for p in wanted if p in collected.copies}
        for g in groups:
            if any(e.run.path.resolve() in wanted for e in g.entries):
                return g
    for g in groups:
        if text in (g.name, g.label) or any(text == e.name for e in g.entries):
            return g
    known = ", ".join(f"{g.name} ({g.label})" if g.label else g.name for g in groups[:10])
    raise error(
        "E081",
        f"--baseline {text} is neither a compared run nor a group's label",
        f"pass a run directory, a group (G1, ...) or a label as shown: {known}",
    )


def _notes(result: Comparison) -> list[str]:
    notes = []
    by_reason: dict[str, list[str]] = {}
    for e in result.entries:
        if e.per_image_note is not None:
            by_reason.setdefault(e.per_image_note, []).append(e.name)
    for reason, names in by_reason.items():
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        notes.append(
            f"paired tests unavailable for {len(names)} run(s), {reason}: "
            f"{', '.join(names[:3])}{more}"
        )
    if len(result.families) > 1:
        titles = "; ".join(
            f"{f.title} ({', '.join(g.name for g in result.groups if g.family is f)})"
            for f in result.families
        )
        notes.append(
            f"ranked separately, never together (another task or other test images): {titles}"
        )
    for ranking in result.rankings:
        if result.baseline is None and len(ranking.order) > ALL_PAIRS_UP_TO:
            notes.append(
                f"{ranking.family.title}: {len(ranking.order)} groups, each compared with the "
                f"first, {ranking.order[0].name}; --baseline picks another"
            )
    if result.baseline is not None:
        apart = [g.name for g in result.groups if g.family is not result.baseline.family]
        if apart:
            notes.append(
                f"not compared with the baseline {result.baseline.name} (another task or "
                f"other test images): {', '.join(apart)}"
            )
    return notes


def refuse_out_in_run(out: Path, entries: list[Entry] | None = None) -> None:
    """E080 when `out` is a run directory or inside one: compare never writes into a run."""
    target = Path(out).resolve()
    runs = {e.run.path.resolve() for e in entries or []}
    for folder in (target, *target.parents):
        is_run = (folder / SPEC).exists() and not (folder / SWEEP_RECORD).exists()
        if folder in runs or is_run:
            raise error(
                "E080",
                f"--out {out} is inside the run directory {folder}: compare never writes "
                "into a run",
                "pass a folder outside every run, e.g. --out compare/<name>",
            )


def write_figures(result: Comparison, out: Path) -> tuple[list[Path], list[str]]:
    """quality_vs_size.png, loss_curves.png and reconstructions.png under `out`, and what
    could not be drawn."""
    from caegen.sweep.compare.figures import write_figures as write

    return write(result, out)
