"""`caegen score`: the command; the work is in caegen.score.runner."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from caegen.cli.boundary import Input, OutputFolder
from caegen.cli.commands import Format, app, console, fail, hide_native_logs
from caegen.core.diagnostics import CaegenError


@app.command()
def score(
    source: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run directory or runs/<name>."), Input
    ],
    images: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[IMAGES_OR_FOLDER]...",
            help="Images, folders or .npy arrays to score (default: the run's test split).",
            show_default=False,
        ),
        Input,
    ] = None,
    kind: Annotated[
        str, typer.Option("--score", help="mse | ssim | max-residual (the map and its score).")
    ] = "mse",
    smooth: Annotated[
        float | None,
        typer.Option(min=0.0, help="Gaussian smoothing of the maps, sigma in px (0: none)."),
    ] = None,
    quantile: Annotated[
        float,
        typer.Option(
            min=0.5, max=1.0, help="The threshold: this quantile of normal images' scores."
        ),
    ] = 0.99,
    fit: Annotated[
        bool, typer.Option("--fit", help="Fit images of another shape as the spec's data.")
    ] = False,
    masks: Annotated[
        Path | None,
        typer.Option(help="Masks <defect>/<name>_mask.png for a folder of <defect>/ images."),
        Input,
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for scores and figures (default RUN/score-KIND)."),
        OutputFolder,
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace the scores in --out.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Anomaly scores and maps, a threshold from normal images, and metrics with labels."""
    from caegen.score.runner import ScoreOptions
    from caegen.score.runner import score as run_score

    hide_native_logs()
    options = ScoreOptions(kind=kind, smooth=smooth, quantile=quantile, fit=fit, masks=masks)
    try:
        result = run_score(source, images or None, options=options, out=out, force=force)
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    if format == Format.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        for line in report_lines(result):
            console.print(line, soft_wrap=True, highlight=False)
    if result.warnings:  # W112: labelled images of one kind, no metrics (also in the JSON)
        from caegen.cli.failures import report

        console.file.flush()
        report(result.warnings)


def report_lines(result) -> list[str]:  # type: ignore[no-untyped-def]
    m = result.metrics
    flagged = int(result.flagged.sum())
    lines = [
        f"run        {result.run_dir}",
        f"images     {result.images}",
        f"score      {result.kind.describe()}",
        f"threshold  {result.threshold.describe(result.calibration)}",
        f"pixels     map threshold {result.pixel_threshold.value:.6g}, the same quantile of "
        f"their {result.pixel_threshold.samples:,} pixels' values (the overlays' contour)",
        f"flagged    {flagged:,} of {len(result.scores):,} images score above it",
    ]
    if result.replaced is not None:
        was = result.replaced
        value = (was.get("threshold") or {}).get("value")
        lines.append(
            f"recorded   this scorer replaces the run's earlier one ({was.get('score')}, "
            f"threshold {value:.6g}); `caegen export --part scorer` exports this one"
            if isinstance(value, (int, float))
            else f"recorded   this scorer replaces the run's earlier one ({was.get('score')})"
        )
    if m:
        lines.append(
            f"image      AUROC {m['image_auroc']:.4f}  AUPRC {m['image_auprc']:.4f}  F1-max "
            f"{m['image_f1_max']:.4f} (at score {m['f1_max_threshold']:.6g}); "
            f"{m['anomalous_images']:,} anomalous, {m['normal_images']:,} normal"
        )
    if "pixel_auroc" in m:
        lines.append(
            f"pixel      AUROC {m['pixel_auroc']:.4f}  AUPRO (FPR <= {m['aupro_fpr_limit']:g}) "
            f"{m['aupro']:.4f}"
        )
    if result.per_kind:
        width = max(len(r["kind"]) for r in result.per_kind)
        lines.append(f"{'kind':<{width}}  images  flagged  AUROC vs normal")
        for r in result.per_kind:
            auroc = "-" if r["auroc"] is None else f"{r['auroc']:.4f}"
            share = r["flagged"] / max(r["images"], 1)
            lines.append(
                f"{r['kind']:<{width}}  {r['images']:>6,}  {r['flagged']:>5,} ({share:>4.0%})  "
                f"{auroc}"
            )
    lines.append(f"wrote      {result.out} ({', '.join(p.name for p in result.written)})")
    return lines
