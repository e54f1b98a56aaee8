"""Training images/s: `caegen train` versus a plain hand-written Keras script.

Both train the Q&A Method 2 architecture on the same images (32x32 RGB crops of the
bundled scikit-image photos), batch size and epochs, in fresh processes, alternating.
images/s is the median over epochs after the first (which traces and compiles).
Goal: >= 1.0x on CPU. --mixed-precision / --jit set both sides alike (for GPUs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import ROOT, alternate, median, python_json, table, write_result

BASELINE = r"""
import json, sys, time
import numpy as np, keras
from keras import layers

data = np.load(sys.argv[1])
x, xt = data["x_train"], data["x_test"]
epochs, batch = int(sys.argv[2]), int(sys.argv[3])
mixed, jit = sys.argv[4] == "on", sys.argv[5] == "on"
if mixed:
    keras.mixed_precision.set_global_policy("mixed_float16")
keras.utils.set_random_seed(0)
# the Q&A "Method 2" code
model = keras.Sequential([
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
    layers.Conv2D(3, (3, 3), activation="sigmoid", padding="same", dtype="float32"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=jit)

class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        rates.append(len(x) / (time.perf_counter() - self.t))

rates = []
model.fit(x, x, epochs=epochs, batch_size=batch, shuffle=True, validation_data=(xt, xt),
          callbacks=[Timer()], verbose=0)
print(json.dumps({"images_per_s": rates}))
"""

CAEGEN = r"""
import json, sys, tempfile
import caegen
spec_text = open(sys.argv[1]).read()
spec = caegen.loads(spec_text)
with tempfile.TemporaryDirectory() as out:
    result = caegen.train(spec, out=out)
print(json.dumps({"images_per_s": [row["images_per_s"] for row in result.history],
                  "device": result.metrics["device"]}))
"""


def method2_spec(npz: Path, epochs: int, batch: int, mixed: str, jit: str) -> str:
    base = (ROOT / "specs" / "cifar10_method2.yaml").read_text()
    body = base[: base.index("data:")]
    return body + (
        f"data: {{source: npz, path: '{npz}', range: unit}}\n"
        f"train: {{epochs: {epochs}, batch_size: {batch}, loss: bce, "
        f"optimizer: {{name: adam, learning_rate: 0.001}}, mixed_precision: {mixed}, "
        f"jit_compile: {jit}, seed: 0}}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mixed-precision", choices=["on", "off"], default="off")
    parser.add_argument("--jit", choices=["on", "off"], default="off")
    args = parser.parse_args()
    epochs, repeats, n_images = (2, 1, 256) if args.quick else (args.epochs, args.repeats, None)

    sys.path.insert(0, str(ROOT))
    import numpy as np

    import caegen
    from caegen.training.data import load_data

    splits = load_data(
        caegen.loads(
            method2_spec(Path("unused.npz"), 1, 1, "off", "off").replace(
                "source: npz, path: 'unused.npz'", "source: patches"
            )
        )
    )
    x_train = splits.train.array[:n_images] if n_images else splits.train.array
    x_test = splits.test.array[:256]
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "patches.npz"
        np.savez(npz, x_train=x_train, x_test=x_test)
        spec_path = Path(tmp) / "method2.yaml"
        spec_path.write_text(
            method2_spec(npz, epochs, args.batch_size, args.mixed_precision, args.jit)
        )

        def steady(rates: list[float]) -> float:
            return median(rates[1:] if len(rates) > 1 else rates)

        def run_caegen() -> float:
            return steady(python_json(CAEGEN, str(spec_path))["images_per_s"])

        def run_keras() -> float:
            return steady(
                python_json(
                    BASELINE,
                    str(npz),
                    str(epochs),
                    str(args.batch_size),
                    args.mixed_precision,
                    args.jit,
                )["images_per_s"]
            )

        runs = alternate({"caegen": run_caegen, "keras": run_keras}, repeats)
    c, k = median(runs["caegen"]), median(runs["keras"])
    print(
        table(
            [
                ["side", "images/s (median)", "runs"],
                ["caegen train", f"{c:,.0f}", ", ".join(f"{v:,.0f}" for v in runs["caegen"])],
                ["plain Keras", f"{k:,.0f}", ", ".join(f"{v:,.0f}" for v in runs["keras"])],
            ]
        )
    )
    print(
        f"\nratio caegen / keras: {c / k:.2f}x (goal >= 1.0x); {len(x_train)} images, "
        f"batch {args.batch_size}, {epochs} epochs, mixed precision {args.mixed_precision}, "
        f"XLA {args.jit}"
    )
    path = write_result(
        "train_throughput",
        {
            "quick": args.quick,
            "train_images": len(x_train),
            "batch_size": args.batch_size,
            "epochs": epochs,
            "repeats": repeats,
            "mixed_precision": args.mixed_precision,
            "jit_compile": args.jit,
            "runs": runs,
            "summary": {"caegen_images_per_s": c, "keras_images_per_s": k, "ratio": c / k},
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
