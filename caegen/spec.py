"""The spec language: the pydantic models of a caegen YAML file (see docs/spec.md)."""

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    model_validator,
)

from caegen.layers import LayerSpec
from caegen.layers.base import (
    LintCode,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    cross_field_error,
)
from caegen.limits import MAX_BATCH, MAX_EPOCHS, MAX_SEED
from caegen.yamlpos import Positions

DataSource = Literal[
    "digits", "patches", "mnist", "fashion_mnist", "cifar10", "cifar100", "folder", "npz"
]
DataRange = Literal["unit", "symmetric"]


def _yaml_boolean_to_toggle(value: object) -> object:
    # YAML 1.1 reads a bare `on` / `off` as a boolean
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


Toggle = Annotated[Literal["auto", "on", "off"], BeforeValidator(_yaml_boolean_to_toggle)]
UnitInterval = Annotated[float, Strict(), Field(ge=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Noise(_Strict):
    """Train as a denoising autoencoder: Gaussian noise added to the inputs on the fly."""

    stddev: PositiveFloat


class Data(_Strict):
    source: DataSource = "digits"
    path: str | None = Field(default=None, description="the folder (folder) or file (npz)")
    range: DataRange = Field(default="unit", description="unit = [0, 1]; symmetric = [-1, 1]")
    noise: Noise | None = None
    fit: Literal["resize", "pad"] = Field(
        default="resize", description="how images smaller or larger than `input` are fitted"
    )
    limit: PositiveInt | None = Field(default=None, description="use at most N train images")
    eval_limit: PositiveInt | None = Field(
        default=None,
        description="score on at most N test images (default: the whole test split)",
    )

    @model_validator(mode="after")
    def _path_for_files(self) -> "Data":
        if self.source in ("folder", "npz") and not self.path:
            raise cross_field_error(
                "path",
                f"data source `{self.source}` needs `path`",
                "add path: a folder of images"
                if self.source == "folder"
                else "add path: an .npz file with x_train and x_test",
            )
        return self


class _AdamFamily(_Strict):
    learning_rate: PositiveFloat = 0.001
    beta_1: UnitInterval = 0.9
    beta_2: UnitInterval = 0.999
    epsilon: PositiveFloat = 1e-7


class Adam(_AdamFamily):
    name: Literal["adam"] = "adam"


class AdamW(_AdamFamily):
    name: Literal["adamw"] = "adamw"
    weight_decay: NonNegativeFloat = 0.004


class SGD(_Strict):
    name: Literal["sgd"] = "sgd"
    learning_rate: PositiveFloat = 0.01
    momentum: UnitInterval = 0.0
    nesterov: bool = False


class RMSprop(_Strict):
    name: Literal["rmsprop"] = "rmsprop"
    learning_rate: PositiveFloat = 0.001
    rho: Annotated[float, Strict(), Field(gt=0.0, lt=1.0)] = 0.9
    momentum: UnitInterval = 0.0
    epsilon: PositiveFloat = 1e-7


Optimizer = Annotated[Adam | AdamW | SGD | RMSprop, Field(discriminator="name")]


class WeightDecay(_Strict):
    l2: NonNegativeFloat = 0.0
    scope: Literal["encoder", "all"] = Field(
        default="encoder", description="encoder: the decoder stays unregularized"
    )


class EarlyStopping(_Strict):
    patience: PositiveInt = 5
    min_delta: NonNegativeFloat = 0.0


class Train(_Strict):
    epochs: Annotated[PositiveInt, Field(le=MAX_EPOCHS)] = 10
    batch_size: Annotated[PositiveInt, Field(le=MAX_BATCH)] = 128
    loss: Literal["mse", "mae", "bce"] = "mse"
    optimizer: Optimizer = Field(default_factory=Adam)
    weight_decay: WeightDecay = Field(default_factory=WeightDecay)
    early_stopping: EarlyStopping | None = None
    mixed_precision: Toggle = Field(default="auto", description="auto: on when a GPU is present")
    jit_compile: Toggle = Field(default="auto", description="auto: on when a GPU is present")
    seed: Annotated[int, Strict(), Field(ge=0, le=MAX_SEED)] = 0


class Lint(_Strict):
    """Which findings the spec acknowledges (like a linter's per-file ignores)."""

    ignore: list[LintCode] = Field(
        default_factory=list,
        description="warning/info codes acknowledged for the whole spec, e.g. [I107]",
    )


@dataclass(frozen=True)
class Source:
    """Where a spec came from, for diagnostics: the file, its text and YAML positions."""

    file: str | None
    text: str
    positions: Positions


class Spec(_Strict):
    """A convolutional autoencoder: an encoder and a decoder as layer stacks."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")]
    description: str | None = None
    input: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        description="H, W, C (channels-last)"
    )
    encoder: list[LayerSpec] = Field(
        min_length=1, description="the last encoder layer's output is the latent code"
    )
    decoder: list[LayerSpec] = Field(
        min_length=1, description="its first layer reads the latent code by default"
    )
    data: Data = Field(default_factory=Data)
    train: Train = Field(default_factory=Train)
    lint: Lint = Field(default_factory=Lint)

    _source: Source | None = PrivateAttr(default=None)

    @property
    def source(self) -> Source | None:
        return self._source

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, as plain data (what a run records)."""
        return self.model_dump(mode="json", exclude_none=True)

    def spec_hash(self) -> str:
        canonical = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "caegen spec"
    return schema
