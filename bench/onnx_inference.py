"""Inference images/s: onnxruntime on the exported model versus Keras `predict`.

The Method 2 autoencoder is exported by `caegen.export_onnx` (which verifies it); both
sides then run the same batches, alternating, median over repeats. Goal: >= 2x on CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, alternate, median, table, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
    parser.add_argument("--spec", default=str(ROOT / "specs" / "cifar10_method2.yaml"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import onnxruntime as ort

    import caegen

    spec = caegen.load(args.spec)
    from caegen.export.onnx_export import export_models

    built = caegen.build(spec)
    model = built.autoencoder
    batch_sizes = [32] if args.quick else [1, 32, 256]
    repeats = 3 if args.quick else 7
    n_images = 256 if args.quick else 1024
    images = np.random.default_rng(0).random((n_images, *spec.input), dtype=np.float32)
    results = []
    rows = [["batch", "keras predict (img/s)", "onnxruntime (img/s)", "ratio", "max |diff|"]]
    with tempfile.TemporaryDirectory() as tmp:
        models = {"autoencoder": model, "encoder": built.encoder, "decoder": built.decoder}
        exported = export_models(spec, models, Path(tmp) / "m.onnx", trained=False)
        session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
        for bs in batch_sizes:
            n = min(n_images, bs * 16)
            x = images[:n]

            def keras_side(x: np.ndarray = x, bs: int = bs) -> float:
                start = time.perf_counter()
                model.predict(x, batch_size=bs, verbose=0)
                return len(x) / (time.perf_counter() - start)

            def onnx_side(x: np.ndarray = x, bs: int = bs) -> float:
                start = time.perf_counter()
                for i in range(0, len(x), bs):
                    session.run(None, {"input": x[i : i + bs]})
                return len(x) / (time.perf_counter() - start)

            keras_side(), onnx_side()  # warm-up: tracing and session start
            runs = alternate({"keras": keras_side, "onnx": onnx_side}, repeats)
            k, o = median(runs["keras"]), median(runs["onnx"])
            diff = float(
                np.max(
                    np.abs(
                        model.predict(x[:bs], verbose=0) - session.run(None, {"input": x[:bs]})[0]
                    )
                )
            )
            results.append(
                {
                    "batch_size": bs,
                    "keras_images_per_s": k,
                    "onnx_images_per_s": o,
                    "ratio": o / k,
                    "max_abs_diff": diff,
                    "runs": runs,
                }
            )
            rows.append([str(bs), f"{k:,.0f}", f"{o:,.0f}", f"{o / k:.1f}x", f"{diff:.1e}"])
    print(table(rows))
    ratio = median([r["ratio"] for r in results])
    print(f"\nmedian ratio onnxruntime / keras: {ratio:.1f}x (goal >= 2x); spec {spec.name}")
    path = write_result(
        "onnx_inference",
        {
            "quick": args.quick,
            "spec": spec.name,
            "repeats": repeats,
            "batches": results,
            "summary": {
                "median_ratio": ratio,
                "max_abs_diff": max(r["max_abs_diff"] for r in results),
            },
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
