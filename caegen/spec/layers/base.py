"""The base of every layer type.

A layer type is one pydantic model that owns everything caegen knows about it: its tag and
fields (the schema), its shape rule, its parameter count, its MACs and its Keras emission.
Shapes exclude the batch dimension: `(H, W, C)` for feature maps, `(N,)` for vectors.
"""

from dataclasses import dataclass
from math import prod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from caegen.core.limits import MAX_INT

Shape = tuple[int, ...]

PositiveInt = Annotated[int, Strict(), Field(gt=0, le=MAX_INT)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0, le=MAX_INT)]
# Floats are strict (a YAML number, never a string or a boolean) and finite; `le` at the
# largest float puts the finiteness in the JSON Schema too (JSON has no infinity).
FLOAT_MAX = 1.7976931348623157e308
Probability = Annotated[float, Strict(), Field(ge=0.0, lt=1.0)]
NonNegativeFloat = Annotated[float, Strict(), Field(ge=0.0, le=FLOAT_MAX, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Strict(), Field(gt=0.0, le=FLOAT_MAX, allow_inf_nan=False)]


def _as_pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


IntPair = Annotated[
    PositiveInt | tuple[PositiveInt, PositiveInt],
    AfterValidator(_as_pair),
    Field(description="an int, or a pair [height, width]"),
]
NonNegativeIntPair = Annotated[
    NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt],
    AfterValidator(_as_pair),
    Field(description="an int, or a pair [height, width]"),
]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# Keras lowercases `padding` ("SAME" works there too); the schema says so with a pattern.
Padding = Annotated[
    Literal["same", "valid"],
    BeforeValidator(_lower),
    Field(json_schema_extra={"pattern": "^([Ss][Aa][Mm][Ee]|[Vv][Aa][Ll][Ii][Dd])$"}),
]
Initializer = Literal[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "variance_scaling",
    "zeros",
    "ones",
]
"""Keras initializer names; their random draws are seeded by `train.seed`."""
Activation = Literal[
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softplus",
    "softsign",
    "exponential",
]
LayerName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")]
# A warning or info code that a spec may acknowledge (errors cannot be silenced).
LintCode = Annotated[str, Field(pattern=r"^[WI][0-9]{3}$")]


def cross_field_error(
    field: str, message: str, hint: str, index: int | None = None
) -> PydanticCustomError:
    """A rule between two fields, reported at `field` (at its entry `index`, for a list) with
    its own hint (not a raw dump)."""
    context: dict[str, object] = {"field": field, "hint": hint}
    if index is not None:
        context["index"] = index
    return PydanticCustomError("cross_field", message, context)


class Regularizer(BaseModel):
    """An L1/L2 penalty on weights or activations (`keras.regularizers.L1L2`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    l1: Annotated[float, Strict(), Field(ge=0.0, le=FLOAT_MAX)] = 0.0
    l2: Annotated[float, Strict(), Field(ge=0.0, le=FLOAT_MAX)] = 0.0

    def to_keras(self, extra_l2: float = 0.0) -> Any:
        import keras

        return keras.regularizers.L1L2(l1=self.l1, l2=self.l2 + extra_l2)


class WeightFields(BaseModel):
    """How a layer with a kernel and a bias initializes and penalizes them (Keras names)."""

    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer | None = Field(
        default=None, description="{l1, l2} on the kernel; adds to train.weight_decay"
    )
    activity_regularizer: Regularizer | None = Field(
        default=None, description="{l1, l2} on the output, e.g. {l1: 1.0e-5} (sparse codes)"
    )


class ShapeError(Exception):
    """A layer cannot be applied to its input shape. `field` names the culprit key, if any."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        field: str | None = None,
        code: str = "E030",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field
        self.code = code


@dataclass(frozen=True)
class ParamCount:
    trainable: int = 0
    non_trainable: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def __add__(self, other: "ParamCount") -> "ParamCount":
        return ParamCount(
            self.trainable + other.trainable, self.non_trainable + other.non_trainable
        )


def fmt_shape(shape: Shape | None) -> str:
    return "?" if shape is None else "x".join(str(d) for d in shape)


