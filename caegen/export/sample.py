"""`caegen sample`: decode draws from a VAE's prior, a 2-D latent manifold, or given codes.

A VAE's latent prior is N(0, I), so decoding its draws generates new images. A plain
autoencoder's code space has no prior (its codes cluster wherever training put them), so
drawing from N(0, I) there is not meaningful; decoding codes one gives (`--latent FILE`)
works for any autoencoder with a standalone decoder.
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


def sample(
    source: Path,
    *,
    n: int = 64,
    seed: int = 0,
    grid: int | None = None,
    latent: Path | None = None,
    out: Path | None = None,
) -> SampleResult:
    from caegen.compile.compiler import check
    from caegen.compile.passes.variational import is_variational

    run = Run.find(Path(source), purpose="export")
    report = check(run.spec)
    assert report.graph is not None and report.latent_shape is not None
    shape = tuple(report.latent_shape)
    variational = is_variational(report.graph)
    if latent is None and not variational:
        raise error(
            "E065",
            f"{run.spec.name} is not a variational autoencoder: its latent codes follow no "
            "known prior, so draws from N(0, I) would decode to arbitrary images",
            "decode codes you choose with --latent FILE.npy (an array of shape "
            f"(N, {', '.join(map(str, shape))})), or train a spec with a sampling layer",
        )
    if grid is not None and latent is None and shape != (2,):  # refused before any drawing
        raise error(
            "E065",
            f"--grid draws a 2-D manifold; {run.spec.name}'s latent is {shape}",
            "use a spec with a 2-unit latent (e.g. specs/digits_cvae.yaml)",
        )
    if not report.decoder_separable:
        raise error(
            "E056",
            f"{run.spec.name} has no standalone decoder (skip connections)",
            "sampling needs a decoder that reads only the latent code",
        )
    codes = _codes(latent, shape) if latent is not None else None  # before any model is loaded
    decoder = run.load_model("decoder")
    folder = out or run.path
    result = SampleResult(latent_shape=shape)
    if codes is not None:
        result.written.append(_grid(decoder.predict(codes, verbose=0), folder / "decoded.png", run))
        return result
    rng = np.random.default_rng(seed)
    draws = rng.standard_normal((n, *shape)).astype(np.float32)
    result.written.append(_grid(decoder.predict(draws, verbose=0), folder / "samples.png", run))
    if grid is not None:
        result.written.append(_manifold(decoder, grid, folder / "manifold.png", run))
        scatter = _scatter(run, folder / "latent_scatter.png")
        if scatter is not None:
            result.written.append(scatter)
    return result


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


def _scatter(run: Run, path: Path) -> Path | None:
    """Test images' mean codes, coloured by label where the data has labels."""
    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays
    from caegen.training.plots import pyplot, save_figure

    test = load_data(run.spec).test
    if test.labels is None:
        return None
    count = min(len(test), 2000)
    x, _ = evaluation_arrays(
        test, run.spec, seed=run.spec.train.seed + 1, indices=list(range(count))
    )
    codes = run.load_model("encoder").predict(x, verbose=0)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=test.labels[:count], cmap="tab10", s=6)
    fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel("z[0] (mean)")
    ax.set_ylabel("z[1] (mean)")
    ax.set_title(f"{run.spec.name}: {count} test images in the latent space")
    save_figure(fig, path)
    return path
