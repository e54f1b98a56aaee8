"""Training images/s of the model caegen emits versus the hand-written Keras model, per
precision, on any Keras backend (tensorflow, jax, torch) and device.

`caegen train` feeds tf.data, so it needs TensorFlow; this script isolates what the model
and the precision settings cost: the Method 2 autoencoder from `caegen.build(spec)` and
the Q&A's hand-written Keras code, both `model.fit` on the same NumPy images, in one
process, alternating the two sides, for float32, mixed_float16 and mixed_bfloat16. XLA
follows caegen's `jit_compile: auto` (on with a GPU; JAX always compiles). images/s is
the median over timed epochs after a warm-up that traces and compiles. It is how
caegen's GPU settings (mixed precision and XLA, on automatically when a GPU is present)
are measured on a GPU machine:

    KERAS_BACKEND=jax python bench/backend_throughput.py
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from _common import ROOT, alternate, median, table, write_result

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def handwritten_method2(keras: Any, float32_output: bool) -> Any:
    """The Q&A "Method 2" code, as its users write it."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(64, (3, 3), activation="relu", padding="same"),
            layers.BatchNormalization(),
            layers.MaxPooling2D((2, 2), padding="same"),
            layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
            layers.BatchNormalization(),
            layers.MaxPooling2D((2, 2), padding="same"),
            layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
            layers.BatchNormalization(),
            layers.UpSampling2D((2, 2)),
            layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
            layers.BatchNormalization(),
            layers.UpSampling2D((2, 2)),
            layers.Conv2D(
                3,
                (3, 3),
                activation="sigmoid",
                padding="same",
                dtype="float32" if float32_output else None,
            ),
        ]
    )


def device_name(keras: Any) -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        dev = jax.devices()[0]
        return f"{dev.platform}: {dev.device_kind}"
    if backend == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu: {gpus[0].name}" if gpus else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per round")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per side")
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.images, args.batch_size, args.epochs, args.repeats = 256, 64, 1, 1
        args.precisions = "float32"

    import keras
    import numpy as np

    import caegen
    from caegen.emit.keras_model import build
    from caegen.spec.optimizers import make_optimizer
    from caegen.training.trainer import make_loss

    device = device_name(keras)
    jit = args.jit == "on" or (
        args.jit == "auto" and (keras.backend.backend() == "jax" or not device.startswith("cpu"))
    )
    spec = caegen.load(ROOT / "specs" / "cifar10_method2.yaml")
    report = caegen.check(spec)
    rng = np.random.default_rng(0)
    x = rng.random((args.images, 32, 32, 3), dtype=np.float32)
    rows: list[dict[str, Any]] = []

    for precision in args.precisions.split(","):
        keras.mixed_precision.set_global_policy(precision)
        mixed = precision != "float32"
        keras.utils.set_random_seed(0)
        models = {
            "caegen": build(spec, report=report, float32_output=mixed).autoencoder,
            "keras": handwritten_method2(keras, float32_output=mixed),
        }
        for model in models.values():
            model.compile(
                optimizer=make_optimizer(spec.train.optimizer),
                loss=make_loss(spec),
                jit_compile=jit,
            )
            model.fit(x[: args.batch_size * 4], x[: args.batch_size * 4], epochs=1,
                      batch_size=args.batch_size, verbose=0)  # fmt: skip

        def timed(model: Any) -> float:
            rates = []
            for _ in range(args.epochs):
                start = time.perf_counter()
                model.fit(x, x, epochs=1, batch_size=args.batch_size, shuffle=True, verbose=0)
                rates.append(len(x) / (time.perf_counter() - start))
            return median(rates)

        runs = alternate({name: (lambda m=m: timed(m)) for name, m in models.items()}, args.repeats)
        caegen_rate, keras_rate = median(runs["caegen"]), median(runs["keras"])
        rows.append(
            {
                "precision": precision,
                "caegen_images_per_s": caegen_rate,
                "keras_images_per_s": keras_rate,
                "ratio": caegen_rate / keras_rate,
                "runs": runs,
            }
        )
    keras.mixed_precision.set_global_policy("float32")

    base = rows[0]["caegen_images_per_s"]
    print(
        table(
            [
                ["precision", "caegen img/s", "keras img/s", "ratio", "vs float32"],
                *[
                    [
                        r["precision"],
                        f"{r['caegen_images_per_s']:,.0f}",
                        f"{r['keras_images_per_s']:,.0f}",
                        f"{r['ratio']:.2f}x",
                        f"{r['caegen_images_per_s'] / base:.2f}x",
                    ]
                    for r in rows
                ],
            ]
        )
    )
    path = write_result(
        "backend_throughput",
        {
            "quick": args.quick,
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "device": device,
            "jit_compile": jit,
            "images": args.images,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "precisions": rows,
            "summary": {
                "min_ratio": min(r["ratio"] for r in rows),
                "best_speedup_vs_float32": max(r["caegen_images_per_s"] for r in rows) / base,
            },
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
