"""Merges of several inputs: add, concatenate."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict

from caegen.spec.layers.base import LayerBase, Shape, ShapeError, fmt_shape


def _shapes(in_shapes: list[Shape]) -> str:
    return ", ".join(fmt_shape(s) for s in in_shapes)


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """Keras `Merge._compute_elemwise_op_output_shape`: size-1 axes broadcast."""
    if len(a) < len(b):
        a, b = b, a
    out: list[int] = []
    for i, j in zip(a[len(a) - len(b) :], b, strict=False):
        if i != j and 1 not in (i, j):
            return None
        out.append(j if i == 1 else i)
    return (*a[: len(a) - len(b)], *out)


class _Elementwise(LayerBase):
    is_merge: ClassVar[bool] = True

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        out: Shape | None = in_shapes[0]
        for shape in in_shapes[1:]:
            out = broadcast(out, shape) if out is not None else None
        if out is None:
            raise ShapeError(
                f"{self.type} needs inputs of the same shape, received {_shapes(in_shapes)}",
                "make the inputs agree (same spatial size and channels), or use concatenate",
            )
        return out


class Add(_Elementwise):
    """Element-wise sum (`keras.layers.Add`); size-1 axes broadcast as in Keras."""

    type: Literal["add"] = "add"
    keras_class: ClassVar[str] = "Add"


class Multiply(_Elementwise):
    """Element-wise product (`keras.layers.Multiply`), e.g. a gate or an attention mask."""

    type: Literal["multiply"] = "multiply"
    keras_class: ClassVar[str] = "Multiply"


class Concatenate(LayerBase):
    """Join along an axis (`keras.layers.Concatenate`, default the channel axis)."""

    type: Literal["concatenate"] = "concatenate"
    axis: Annotated[int, Strict()] = Field(default=-1, description="an axis of the features")
    keras_class: ClassVar[str] = "Concatenate"
    is_merge: ClassVar[bool] = True

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        ranks = {len(s) for s in in_shapes}
        rank = ranks.pop() if len(ranks) == 1 else None
        # Keras counts `axis` over the batched shape: 0 is the batch axis.
        axis = None
        if rank is not None and -rank <= self.axis <= rank and self.axis != 0:
            axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if rank is None or axis is None:
            raise ShapeError(
                f"concatenate on axis {self.axis} needs inputs of one rank, received "
                f"{_shapes(in_shapes)}",
                "flatten or reshape the inputs to the same rank; axis -1 joins channels",
                field="axis" if rank is not None else None,
            )
        others = {tuple(d for i, d in enumerate(s) if i != axis) for s in in_shapes}
        if len(others) != 1:
            raise ShapeError(
                f"concatenate on axis {self.axis} needs all other axes equal, received "
                f"{_shapes(in_shapes)}",
                "resize the inputs to the same spatial size (e.g. with upsampling2d or "
                "cropping2d) before joining them",
            )
        first = in_shapes[0]
        joined = sum(s[axis] for s in in_shapes)
        return (*first[:axis], joined, *first[axis + 1 :])
