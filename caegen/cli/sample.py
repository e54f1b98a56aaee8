"""`caegen sample`: the command; the work is in caegen.export.sample."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from caegen.cli.boundary import Input, OutputFolder
from caegen.cli.commands import app, console, fail, hide_native_logs
from caegen.cli.styled import styled
from caegen.core.diagnostics import CaegenError, error
from caegen.core.limits import MAX_DRAWS


@app.command()
def sample(
    source: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run directory or runs/<name>."), Input
    ],
    n: Annotated[int, typer.Option("--n", min=1, max=MAX_DRAWS, help="Draws from the prior.")] = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the draws.")] = 0,
    grid: Annotated[
        int | None, typer.Option(min=2, max=60, help="2-D latent: a K x K decoded manifold.")
    ] = None,
    latent: Annotated[
        Path | None,
        typer.Option(help="Decode these codes (.npy, shape (N, *latent), N <= 4096, finite)."),
        Input,
    ] = None,
    scatter: Annotated[
        bool,
        typer.Option(
            "--scatter", help="2-D latent: the test images' codes by label (any autoencoder)."
        ),
    ] = False,
    point: Annotated[
        list[str] | None,
        typer.Option(metavar="X,Y", help="2-D latent: decode this code (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the PNGs (default: the run)."), OutputFolder
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing PNGs.")] = False,
) -> None:
    """Decode draws from a VAE's prior (and a 2-D manifold), given codes, or 2-D points."""
    from caegen.export.sample import sample as run_sample

    hide_native_logs()
    try:
        result = run_sample(
            source,
            n=n,
            seed=seed,
            grid=grid,
            latent=latent,
            scatter=scatter,
            points=[_point(text) for text in point or []],
            out=out,
            force=force,
        )
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    for path in result.written:
        console.print(styled(("wrote", "bold green"), f" {path}"), soft_wrap=True)


def _point(text: str) -> tuple[float, float]:
    """`X,Y` as two finite floats."""
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        x = y = float("nan")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise error(
            "E012",
            f"--point {text} is not a 2-D code",
            "write two numbers separated by a comma, e.g. --point 0.5,-1.2",
        )
    return x, y
