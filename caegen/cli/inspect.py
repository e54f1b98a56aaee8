"""`caegen inspect`: the command; the work is in caegen.inspect.inspector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caegen.cli.boundary import Input, OutputFolder
from caegen.cli.commands import app, console, fail, hide_native_logs
from caegen.cli.styled import styled
from caegen.core.diagnostics import CaegenError


@app.command()
def inspect(
    source: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run directory or runs/<name>."), Input
    ],
    image: Annotated[
        int | None,
        typer.Option(min=0, help="Feed test image N, as the run's evaluation does (default: 0)."),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="Feed this image file instead (png, jpg)."),
        Input,
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(help="Layer names, comma-separated (default: every convolution)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the figures (default: inspect/<name>/<run>)."),
        OutputFolder,
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace existing figures.")] = False,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard",
            help="Write the figures to the run's TensorBoard folder (files too with --out).",
        ),
    ] = False,
) -> None:
    """Learned filters and feature maps before and after each activation, layer by layer."""
    if image is not None and input_file is not None:
        raise typer.BadParameter("pass --image N or --input FILE, not both")
    from caegen.inspect.inspector import inspect as run_inspect

    hide_native_logs()
    names = [n.strip() for n in layers.split(",") if n.strip()] if layers is not None else None
    try:
        result = run_inspect(
            source,
            image=image,
            input_file=input_file,
            layers=names,
            out=out,
            force=force,
            tensorboard=tensorboard,
        )
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    console.print(f"{result.run.path}: {result.image_label}")
    for view in result.views:
        console.print(f"  {view.summary()}", soft_wrap=True)
    figures = [p for p in result.written if p.suffix == ".png" and ".filters" not in p.suffixes]
    for path in figures:
        console.print(styled(("wrote", "bold green"), f" {path}"), soft_wrap=True)
    if figures:
        console.print("      and beside each its filter grid (.filters.png) and numbers (.npz)")
    if result.tensorboard is not None:
        console.print(
            styled(("wrote", "bold green"), f" TensorBoard images to {result.tensorboard}"),
            soft_wrap=True,
        )
