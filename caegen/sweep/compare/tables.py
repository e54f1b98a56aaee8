"""A comparison as tables: text, markdown, JSON (strict: null, never NaN) and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any

from caegen.sweep.compare.stats import RANGES, SIGNIFICANT, TIED, UNAVAILABLE

if TYPE_CHECKING:
    from caegen.sweep.compare import Comparison
    from caegen.sweep.compare.stats import Pair, Ranking

TABLES = ("runs", "groups", "pairs")
RUN_COLUMNS = (
    "group",
    "label",
    "run",
    "task",
    "noise_std",
    "repeat",
    "seed",
    "params",
    "macs",
    "latent_size",
    "epochs",
    "test_images",
    "test_split_images",
    "psnr",
    "ssim",
    "mse",
    "noisy_psnr",
    "psnr_gain",
    "images_per_s",
    "train_seconds",
    "auroc",
    "aupro",
    "pareto",
)
GROUP_COLUMNS = (
    "group",
    "label",
    "task",
    "noise_std",
    "metric",
    "n",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "ci_clipped",
    "pareto",
)
PAIR_COLUMNS = (
    "a",
    "a_label",
    "b",
    "b_label",
    "metric",
    "images",
    "repeats_a",
    "repeats_b",
    "diff",
    "ci_low",
    "ci_high",
    "p_wilcoxon",
    "p_ttest",
    "verdict",
    "p_disagrees",
    "note",
)


# --- rows ----------------------------------------------------------------------------------
def run_rows(result: Comparison) -> list[dict[str, Any]]:
    from caegen.sweep.compare.stats import run_value

    rows = []
    for group in result.groups:
        for e in group.entries:
            m = e.metrics
            rows.append(
                {
                    "group": group.name,
                    "label": group.label,
                    "run": e.name,
                    "task": group.task,
                    "noise_std": e.noise_std,
                    "repeat": e.repeat,
                    "seed": e.seed,
                    "params": e.params,
                    "macs": e.macs,
                    "latent_size": e.latent_size,
                    "epochs": m.get("epochs"),
                    "test_images": m.get("test_images"),
                    "test_split_images": m.get("test_split_images"),
                    "psnr": m.get("psnr"),
                    "ssim": m.get("ssim"),
                    "mse": m.get("mse"),
                    "noisy_psnr": run_value(e, "noisy_psnr"),
                    "psnr_gain": run_value(e, "psnr_gain"),
                    "images_per_s": m.get("images_per_s"),
                    "train_seconds": m.get("train_seconds"),
                    "auroc": e.metric("auroc"),
                    "aupro": e.metric("aupro"),
                    "pareto": group.number in result.pareto,
                }
            )
    return rows


def group_rows(result: Comparison) -> list[dict[str, Any]]:
    rows = []
    for g in result.groups:
        for metric, s in result.summaries[g.number].items():
            rows.append(
                {
                    "group": g.name,
                    "label": g.label,
                    "task": g.task,
                    "noise_std": g.noise_std,
                    "metric": metric,
                    "n": s.n,
                    "mean": s.mean,
                    "sd": s.sd,
                    "ci_low": s.low,
                    "ci_high": s.high,
                    "ci_clipped": s.clipped,
                    "pareto": g.number in result.pareto,
                }
            )
    return rows


def pair_rows(result: Comparison) -> list[dict[str, Any]]:
    return [
        {
            "a": p.a.name,
            "a_label": p.a.label,
            "b": p.b.name,
            "b_label": p.b.label,
            "metric": p.metric,
            "images": p.images or None,
            "repeats_a": len(p.a.entries),
            "repeats_b": len(p.b.entries),
            "diff": p.diff,
            "ci_low": p.low,
            "ci_high": p.high,
            "p_wilcoxon": p.p_wilcoxon,
            "p_ttest": p.p_ttest,
            "verdict": p.verdict,
            "p_disagrees": p.p_disagrees,
            "note": p.note,
        }
        for p in result.pairs
    ]


def ranking_rows(result: Comparison) -> list[dict[str, Any]]:
    return [
        {
            "family": r.family.title,
            "task": r.family.task,
            "metric": r.metric,
            "order": [g.name for g in r.order],
            "best": r.best.name if r.best else None,
            "tied": [g.name for g in r.tied],
            "untested": [g.name for g in r.untested],
            "summary": ranking_sentence(r),
        }
        for r in result.rankings
    ]


def ranking_sentence(r: Ranking) -> str:
    head = f"{r.family.title}, by {r.metric}: "
    if r.best is not None:
        return head + f"best {r.best.describe()} (ahead of every other group, 95% paired CI)"
    if not r.order:
        return head + "nothing scored"
    if len(r.order) == 1:
        return head + f"one group only: {r.order[0].describe()}"
    untested = ""
    if r.untested:
        names = ", ".join(g.name for g in r.untested)
        untested = f"; untested (no paired per-image scores): {names}"
    if r.tied:
        listing = "; ".join(g.describe() for g in r.tied)
        return head + f"no single best; tied at the top (not distinguishable): {listing}{untested}"
    return head + f"no best can be named; highest mean {r.order[0].describe()}{untested}"


# --- notes under the tables ----------------------------------------------------------------
def group_notes(result: Comparison) -> list[str]:
    """I113 when a group's t-interval was clipped to its metric's range."""
    clipped = [
        (g.name, metric)
        for g in result.groups
        for metric, s in result.summaries[g.number].items()
        if s.clipped
    ]
    if not clipped:
        return []
    bounds = "; ".join(_range_text(m) for m in dict.fromkeys(m for _, m in clipped))
    listing = ", ".join(f"{g} {m}" for g, m in clipped)
    return [
        f"I113 {listing}: the 95% t-interval ran past what the metric can take ({bounds}) "
        "and is clipped there; over few repeats t is large (12.7 for two): more repeats "
        "narrow it"
    ]


def _range_text(metric: str) -> str:
    low, high = RANGES[metric]
    if high is None:
        return f"{metric} >= {low:g}"
    if low is None:
        return f"{metric} <= {high:g}"
    return f"{metric} in [{low:g}, {high:g}]"


def pair_notes(result: Comparison) -> list[str]:
    """What a verdict cannot see (a group of one run), and why a p-value can say otherwise
    than the verdict, where one does."""
    notes = _single_run_note(result)
    odd = [p for p in result.pairs if p.p_disagrees]
    if not odd:
        return notes
    listing = "; ".join(f"{p.a.name} vs {p.b.name} {p.verdict}, {_p_text(p)}" for p in odd)
    notes.append(
        "verdicts follow the 95% bootstrap interval, which resamples the repeats (seeds) as "
        "well as the images; the Wilcoxon and t-test p-values treat the images as the only "
        "units (each averaged over a group's repeats), blind to seed-to-seed spread, so they "
        f"can disagree: {listing}"
    )
    return notes


def _single_run_note(result: Comparison) -> list[str]:
    """A verdict on a group of one run resamples its images only: seed-to-seed spread,
    often larger than the difference, is not in it."""
    decided = [p for p in result.pairs if p.verdict not in (TIED, UNAVAILABLE)]
    paired = {g.name: g for p in decided for g in (p.a, p.b)}
    single = sorted((g for g in paired.values() if len(g.entries) == 1), key=lambda g: g.name)
    if not single:
        return []
    names = ", ".join(g.name for g in single)
    each = "each " if len(single) > 1 else ""
    return [
        f"one run {each}in {names}: a verdict there sees image-to-image variation only, not how "
        "much another seed would move it; give each group 3 or more repeats "
        "(`caegen sweep --repeats 3`) before quoting it"
    ]


def _p_text(pair: Pair) -> str:
    """The p-values that disagree with the pair's verdict."""
    tests = [("Wilcoxon", pair.p_wilcoxon), ("t-test", pair.p_ttest)]
    tied = pair.verdict == TIED
    shown = [
        f"{name} p = {_fmt(p)}" for name, p in tests if p is not None and (p < SIGNIFICANT) == tied
    ]
    return ", ".join(shown)


