"""The spec language: the pydantic models of a caegen YAML file (see docs/spec.md)."""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    model_validator,
)

from caegen.core.limits import MAX_BATCH, MAX_EPOCHS, MAX_SEED
from caegen.spec.layers import LAYER_BY_TYPE, LayerSpec
from caegen.spec.layers.base import Activation as ActivationName
from caegen.spec.layers.base import (
    Initializer,
    LintCode,
    NonNegativeFloat,
    Padding,
    PositiveFloat,
    PositiveInt,
    Regularizer,
    cross_field_error,
)
from caegen.spec.optimizers import Adam, Optimizer, Schedule
from caegen.spec.yamlpos import Positions

DataSource = Literal[
    "digits",
    "patches",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "folder",
    "npz",
    "textures",
]
DataRange = Literal["unit", "symmetric"]
Texture = Literal["brick", "grass", "gravel"]
Label = Annotated[int, Strict(), Field(ge=0)]
Labels = Annotated[list[Label], Field(min_length=1, json_schema_extra={"uniqueItems": True})]
"""`data.classes`, `data.normal`: each label once (the loader names a repeated one's line)."""
# How many labels each labelled source has (0..N-1).
DEFAULT_CALIBRATION = 0.1
LABEL_COUNT = {"digits": 10, "mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}


def _yaml_boolean_to_toggle(value: object) -> object:
    # YAML 1.1 reads a bare `on` / `off` as a boolean
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


Toggle = Annotated[Literal["auto", "on", "off"], BeforeValidator(_yaml_boolean_to_toggle)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Noise(_Strict):
    """Train as a denoising autoencoder: Gaussian noise added to the inputs on the fly."""

    stddev: PositiveFloat


def _label_bounds(schema: dict[str, Any]) -> None:
    """The labels each source has, for JSON Schema validators (the loader checks the same):
    a labelled source's labels are 0..count-1; other sources take no classes or normal."""
    unlabelled = {"type": "null"}
    rules: list[dict[str, Any]] = []
    for source, count in LABEL_COUNT.items():
        bounded = {"anyOf": [{"type": "array", "items": {"maximum": count - 1}}, unlabelled]}
        labelled = {"classes": bounded, "normal": bounded}
        when = {"properties": {"source": {"const": source}}}
        if source == "digits":  # the default source: a spec without `source` reads it
            when = {"anyOf": [when, {"not": {"required": ["source"]}}]}
        rules.append({"if": when, "then": {"properties": labelled}})
    others = {
        "properties": {"source": {"not": {"enum": list(LABEL_COUNT)}}},
        "required": ["source"],
    }
    rules.append(
        {"if": others, "then": {"properties": {"classes": unlabelled, "normal": unlabelled}}}
    )
    schema.setdefault("allOf", []).extend(rules)


class Data(_Strict):
    model_config = ConfigDict(
        extra="forbid", frozen=True, defer_build=True, json_schema_extra=_label_bounds
    )

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
    classes: Labels | None = Field(
        default=None, description="keep only these labels in both splits, e.g. [1, 5, 6]"
    )
    normal: Labels | None = Field(
        default=None,
        description="one-class protocol: train on these labels only; every test image is "
        "scored, labelled normal or anomalous",
    )
    calibration: Annotated[float, Strict(), Field(gt=0.0, le=0.5)] | None = Field(
        default=None,
        description="one-class data (normal) and MVTec folders: the fraction of the normal "
        f"training images held out of training to choose the threshold (default "
        f"{DEFAULT_CALIBRATION}; textures hold out a band of their own)",
    )
    texture: Texture | None = Field(
        default=None, description="textures: brick (default), grass or gravel"
    )
    defect_seed: Annotated[int, Strict(), Field(ge=0, le=MAX_SEED)] | None = Field(
        default=None, description="textures: the seed of the synthetic defects (default 0)"
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

    @model_validator(mode="after")
    def _labels_the_source_has(self) -> "Data":
        for key in ("classes", "normal"):
            wanted = getattr(self, key)
            if wanted is None:
                continue
            _refuse_repeated(key, wanted)
            count = LABEL_COUNT.get(self.source)
            if count is None:
                raise cross_field_error(
                    key,
                    f"data source `{self.source}` has no labels to choose from",
                    "use a labelled source ("
                    + ", ".join(LABEL_COUNT)
                    + "); textures and MVTec folders label their test images themselves",
                )
            outside = sorted({v for v in wanted if v >= count})
            if outside:
                raise cross_field_error(
                    key,
                    f"`{self.source}` labels are 0..{count - 1}; {key} lists {outside}",
                    f"choose labels between 0 and {count - 1}",
                )
        if self.classes and self.normal and not set(self.normal) <= set(self.classes):
            extra = sorted(set(self.normal) - set(self.classes))
            raise cross_field_error(
                "normal",
                f"normal lists {extra}, which data.classes leaves out",
                "list in normal only labels that classes keeps",
            )
        return self


def _refuse_repeated(key: str, labels: list[int]) -> None:
    """A label listed twice, reported at its second entry."""
    first: dict[int, int] = {}
    for i, label in enumerate(labels):
        if label in first:
            raise cross_field_error(
                key,
                f"{key} lists {label} twice (entries {first[label]} and {i})",
                f"list each label once: remove entry {i}",
                index=i,
            )
        first[label] = i


# Keras's names of the losses are accepted too and read as caegen's short ones.
LOSS_ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "binary_crossentropy": "bce",
}


def _loss_alias(value: Any) -> Any:
    return LOSS_ALIASES.get(value, value)


Loss = Annotated[
    Literal[
        "mse",
        "mae",
        "bce",
        "ssim",
        "mean_squared_error",
        "mean_absolute_error",
        "binary_crossentropy",
    ],
    AfterValidator(_loss_alias),
    Field(description="ssim: 1 - SSIM (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03)"),
]


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
    loss: Loss = "mse"
    optimizer: Optimizer = Field(default_factory=Adam)
    lr_schedule: Schedule | None = Field(
        default=None, description="cosine (with warm-up), exponential, or plateau"
    )
    weight_decay: WeightDecay = Field(default_factory=WeightDecay)
    early_stopping: EarlyStopping | None = None
    kl_weight: NonNegativeFloat = Field(
        default=1.0, description="VAEs: the weight of the KL term (beta of a beta-VAE)"
    )
    kl_warmup_epochs: Annotated[int, Strict(), Field(ge=0, le=MAX_EPOCHS)] = Field(
        default=0, description="VAEs: raise the KL weight linearly over the first N epochs"
    )
    tensorboard_images_every: PositiveInt | None = Field(
        default=None,
        description="write reconstructions to TensorBoard every N epochs (default: about 15 "
        "times per run, and the last epoch)",
    )
    mixed_precision: Toggle = Field(default="auto", description="auto: on when a GPU is present")
    jit_compile: Toggle = Field(default="auto", description="auto: on when a GPU is present")
    batch_norm_recalibration: Annotated[
        Literal["auto", "off"], BeforeValidator(_yaml_boolean_to_toggle)
    ] = Field(
        default="auto",
        description="auto: before the final evaluation, set each batch_norm layer's moving "
        "mean and variance to those of its inputs over the training images; off: keep the "
        "moving averages of training",
    )
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


class Defaults(_Strict):
    """Values for every layer that has the field and does not set it (e.g. porting Keras
    code that relies on Keras's `padding='valid'` default)."""

    padding: Padding | None = None
    activation: ActivationName | None = None
    use_bias: bool | None = None
    kernel_initializer: Initializer | None = None
    bias_initializer: Initializer | None = None
    kernel_regularizer: Regularizer | None = None
    activity_regularizer: Regularizer | None = None


def _apply_defaults(data: Any) -> Any:
    """Fill each layer's unset fields from `defaults` (before the layers are validated)."""
    if not isinstance(data, dict) or not isinstance(data.get("defaults"), dict):
        return data
    try:
        Defaults.model_validate(data["defaults"])
    except ValueError:
        return data  # the `defaults` field reports its own errors, once
    values = {k: v for k, v in data["defaults"].items() if v is not None}
    out = dict(data)
    for section in ("encoder", "decoder"):
        layers = data.get(section)
        if not isinstance(layers, list):
            continue
        filled = []
        for layer in layers:
            tag = layer.get("type") if isinstance(layer, dict) else None
            cls = LAYER_BY_TYPE.get(tag) if isinstance(tag, str) else None
            if cls is not None:
                missing = {k: v for k, v in values.items() if k in cls.model_fields}
                layer = {**missing, **layer}
            filled.append(layer)
        out[section] = filled
    return out


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
    defaults: Defaults | None = Field(
        default=None, description="values for every layer that has the field and omits it"
    )

    _source: Source | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return _apply_defaults(data)

    @property
    def source(self) -> Source | None:
        return self._source

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, as plain data (what a run records)."""
        data = self.model_dump(mode="json", exclude_none=True)
        for section in ("encoder", "decoder"):
            data[section] = [_layer_order(layer) for layer in data[section]]
        return data

    def spec_hash(self) -> str:
        canonical = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


_LAST = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "activity_regularizer")


def _layer_order(layer: dict[str, Any]) -> dict[str, Any]:
    """A layer's keys as people write them: its own fields first, shared options last."""
    tail = [*_LAST, "ignore"]
    head = {k: v for k, v in layer.items() if k not in tail}
    return head | {k: layer[k] for k in tail if k in layer}


def json_schema() -> dict[str, Any]:
    """The spec language as JSON Schema (2020-12), for editors and standard validators."""
    schema = _tags_as_if_then(Spec.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "caegen spec"
    return schema


def _tags_as_if_then(node: Any) -> Any:
    """Replace pydantic's `oneOf` + `discriminator` (an OpenAPI keyword that JSON Schema
    validators ignore) by the tag's enum and one `if`/`then` per tag.

    A validator then checks a layer against its own type's schema only, so its errors name
    that layer's fields (`pool_size` of a max_pool2d), and an editor offers that type's
    fields, where a bare `oneOf` blamed whichever variant failed least.
    """
    if isinstance(node, list):
        return [_tags_as_if_then(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _tags_as_if_then(value) for key, value in node.items()}
    if "discriminator" not in node or "oneOf" not in node:
        return node
    tag_key = node["discriminator"]["propertyName"]
    tag_of = {ref: tag for tag, ref in node["discriminator"]["mapping"].items()}
    refs = [member["$ref"] for member in node["oneOf"]]
    rest = {k: v for k, v in node.items() if k not in ("discriminator", "oneOf")}
    return {
        **rest,
        "type": "object",
        "required": [tag_key],
        "properties": {tag_key: {"enum": [tag_of[ref] for ref in refs]}},
        "allOf": [
            {
                "if": {"properties": {tag_key: _exactly(tag_of[ref])}, "required": [tag_key]},
                "then": {"$ref": ref},
            }
            for ref in refs
        ],
    }


def _exactly(tag: str) -> dict[str, Any]:
    """A tag's condition. The pattern repeats the `const` for yaml-language-server, whose
    completion takes a `const` as met by any prefix (`conv2d` would also select
    conv2d_transpose's fields); a pattern it matches as written."""
    return {"const": tag, "type": "string", "pattern": f"^{re.escape(tag)}$"}
