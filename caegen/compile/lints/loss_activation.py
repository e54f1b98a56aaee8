"""W102 loss-activation: the loss does not suit the output activation or the data range.

What it does: flags binary cross-entropy on outputs that are not probabilities.
Why it is bad: bce expects predictions and targets in [0, 1]; on a linear or tanh output
Keras clips the predictions and the loss stops meaning anything (or turns NaN); on
[-1, 1] targets it is not a valid loss at all.
Example: `loss: bce` with a last layer `activation: linear`.
Use instead: `activation: sigmoid` with bce, or `loss: mse` for other outputs.
"""

from __future__ import annotations

from caegen.compile.graph import Graph
from caegen.compile.lints._util import SQUASHING_TO_UNIT, output_activation
from caegen.core.diagnostics import Diagnostic

CODE = "W102"


def check(graph: Graph) -> list[Diagnostic]:
    if graph.spec.train.loss != "bce":
        return []
    activation, node = output_activation(graph)
    out: list[Diagnostic] = []
    loc = graph.node(graph.output).location
    if activation not in SQUASHING_TO_UNIT:
        out.append(
            Diagnostic(
                CODE,
                f"loss bce expects outputs in [0, 1], but the output activation is "
                f"`{activation}` ({node.path})",
                node.field_location("activation"),
                "use activation: sigmoid on the last layer, or loss: mse",
            )
        )
    if graph.spec.data.range == "symmetric":
        out.append(
            Diagnostic(
                CODE,
                "loss bce needs targets in [0, 1], but data.range is symmetric ([-1, 1])",
                loc,
                "use loss: mse (or mae) for [-1, 1] data, or data.range: unit",
            )
        )
    return out