# --- formats -------------------------------------------------------------------------------
def render(result: Comparison, fmt: str = "text", table: str = "runs") -> str:
    if fmt == "json":
        return to_json(result)
    if fmt == "csv":
        rows = {"runs": run_rows, "groups": group_rows, "pairs": pair_rows}[table](result)
        columns = {"runs": RUN_COLUMNS, "groups": GROUP_COLUMNS, "pairs": PAIR_COLUMNS}[table]
        return _csv(rows, columns)
    return _report(result, markdown=fmt == "markdown")


def to_json(result: Comparison) -> str:
    document = {
        "metric": result.metric,
        "baseline": result.baseline.name if result.baseline else None,
        "runs": run_rows(result),
        "groups": group_rows(result),
        "comparisons": pair_rows(result),
        "rankings": ranking_rows(result),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped],
        "notes": [*result.notes, *group_notes(result), *pair_notes(result)],
    }
    return json.dumps(_finite(document), indent=2, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if hasattr(value, "item") and not isinstance(value, (dict, list, tuple, str)):
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in _finite(row).items()})
    return buf.getvalue()


def _report(result: Comparison, markdown: bool) -> str:
    sections = [
        ("runs", *_run_table(result), []),
        (
            "groups: n, mean, sd and a 95% t-interval over the repeats",
            *_group_table(result),
            group_notes(result),
        ),
    ]
    if result.pairs:
        what = f" against the baseline {result.baseline.name}" if result.baseline else ""
        sections.append(
            (
                f"paired comparisons{what}: A - B on the same test images, 95% percentile "
                "bootstrap over images and repeats, Wilcoxon signed-rank p",
                *_pair_table(result),
                pair_notes(result),
            )
        )
    bullet = "- " if markdown else ""
    out = []
    for title, header, cells, notes in sections:
        table = _table(title, header, cells, markdown)
        if notes:
            table += ("\n" if markdown else "") + "".join(f"{bullet}note: {n}\n" for n in notes)
        out.append(table)
    lines = [ranking_sentence(r) for r in result.rankings]
    lines += [f"skipped {s.path}: {s.reason}" for s in result.skipped]
    lines += [f"note: {n}" for n in result.notes]
    out.append("\n".join(bullet + line for line in lines) + "\n")
    return "\n".join(out)


