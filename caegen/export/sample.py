"""`caegen sample`: decode draws from a VAE's prior, a 2-D latent manifold, or given codes.

A VAE's latent prior is N(0, I), so decoding its draws generates new images. A plain
autoencoder's code space has no prior (its codes cluster wherever training put them), so
drawing from N(0, I) there is not meaningful; decoding codes one gives (`--latent FILE`)
works for any autoencoder with a standalone decoder, and so do, for a latent of 2 values,
the scatter of the test images' codes by label and the decoding of chosen points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from statistics import NormalDist
from typing import BinaryIO

import numpy as np

from caegen.core.diagnostics import CaegenError, error
from caegen.core.inputs import open_input
from caegen.core.limits import MAX_DRAWS
from caegen.training.rundir import Run

MAX_CODES = MAX_DRAWS
"""Codes decoded per run (`--latent`): the bound of `--n`, checked from the file's header."""


@dataclass
class SampleResult:
    written: list[Path] = field(default_factory=list)
    latent_shape: tuple[int, ...] = ()


SAMPLES, MANIFOLD, SCATTER = "samples.png", "manifold.png", "latent_scatter.png"
DECODED, POINTS = "decoded.png", "decoded_points.png"


def sample(
    source: Path,
    *,
    n: int = 64,
    seed: int = 0,
    grid: int | None = None,
    latent: Path | None = None,
    scatter: bool = False,
    points: list[tuple[float, float]] | None = None,
    out: Path | None = None,
    force: bool = False,
) -> SampleResult:
    """Decode what is asked and write the figures; nothing is written when a request is
    refused, and no file is replaced unless `force`.

    `latent`: codes to decode (any autoencoder). `scatter`: the test images' codes by label,
    `points`: 2-D codes to decode (any autoencoder with a 2-value latent). Otherwise draws
    from a VAE's prior, with `grid` a K x K manifold and the scatter.
    """
    from caegen.compile.compiler import check
    from caegen.compile.passes.variational import is_variational

    run = Run.find(Path(source), purpose="export")
    report = check(run.spec)
    assert report.graph is not None and report.latent_shape is not None
    shape = tuple(report.latent_shape)
    names = _outputs(run, shape, is_variational(report.graph), grid, latent, scatter, points)
    if set(names) - {SCATTER} and not report.decoder_separable:
        raise error(
            "E056",
            f"{run.spec.name} has no standalone decoder (skip connections)",
            "decoding needs a decoder that reads only the latent code",
        )
    codes = _codes(latent, shape) if latent is not None else None
    folder = out or run.path
    _refuse_to_replace([folder / name for name in names], force)
    result = SampleResult(latent_shape=shape)
    decoder = run.load_model("decoder") if set(names) - {SCATTER} else None
    for name in names:
        path = folder / name
        if name == DECODED:
            _grid(decoder.predict(codes, verbose=0), path, run)  # type: ignore[union-attr]
        elif name == SAMPLES:
            draws = np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
            _grid(decoder.predict(draws, verbose=0), path, run)  # type: ignore[union-attr]
        elif name == MANIFOLD:
            _manifold(decoder, grid, path, run)  # type: ignore[arg-type]
        elif name == POINTS:
            chosen = np.array(points, np.float32).reshape(len(points or []), *shape)
            _grid(decoder.predict(chosen, verbose=0), path, run)  # type: ignore[union-attr]
        else:
            _scatter(run, path, points)
        result.written.append(path)
    return result


def _outputs(
    run: Run,
    shape: tuple[int, ...],
    variational: bool,
    grid: int | None,
    latent: Path | None,
    scatter: bool,
    points: list[tuple[float, float]] | None,
) -> list[str]:
    """The figures a request writes, in order; a request that cannot be met is refused
    here, before anything is drawn or written."""
    two_d = int(np.prod(shape)) == 2
    if (scatter or points) and not two_d:
        what = "--scatter" if scatter else "--point"
        raise error(
            "E065",
            f"{what} plots a 2-D latent; {run.spec.name}'s latent is {shape}",
            "use a spec whose latent code has 2 values (e.g. specs/digits_2d_latent.yaml)",
        )
    if latent is not None or scatter or points:
        return (
            ([DECODED] if latent is not None else [])
            + ([POINTS] if points else [])
            + ([SCATTER] if scatter else [])
        )
    if not variational:
        raise error(
            "E065",
            f"{run.spec.name} is not a variational autoencoder: its latent codes follow no "
            "known prior, so draws from N(0, I) would decode to arbitrary images",
            "decode codes you choose with --latent FILE.npy (an array of shape "
            f"(N, {', '.join(map(str, shape))}))"
            + (", or plot its codes with --scatter and --point X,Y" if two_d else "")
            + ", or train a spec with a sampling layer",
        )
    if grid is not None and shape != (2,):
        raise error(
            "E065",
            f"--grid draws a 2-D manifold; {run.spec.name}'s latent is {shape}",
            "use a spec with a 2-unit latent (e.g. specs/digits_cvae.yaml)",
        )
    return [SAMPLES] + ([MANIFOLD, SCATTER] if grid is not None else [])


