"""Optimizers and learning-rate schedules: their spec (pydantic) and their Keras emission.

`optimizer: adam` is shorthand for `optimizer: {name: adam}`. The learning rate is never
rescaled behind the user's back (not by batch size, not by the number of replicas).
Schedules count in epochs; caegen turns them into Keras schedules over optimizer steps,
which a checkpoint keeps (the optimizer's step counter is saved), so a resumed run follows
the same curve. `plateau` is a callback whose patience counter starts afresh on resume.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from caegen.spec.layers.base import NonNegativeFloat, PositiveFloat, PositiveInt

UnitInterval = Annotated[float, Strict(), Field(ge=0.0, lt=1.0)]
OpenUnitInterval = Annotated[float, Strict(), Field(gt=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _AdamFamily(_Strict):
    learning_rate: PositiveFloat = 0.001
    beta_1: UnitInterval = 0.9
    beta_2: UnitInterval = 0.999
    epsilon: PositiveFloat = 1e-7


class Adam(_AdamFamily):
    name: Literal["adam"] = "adam"
    keras_class: ClassVar[str] = "Adam"
    slots: ClassVar[int] = 2
    """Per parameter, the optimizer's state besides the weight (for the memory estimate)."""


class AdamW(_AdamFamily):
    name: Literal["adamw"] = "adamw"
    keras_class: ClassVar[str] = "AdamW"
    slots: ClassVar[int] = 2
    weight_decay: NonNegativeFloat = 0.004


class Nadam(_AdamFamily):
    name: Literal["nadam"] = "nadam"
    keras_class: ClassVar[str] = "Nadam"
    slots: ClassVar[int] = 2


class Adamax(_AdamFamily):
    name: Literal["adamax"] = "adamax"
    keras_class: ClassVar[str] = "Adamax"
    slots: ClassVar[int] = 2


class SGD(_Strict):
    name: Literal["sgd"] = "sgd"
    keras_class: ClassVar[str] = "SGD"
    slots: ClassVar[int] = 1
    learning_rate: PositiveFloat = 0.01
    momentum: UnitInterval = 0.0
    nesterov: bool = False


class RMSprop(_Strict):
    name: Literal["rmsprop"] = "rmsprop"
    keras_class: ClassVar[str] = "RMSprop"
    slots: ClassVar[int] = 2
    learning_rate: PositiveFloat = 0.001
    rho: OpenUnitInterval = 0.9
    momentum: UnitInterval = 0.0
    epsilon: PositiveFloat = 1e-7


class Adadelta(_Strict):
    name: Literal["adadelta"] = "adadelta"
    keras_class: ClassVar[str] = "Adadelta"
    slots: ClassVar[int] = 2
    learning_rate: PositiveFloat = 0.001
    rho: OpenUnitInterval = 0.95
    epsilon: PositiveFloat = 1e-7


class Adagrad(_Strict):
    name: Literal["adagrad"] = "adagrad"
    keras_class: ClassVar[str] = "Adagrad"
    slots: ClassVar[int] = 1
    learning_rate: PositiveFloat = 0.001
    initial_accumulator_value: NonNegativeFloat = 0.1
    epsilon: PositiveFloat = 1e-7


OPTIMIZERS: tuple[type[_Strict], ...] = (
    Adam,
    AdamW,
    Nadam,
    Adamax,
    SGD,
    RMSprop,
    Adadelta,
    Adagrad,
)
OptimizerName = Literal["adam", "adamw", "nadam", "adamax", "sgd", "rmsprop", "adadelta", "adagrad"]
_BY_NAME = {cls.model_fields["name"].default: cls for cls in OPTIMIZERS}
KERAS_CLASS = {name: cls.keras_class for name, cls in _BY_NAME.items()}  # type: ignore[attr-defined]
SLOTS = {name: cls.slots for name, cls in _BY_NAME.items()}  # type: ignore[attr-defined]


def _from_name(value: Any) -> Any:
    return _BY_NAME[value]() if isinstance(value, str) else value


OptimizerConfig = Annotated[
    Adam | AdamW | Nadam | Adamax | SGD | RMSprop | Adadelta | Adagrad,
    Field(discriminator="name"),
]
Optimizer = Annotated[
    OptimizerName | OptimizerConfig,
    AfterValidator(_from_name),
    Field(description="a name (`adam`) or a mapping with `name` and its arguments"),
]


# --- learning-rate schedules ---------------------------------------------------------------
class Cosine(_Strict):
    """Cosine decay to `alpha` x the learning rate by the last epoch, after a linear warm-up."""

    name: Literal["cosine"] = "cosine"
    warmup_epochs: Annotated[int, Strict(), Field(ge=0)] = 0
    alpha: Annotated[float, Strict(), Field(ge=0.0, le=1.0)] = 0.0


class Exponential(_Strict):
    """The learning rate times `decay_rate` every `decay_epochs` (smoothly unless staircase)."""

    name: Literal["exponential"] = "exponential"
    decay_rate: OpenUnitInterval
    decay_epochs: PositiveFloat = 1.0
    staircase: bool = False


class Plateau(_Strict):
    """Multiply the learning rate by `factor` when val_loss stalls for `patience` epochs."""

    name: Literal["plateau"] = "plateau"
    factor: OpenUnitInterval = 0.5
    patience: PositiveInt = 3
    min_delta: NonNegativeFloat = 0.0
    min_learning_rate: NonNegativeFloat = 0.0


Schedule = Annotated[Cosine | Exponential | Plateau, Field(discriminator="name")]


# --- Keras ---------------------------------------------------------------------------------
def learning_rate(optimizer: Any, schedule: Any | None, epochs: int, steps_per_epoch: int) -> Any:
    """The optimizer's `learning_rate` argument: a float or a Keras schedule over steps."""
    lr = optimizer.learning_rate
    if schedule is None or isinstance(schedule, Plateau):
        return lr
    import keras

    if isinstance(schedule, Cosine):
        warmup = schedule.warmup_epochs * steps_per_epoch
        decay = max(1, (epochs - schedule.warmup_epochs) * steps_per_epoch)
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, decay, alpha=schedule.alpha, warmup_target=lr, warmup_steps=warmup
            )
        return keras.optimizers.schedules.CosineDecay(lr, decay, alpha=schedule.alpha)
    return keras.optimizers.schedules.ExponentialDecay(
        lr,
        decay_steps=max(1, round(schedule.decay_epochs * steps_per_epoch)),
        decay_rate=schedule.decay_rate,
        staircase=schedule.staircase,
    )


def make_optimizer(
    optimizer: Any, schedule: Any | None = None, epochs: int = 1, steps_per_epoch: int = 1
) -> Any:
    import keras

    args = optimizer.model_dump(exclude={"name"})
    args["learning_rate"] = learning_rate(optimizer, schedule, epochs, steps_per_epoch)
    return getattr(keras.optimizers, KERAS_CLASS[optimizer.name])(**args)


def schedule_callbacks(schedule: Any | None) -> list[Any]:
    if not isinstance(schedule, Plateau):
        return []
    import keras

    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss",
            factor=schedule.factor,
            patience=schedule.patience,
            min_delta=schedule.min_delta,
            min_lr=schedule.min_learning_rate,
            verbose=0,
        )
    ]