def _run_table(result: Comparison) -> tuple[list[str], list[list[str]]]:
    rows = run_rows(result)
    denoisers = any(r["task"] != "reconstruction" for r in rows)
    header = ["group", "label", "run"]
    header += ["repeat"] if any(r["repeat"] is not None for r in rows) else []
    header += ["seed", "params", "macs", "epochs", "test_images"]
    header += ["psnr", "ssim", "mse"]
    header += ["noise_std", "noisy_psnr", "psnr_gain"] if denoisers else []
    header += [c for c in ("auroc", "aupro") if any(r[c] is not None for r in rows)]
    header += ["images_per_s", "train_seconds", "pareto"]
    cells = []
    for r in rows:
        split = r["test_split_images"]
        images = _fmt(r["test_images"])
        if split is not None and r["test_images"] is not None and split != r["test_images"]:
            images += f" of {_fmt(split)}"  # scored on a subset: said in the row
        shown = {**r, "test_images": images, "pareto": "*" if r["pareto"] else ""}
        shown["seed"] = str(r["seed"])  # an identifier, not a quantity: no separators
        verbatim = ("test_images", "pareto", "seed")
        cells.append([shown[c] if c in verbatim else _fmt(r[c]) for c in header])
    return header, cells


def _group_table(result: Comparison) -> tuple[list[str], list[list[str]]]:
    header = ["group", "label", "task", "metric", "n", "mean", "sd", "95% CI", "pareto"]
    cells = []
    for r in group_rows(result):
        ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r["ci_low"] is not None else "-"
        ci += " clipped" if r["ci_clipped"] else ""
        task = r["task"] + (f" (noise {_fmt(r['noise_std'])})" if r["noise_std"] else "")
        row = [r["group"], r["label"], task, r["metric"], _fmt(r["n"]), _fmt(r["mean"])]
        cells.append([*row, _fmt(r["sd"]), ci, "*" if r["pareto"] else ""])
    return header, cells


def _pair_table(result: Comparison) -> tuple[list[str], list[list[str]]]:
    header = ["A", "B", "metric", "images", "repeats", "A - B", "95% CI", "p", "verdict"]
    cells = []
    for p in result.pairs:
        available = p.verdict != UNAVAILABLE
        ci = f"[{_fmt(p.low)}, {_fmt(p.high)}]" if available else "-"
        verdict = p.verdict if available else f"unavailable: {p.note}"
        if available and p.note:
            verdict += f" ({p.note})"
        if p.p_disagrees:
            verdict += " (p disagrees: see note)"
        repeats = f"{len(p.a.entries)} vs {len(p.b.entries)}"
        row = [p.a.describe(), p.b.describe(), p.metric, _fmt(p.images or None), repeats]
        cells.append([*row, _fmt(p.diff), ci, _fmt(p.p_wilcoxon), verdict])
    return header, cells


def _table(title: str, header: list[str], cells: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + " --- |" * len(header))
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    left = {"group", "label", "run", "task", "metric", "A", "B", "verdict", "95% CI"}

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if h in left else c.rjust(w) for c, w, h in zip(row, widths, header)
        ).rstrip()

    return (
        "\n".join([title, line(header), line(["-" * w for w in widths]), *map(line, cells)]) + "\n"
    )


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2g}"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