def _refuse_to_replace(paths: list[Path], force: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise error(
            "E050",
            f"{', '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''}; "
            "not overwriting",
            "pass --force to replace them, or --out FOLDER to write elsewhere",
        )


_CODES_HINT = "save an array of codes with np.save (a .npy file)"


def _codes_error(path: Path, problem: str, hint: str = _CODES_HINT) -> CaegenError:
    return error("E053", f"the latent codes file {path} {problem}", hint)


def _npy_header(f: BinaryIO, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from a .npy header, without reading the array."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"format version {version} is not read here")
        shape, fortran, dtype = read(f)
    except (ValueError, SyntaxError, TypeError, RecursionError, EOFError) as exc:
        raise _codes_error(path, f"is not a .npy array ({exc})") from None
    except OSError as exc:
        raise _codes_error(path, f"cannot be read: {exc.strerror or exc}") from None
    return tuple(shape), bool(fortran), dtype


def _codes(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The codes in a .npy file, checked before any model is loaded: the array's shape
    (one code, or N of them), a numeric dtype, at most MAX_CODES codes (from the header,
    before the data is read), and finite values once in float32."""
    with open_input(path, "latent codes file", _CODES_HINT) as f:
        stored, fortran, dtype = _npy_header(f, path)
        full = stored if len(stored) != len(shape) else (1, *stored)
        numeric = np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
        if tuple(full[1:]) != shape or not numeric:
            raise _codes_error(
                path,
                f"holds {dtype} codes of shape {stored}; the latent is {shape}",
                f"save an array of shape (N, {', '.join(map(str, shape))})",
            )
        count = full[0]
        if not 0 < count <= MAX_CODES:
            raise _codes_error(
                path,
                f"holds {count:,} codes; one run decodes 1 to {MAX_CODES:,}",
                "split the codes into several files",
            )
        size = prod(full) * dtype.itemsize
        data = f.read(size)
    if len(data) != size:
        raise _codes_error(path, f"is truncated: {len(data):,} of {size:,} bytes of data")
    codes = np.frombuffer(data, dtype).reshape(full, order="F" if fortran else "C")
    with np.errstate(over="ignore", invalid="ignore"):
        codes = codes.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(codes.reshape(count, -1)).all(axis=1))
    if bad.size:
        raise _codes_error(
            path,
            f"holds {bad.size:,} code(s) with NaN or infinite values (as float32), the first "
            f"at index {bad[0]}",
            "decode finite codes only (values beyond float32's 3.4e38 are infinite)",
        )
    return codes


def _grid(images: np.ndarray, path: Path, run: Run, cols: int = 8) -> Path:
    from caegen.training.plots import reconstruction_grid

    rows = [
        (str(i // cols * cols) if i == 0 else "", images[i : i + cols])
        for i in range(0, len(images), cols)
    ]
    rows = [(label, imgs) for label, imgs in rows if len(imgs) == cols] or [("", images)]
    reconstruction_grid(rows, path, run.spec.data.range)
    return path


def _manifold(decoder: object, k: int, path: Path, run: Run) -> Path:
    """Decoded points on a k x k grid over the prior's quantiles (5% to 95%)."""
    from caegen.training.plots import pyplot, save_figure
    from caegen.training.tensorboard import grid as tile

    quantiles = [NormalDist().inv_cdf(q) for q in np.linspace(0.05, 0.95, k)]
    codes = np.array([[x, y] for y in reversed(quantiles) for x in quantiles], np.float32)
    images = decoder.predict(codes, verbose=0)  # type: ignore[attr-defined]
    rows = [images[r * k : (r + 1) * k] for r in range(k)]
    picture = tile(rows, run.spec.data.range)[0]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture, cmap="gray")
    ax.set_title(f"{run.spec.name}: decoded 2-D latent, prior quantiles 5%..95%")
    ax.set_xticks([])
    ax.set_yticks([])
    save_figure(fig, path)
    return path


def _scatter(run: Run, path: Path, points: list[tuple[float, float]] | None = None) -> Path:
    """Test images' codes (a VAE's mean codes), coloured by label where the data has
    labels; given points marked."""
    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays
    from caegen.training.plots import pyplot, save_figure

    test = load_data(run.spec).test
    count = min(len(test), 2000)
    x, _ = evaluation_arrays(
        test, run.spec, seed=run.spec.train.seed + 1, indices=list(range(count))
    )
    codes = run.load_model("encoder").predict(x, verbose=0).reshape(count, 2)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    if test.labels is not None:
        shown = ax.scatter(codes[:, 0], codes[:, 1], c=test.labels[:count], cmap="tab10", s=6)
        fig.colorbar(shown, ax=ax, label="label")
    else:
        ax.scatter(codes[:, 0], codes[:, 1], s=6)
    for x_point, y_point in points or []:
        ax.scatter(x_point, y_point, marker="x", color="black", s=80)
        ax.annotate(f"({x_point:g}, {y_point:g})", (x_point, y_point), fontsize=8)
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"{run.spec.name}: {count} test images in the latent space")
    save_figure(fig, path)
    return path
