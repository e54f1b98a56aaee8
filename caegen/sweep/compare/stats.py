"""The statistics of a comparison, all from scipy.stats.

- Per group and metric: n (the repeats with a finite value), mean, sample standard
  deviation and a 95% confidence interval for the mean, a Student t-interval on the
  repeats' test means (`scipy.stats.t`); none for a single run. With few repeats (t = 12.7
  for two) it can run past what the metric can take; it is then clipped to the metric's
  range (`RANGES`) and marked.
- Per pair of groups on the same test images: the mean difference of a per-image score
  (A minus B, averaged over images and repeats) with a 95% percentile bootstrap interval
  (`scipy.stats.bootstrap`): each resample draws the test images with replacement, the same
  images for both groups (paired), and each group's repeats with replacement. The verdict
  is "better" or "worse" when the interval excludes 0, else "not distinguishable". The
  Wilcoxon signed-rank and paired t-test p-values of the per-image differences (each
  image's score averaged over a group's repeats) are reported beside it; where they say
  otherwise than the verdict (`p_disagrees`), the tables say why.
- Denoisers are scored by their gain over the noisy input (PSNR and SSIM gains, the MSE
  removed), plain autoencoders by reconstruction: each family is ranked on its own.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from caegen.sweep.compare.collect import Entry
from caegen.sweep.compare.groups import DENOISING, Family, Group

CONFIDENCE = 0.95
RESAMPLES = 9999
BETTER, WORSE, TIED, UNAVAILABLE = "better", "worse", "not distinguishable", "unavailable"
METRICS = ("psnr", "ssim", "mse")
GAINS = {"psnr": "psnr_gain", "ssim": "ssim_gain", "mse": "mse_removed"}
"""What a denoiser is ranked by, for each --metric: its gain over the noisy input."""
COLUMNS = {
    "reconstruction": ("psnr", "ssim", "mse"),
    DENOISING: ("psnr_gain", "ssim_gain", "mse_removed", "psnr", "noisy_psnr", "ssim", "mse"),
}
"""The summarized metrics of a group, by task."""
ANOMALY = ("auroc", "aupro")
"""Summarized too for groups whose runs were scored for anomalies (`caegen score`)."""
RANGES: dict[str, tuple[float | None, float | None]] = {
    "ssim": (-1.0, 1.0),
    "ssim_gain": (-2.0, 2.0),
    "mse": (0.0, None),
    "auroc": (0.0, 1.0),
    "aupro": (0.0, 1.0),
}
"""The values a summarized metric can take (lowest, highest; None: unbounded). PSNR, its
gain and the MSE removed have no bound a run cannot pass (a noisy input, an output beyond
the data's range)."""
SIGNIFICANT = 1 - CONFIDENCE
"""The p-value below which a test disagrees with a "not distinguishable" verdict."""


def ranked_metric(task: str, metric: str) -> str:
    return GAINS[metric] if task == DENOISING else metric


def higher_is_better(name: str) -> bool:
    return name != "mse"


# --- one run's values ----------------------------------------------------------------------
def run_value(entry: Entry, name: str) -> float | None:
    """A run's test value of a summarized metric (None when absent or not finite)."""
    m = entry.metric
    if name == "noisy_psnr":
        return m("noisy_input_psnr")
    if name in ("psnr_gain", "ssim_gain"):
        base = name.split("_")[0]
        own, noisy = m(base), m(f"noisy_input_{base}")
        return own - noisy if own is not None and noisy is not None else None
    if name == "mse_removed":
        own, noisy = m("mse"), m("noisy_input_mse")
        if noisy is None and entry.per_image is not None:
            noisy = _finite_mean(entry.per_image.get("noisy_mse"))
        return noisy - own if own is not None and noisy is not None else None
    return m(name)


def _finite_mean(values: Any) -> float | None:
    if values is None:
        return None
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if len(finite) else None


def image_values(entry: Entry, name: str) -> np.ndarray | None:
    """A run's per-image values of a ranked metric, by test-image index (NaN: not scored)."""
    cols = entry.per_image
    if cols is None:
        return None
    if name in GAINS.values():
        if name == "mse_removed":
            values = cols["noisy_mse"] - cols["mse"]
        else:
            base = name.split("_")[0]
            values = cols[base] - cols[f"noisy_{base}"]
    else:
        values = cols[name]
    out = np.full(int(cols["image"].max()) + 1, np.nan)
    out[cols["image"]] = values
    return out


# --- groups --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    clipped: bool = False
    """The t-interval ran past the metric's range and was cut at its bounds."""


def summarize(
    values: list[float | None], bounds: tuple[float | None, float | None] = (None, None)
) -> Summary:
    """n, mean, sd and the 95% t-interval of the finite values, clipped to `bounds` (the
    values the metric can take)."""
    from scipy import stats

    finite = [v for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = float(np.mean(finite))
    if n == 1:
        return Summary(1, mean, None, None, None)
    sd = float(np.std(finite, ddof=1))
    if sd == 0.0:
        return Summary(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=sd / math.sqrt(n))
    floor, ceiling = bounds
    clipped_low = max(float(low), floor) if floor is not None else float(low)
    clipped_high = min(float(high), ceiling) if ceiling is not None else float(high)
    clipped = (clipped_low, clipped_high) != (float(low), float(high))
    return Summary(n, mean, sd, clipped_low, clipped_high, clipped)


def group_summaries(group: Group) -> dict[str, Summary]:
    scored = [m for m in ANOMALY if any(e.metric(m) is not None for e in group.entries)]
    return {
        name: summarize([run_value(e, name) for e in group.entries], RANGES.get(name, (None, None)))
        for name in (*COLUMNS[group.task], *scored)
    }


# --- pairs ---------------------------------------------------------------------------------
@dataclass
class Pair:
    a: Group
    b: Group
    metric: str
    verdict: str
    images: int = 0
    diff: float | None = None
    low: float | None = None
    high: float | None = None
    p_wilcoxon: float | None = None
    p_ttest: float | None = None
    note: str | None = None
    p_disagrees: bool = False
    """A p-value below SIGNIFICANT beside "not distinguishable", or none beside a verdict."""


def paired(a: Group, b: Group, metric: str, seed: int = 0) -> Pair:
    """A minus B on the test images every run of both scored, with its 95% interval."""
    name = ranked_metric(a.task, metric)
    matrices = _matrices(a, b, name)
    if isinstance(matrices, str):
        return Pair(a, b, name, UNAVAILABLE, note=matrices)
    left, right, note = matrices
    diff = float(left.mean() - right.mean())
    low, high = _bootstrap(left, right, seed)
    verdict = _verdict(low, high, higher_is_better(name))
    p_w, p_t = _p_values(left.mean(axis=0), right.mean(axis=0))
    pair = Pair(a, b, name, verdict, left.shape[1], diff, low, high, p_w, p_t, note)
    pair.p_disagrees = p_disagrees(verdict, p_w, p_t)
    return pair


def p_disagrees(verdict: str, *p_values: float | None) -> bool:
    """Whether the p-values say otherwise than the verdict: one below SIGNIFICANT beside
    "not distinguishable", or none below it beside "better" or "worse"."""
    known = [p for p in p_values if p is not None]
    if verdict == UNAVAILABLE or not known:
        return False
    significant = min(known) < SIGNIFICANT
    return significant if verdict == TIED else not significant


def _verdict(low: float, high: float, higher_better: bool) -> str:
    """From A - B's interval: it excludes 0 on A's better side, on its worse side, or not."""
    if low <= 0 <= high:
        return TIED
    return BETTER if (low > 0) == higher_better else WORSE


def _matrices(a: Group, b: Group, name: str) -> tuple[np.ndarray, np.ndarray, str | None] | str:
    """(repeats x images of A, of B, a note) on the images all scored; or why not."""
    if a.family is not b.family:
        return "scored on different test images or another task: not paired"
    columns: list[np.ndarray] = []
    for entry in [*a.entries, *b.entries]:
        values = image_values(entry, name)
        if values is None:
            return f"{entry.name}: {entry.per_image_note}"
        columns.append(values)
    width = max(len(c) for c in columns)
    stacked = np.vstack([np.pad(c, (0, width - len(c)), constant_values=np.nan) for c in columns])
    keep = np.all(np.isfinite(stacked), axis=0)
    images = int(keep.sum())
    if images < 2:
        return f"fewer than 2 test images with a {name} in every run"
    most = max(int(np.isfinite(c).sum()) for c in columns)
    note = f"on the {images} test images every run scored" if images < most else None
    split = len(a.entries)
    return stacked[:split, keep], stacked[split:, keep], note


def _bootstrap(left: np.ndarray, right: np.ndarray, seed: int) -> tuple[float, float]:
    """The percentile interval of mean(A) - mean(B) over resampled images (paired) and
    resampled repeats of each group."""
    from scipy import stats

    images = left.shape[1]
    samples = [np.arange(images)]
    if len(left) > 1:
        samples.append(np.arange(len(left)))
    if len(right) > 1:
        samples.append(np.arange(len(right)))

    def statistic(*indices: np.ndarray, axis: int = -1) -> np.ndarray:
        image_weights = _weights(indices[0], images)
        rest = list(indices[1:])
        a_weights = _weights(rest.pop(0), len(left)) if len(left) > 1 else None
        b_weights = _weights(rest.pop(0), len(right)) if len(right) > 1 else None
        diff = _weighted_mean(left, a_weights, image_weights) - _weighted_mean(
            right, b_weights, image_weights
        )
        return diff.reshape(np.shape(indices[0])[:-1])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate (constant) distribution is fine here
        result = stats.bootstrap(
            tuple(samples),
            statistic,
            paired=False,
            vectorized=True,
            n_resamples=RESAMPLES,
            batch=max(1, 2_000_000 // images),
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def _weights(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of 0..n-1 was drawn in each resample, as fractions (batch x n)."""
    flat = np.asarray(indices, dtype=np.int64).reshape(-1, np.shape(indices)[-1])
    offsets = np.arange(len(flat))[:, None] * n
    counts = np.bincount((flat + offsets).ravel(), minlength=len(flat) * n)
    return counts.reshape(len(flat), n) / flat.shape[1]


def _weighted_mean(
    matrix: np.ndarray, repeat_weights: np.ndarray | None, image_weights: np.ndarray
) -> np.ndarray:
    per_repeat = image_weights @ matrix.T  # batch x repeats
    if repeat_weights is None:
        return per_repeat[:, 0]
    return np.sum(per_repeat * repeat_weights, axis=1)


def _p_values(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    from scipy import stats

    d = a - b
    if np.all(d == 0):
        return 1.0, 1.0  # no image differs at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_w = float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
        p_t = float(stats.ttest_rel(a, b).pvalue)
    return (p_w if math.isfinite(p_w) else None), (p_t if math.isfinite(p_t) else None)


# --- rankings and fronts -------------------------------------------------------------------
@dataclass
class Ranking:
    family: Family
    metric: str
    order: list[Group]
    best: Group | None
    tied: list[Group]
    untested: list[Group]


def rank(
    family: Family,
    groups: list[Group],
    summaries: dict[int, dict[str, Summary]],
    metric: str,
    pair_of: Any,
) -> Ranking:
    """Groups by mean, best first. "best" is the first when it is distinguishably better
    than every other group; without one, the groups that no group ranked above them beats
    are tied at the top."""
    name = ranked_metric(family.task, metric)
    sign = 1.0 if higher_is_better(name) else -1.0
    members = [g for g in groups if g.family is family]

    def key(g: Group) -> tuple[bool, float]:
        mean = summaries[g.number][name].mean
        return (mean is None, -sign * mean if mean is not None else 0.0)

    order = sorted(members, key=key)
    scored = [g for g in order if summaries[g.number][name].mean is not None]
    if len(scored) < 2:
        return Ranking(family, name, order, None, [], [])
    beaten: set[int] = set()
    untested: list[Group] = []
    for i, group in enumerate(scored[1:], start=1):
        for above in scored[:i]:  # the top group first: usually it settles the question
            verdict = pair_of(above, group).verdict
            if verdict == UNAVAILABLE:
                untested += [g for g in (above, group) if g not in untested]
            elif verdict == BETTER:
                beaten.add(group.number)
                break
            elif verdict == WORSE:
                beaten.add(above.number)
    top = scored[0]
    best = top if all(pair_of(top, o).verdict == BETTER for o in scored[1:]) else None
    tied = [] if best else [g for g in scored if g.number not in beaten and g not in untested]
    return Ranking(family, name, order, best, tied if len(tied) > 1 else [], untested)


def pareto(groups: list[Group], values: dict[int, float | None], size: str) -> list[Group]:
    """The groups no other group beats on both the value (higher) and `size` (lower);
    a group without a finite value is never on the front."""
    scored = [g for g in groups if values.get(g.number) is not None]

    def dominated(g: Group) -> bool:
        v, s = values[g.number], getattr(g, size)
        return any(
            values[o.number] >= v  # type: ignore[operator]
            and getattr(o, size) <= s
            and (values[o.number] > v or getattr(o, size) < s)  # type: ignore[operator]
            for o in scored
        )

    return sorted((g for g in scored if not dominated(g)), key=lambda g: getattr(g, size))
