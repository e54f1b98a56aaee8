"""`caegen sample`: the command; the work is in caegen.export.sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caegen.cli.app import app, console, fail, hide_native_logs
from caegen.cli.boundary import Input, OutputFolder
from caegen.cli.styled import styled
from caegen.core.diagnostics import CaegenError
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
    out: Annotated[
        Path | None, typer.Option(help="Folder for the PNGs (default: the run)."), OutputFolder
    ] = None,
) -> None:
    """Decode draws from a VAE's prior (and a 2-D manifold), or given latent codes."""
    from caegen.export.sample import sample as run_sample

    hide_native_logs()
    try:
        result = run_sample(source, n=n, seed=seed, grid=grid, latent=latent, out=out)
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    for path in result.written:
        console.print(styled(("wrote", "bold green"), f" {path}"), soft_wrap=True)