def require_rank(layer: "LayerBase", shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        hint = (
            "add a `reshape` layer before it, e.g. {type: reshape, target_shape: [H, W, C]}"
            if rank == 3
            else "add a `flatten` layer before it"
        )
        raise ShapeError(
            f"{layer.type} expects {what} (rank {rank}), received shape {fmt_shape(shape)}",
            hint,
        )


CAEGEN_FIELDS = {"type", "name", "inputs", "ignore"}
"""Fields every layer has that are caegen's own, not Keras arguments."""
REGULARIZER_FIELDS = {"kernel_regularizer", "activity_regularizer"}
"""Emitted as Keras regularizer objects by `to_keras`, not passed as plain values."""


def _type_required(schema: dict[str, Any], cls: type) -> None:
    """Every layer names its `type` (the tag has a default only for Python callers)."""
    required = schema.setdefault("required", [])
    if "type" not in required:
        required.insert(0, "type")


class LayerBase(BaseModel):
    """Fields shared by every layer: `name` and `inputs`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, defer_build=True, json_schema_extra=_type_required
    )

    type: str
    name: LayerName | None = Field(
        default=None, description="unique across the spec; default encoder.N / decoder.N"
    )
    inputs: LayerName | list[LayerName] | None = Field(
        default=None,
        description="the layer(s) this one reads; default: the previous layer "
        "(`latent` for the first decoder layer). `input` names the model input.",
    )
    ignore: list[LintCode] | None = Field(
        default=None,
        description="warning/info codes acknowledged on this layer, e.g. [W105] on a U-Net "
        "skip; an ignore that matches nothing is reported (I110)",
    )

    keras_class: ClassVar[str]
    """The name of the Keras layer class this type emits."""
    is_merge: ClassVar[bool] = False
    kernel_regularizer_args: ClassVar[tuple[str, ...]] = ()
    """Keras arguments that take the weight-decay regularizer (kernels only)."""
    input_roles: ClassVar[tuple[str, ...]] = ()
    """What each input means, where position matters (shown in the layer table)."""

    def input_names(self) -> list[str] | None:
        if self.inputs is None:
            return None
        return [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)

    # --- shape, params, cost: overridden per type -------------------------------------
    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        return ParamCount()

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return 0

    @property
    def window_strides(self) -> tuple[int, int] | None:
        """The strides of a sliding-window layer (conv or pool); None for other layers."""
        return None

    @property
    def activation_name(self) -> str:
        return str(getattr(self, "activation", "linear"))

    # --- Keras --------------------------------------------------------------------------
    def keras_kwargs(self) -> dict[str, Any]:
        """The Keras constructor arguments: the spec fields minus caegen's own."""
        return self.model_dump(exclude=CAEGEN_FIELDS | REGULARIZER_FIELDS)

    def to_keras(self, name: str, regularizer: Any = None, dtype: str | None = None) -> Any:
        from keras import layers

        kwargs = self.keras_kwargs()
        own = getattr(self, "kernel_regularizer", None)
        decay = float(getattr(regularizer, "l2", 0.0)) if regularizer is not None else 0.0
        if own is not None:  # the layer's penalty and train.weight_decay add up
            kwargs["kernel_regularizer"] = own.to_keras(extra_l2=decay)
        elif regularizer is not None:
            kwargs.update({arg: regularizer for arg in self.kernel_regularizer_args})
        if getattr(self, "activity_regularizer", None) is not None:
            kwargs["activity_regularizer"] = self.activity_regularizer.to_keras()  # type: ignore[attr-defined]
        if dtype is not None:
            kwargs["dtype"] = dtype
        return getattr(layers, self.keras_class)(name=name, **kwargs)

    @classmethod
    def from_keras_config(cls, config: dict[str, Any]) -> "LayerBase":
        """The spec fields read back from a Keras layer's `get_config()`."""
        fields = {
            key: _from_keras_value(config[key])
            for key in cls.model_fields
            if key not in CAEGEN_FIELDS and key in config and config[key] is not None
        }
        return cls(**fields)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _from_keras_value(value: Any) -> Any:
    if isinstance(value, dict) and "class_name" in value:  # a serialized Keras object
        config = value.get("config") or {}
        if value["class_name"] in ("L1L2", "L1", "L2"):
            return {"l1": float(config.get("l1", 0.0)), "l2": float(config.get("l2", 0.0))}
        return _snake(value["class_name"])  # an initializer, e.g. GlorotUniform
    if isinstance(value, list):
        return tuple(_from_keras_value(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_from_keras_value(v) for v in value)
    return value


def spatial_elements(shape: Shape) -> int:
    """Positions over which a last-axis operation is repeated (all axes but the last)."""
    return prod(shape[:-1]) if len(shape) > 1 else 1
