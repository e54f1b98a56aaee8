"""How soon `caegen lsp` publishes findings after an edit, on a 200-layer spec.

A real server process driven over stdio: each edit is a `didChange` of the whole text
(a new comment line), and the latency is from sending it to receiving the
`publishDiagnostics` for that version, which includes the server's debounce. The floor
it is compared with is the same load-and-check in this process.
Goal: a median under 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, write_result
from check_latency import generated_spec

sys.path.insert(0, str(ROOT))
from tests.lsp_client import LspProcess


def in_process_ms(text: str, repeats: int) -> float:
    import caegen

    caegen.check(caegen.loads(text))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        caegen.check(caegen.loads(text))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few edits")
    args = parser.parse_args()
    layers, edits = 200, 5 if args.quick else 40
    text = generated_spec(layers)
    from caegen.editor.lsp import DEBOUNCE_S

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = LspProcess(folder / "stderr.log")
        server.initialize(folder)
        uri = (folder / "big.yaml").as_uri()
        server.open(uri, text)
        server.diagnostics(uri, version=1)
        waits = []
        for version in range(2, edits + 2):
            sent = server.change(uri, text + f"# edit {version}\n", version)
            received, _ = server.diagnostics(uri, version=version)
            waits.append((received - sent) * 1e3)
        server.close()
    floor = in_process_ms(text, 5 if args.quick else 20)
    median_ms = statistics.median(waits)
    summary = {
        "median_ms": round(median_ms, 1),
        "p90_ms": round(sorted(waits)[int(0.9 * (len(waits) - 1))], 1),
        "max_ms": round(max(waits), 1),
        "check_in_process_ms": round(floor, 1),
        "debounce_ms": DEBOUNCE_S * 1e3,
        "goal_met": median_ms < 100,
    }
    print(
        f"{layers} layers, {edits} edits: median {summary['median_ms']} ms, "
        f"p90 {summary['p90_ms']} ms (debounce {summary['debounce_ms']:.0f} ms, "
        f"check in-process {summary['check_in_process_ms']} ms)"
    )
    write_result(
        "lsp_latency",
        {
            "quick": args.quick,
            "layers": layers,
            "edits": edits,
            "waits_ms": waits,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
