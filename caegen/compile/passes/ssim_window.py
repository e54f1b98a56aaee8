"""E095 ssim-window: `loss: ssim` on images smaller than its 11x11 window.

SSIM compares local statistics in an 11x11 Gaussian window (Bergmann et al.'s settings,
as TensorFlow's `tf.image.ssim` computes it); an image or a reconstruction with fewer than
11 rows or columns has no window position inside it, so the loss is not defined. Checked
statically: the spec fails `check`, not the first training step.
"""

from __future__ import annotations

from caegen.compile.graph import Graph, locate
from caegen.core.diagnostics import Diagnostic
from caegen.spec.layers import fmt_shape

CODE = "E095"
WINDOW = 11
"""The window of `caegen.training.losses` (kept here so `check` never imports Keras)."""


def check_ssim_window(graph: Graph) -> list[Diagnostic]:
    spec = graph.spec
    if spec.train.loss != "ssim":
        return []
    output = graph.node(graph.output).shape
    shapes = [("the input", tuple(spec.input))]
    if output is not None and len(output) == 3 and output[:2] != tuple(spec.input[:2]):
        shapes.append(("the reconstruction", output))
    for what, shape in shapes:
        if min(shape[:2]) < WINDOW:
            return [
                Diagnostic(
                    CODE,
                    f"loss ssim compares {WINDOW}x{WINDOW} windows, but {what} is "
                    f"{fmt_shape(shape)}: no window fits inside it",
                    locate(spec.source, ("train", "loss")),
                    f"use images of at least {WINDOW}x{WINDOW} (e.g. data.fit: resize to a "
                    "larger input), or loss: mse",
                )
            ]
    return []
