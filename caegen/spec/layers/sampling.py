"""The `sampling` layer of a variational autoencoder: z = mean + exp(log_var / 2) * noise.

It reads two inputs of equal shape, `[z_mean, z_log_var]` (vectors from dense layers or
feature maps from convolutions), learns nothing, and must be the encoder's output (the
latent code). Its one non-trainable value is the current KL weight, so a warm-up survives
a checkpoint and a resume. In training it draws a sample and adds the KL divergence of
N(mean, var) from N(0, 1) to the loss (times the KL weight); in inference it returns the
mean, so the exported encoder is deterministic. Keras: `caegen.spec.layers.keras_layers.Sampling`.
"""

from typing import Any, ClassVar, Literal

from caegen.spec.layers.base import LayerBase, ParamCount, Shape, ShapeError, fmt_shape


class Sampling(LayerBase):
    """The reparameterised sample of a VAE's latent code (`caegen>Sampling`)."""

    type: Literal["sampling"] = "sampling"
    keras_class: ClassVar[str] = "Sampling"
    is_merge: ClassVar[bool] = True
    exact_inputs: ClassVar[int] = 2
    input_roles: ClassVar[tuple[str, ...]] = ("mean", "log-var")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        if len(in_shapes) != 2:
            raise ShapeError(
                f"sampling reads exactly two inputs, [z_mean, z_log_var], received "
                f"{len(in_shapes)}",
                "inputs: [z_mean, z_log_var]",
                field="inputs",
            )
        mean, log_var = in_shapes
        if mean != log_var:
            raise ShapeError(
                f"sampling needs z_mean and z_log_var of one shape, received "
                f"{fmt_shape(mean)} and {fmt_shape(log_var)}",
                "give both the same layer settings (e.g. two dense layers of the same units)",
                field="inputs",
            )
        return mean

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        return ParamCount(non_trainable=1)  # the KL weight

    def to_keras(self, name: str, regularizer: Any = None, dtype: str | None = None) -> Any:
        from caegen.spec.layers.keras_layers import Sampling as KerasSampling

        kwargs = {"dtype": dtype} if dtype is not None else {}
        return KerasSampling(name=name, **kwargs)

    def keras_kwargs(self) -> dict[str, Any]:
        return {}
