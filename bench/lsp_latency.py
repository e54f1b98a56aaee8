"""How soon `caegen lsp` publishes findings: after it starts, and after an edit.

A real server process driven over stdio, on a 200-layer spec. Start: from starting
`caegen lsp` (as an editor does, `initialize` and `didOpen` sent as soon as it answers) to
receiving the first `publishDiagnostics`; it is compared with starting `python -c pass`
and with a warm edit. Edits: each a `didChange` of the whole text (a new comment line),
from sending it to receiving the `publishDiagnostics` for that version, which includes
the server's debounce; the floor it is compared with is the same load-and-check in this
process. Goals: first findings within 0.5 s of the start, an edit's median under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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


def start_ms(text: str, folder: Path) -> float:
    """Start the server, open the spec; ms until its findings arrive."""
    uri = (folder / "opened.yaml").as_uri()
    started = time.perf_counter()
    server = LspProcess(folder / "start.log")  # `python -m caegen lsp`
    server.initialize(folder)
    server.open(uri, text)
    received, _ = server.diagnostics(uri, version=1)
    server.close()
    return (received - started) * 1e3


def python_pass_ms() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=os.environ)
    return (time.perf_counter() - started) * 1e3


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
        starts, passes = [], []
        for _ in range(3 if args.quick else 10):  # alternating, so drift hits both alike
            passes.append(python_pass_ms())
            starts.append(start_ms(text, folder))
    floor = in_process_ms(text, 5 if args.quick else 20)
    median_ms = statistics.median(waits)
    start = statistics.median(starts)
    python = statistics.median(passes)
    summary = {
        "median_ms": round(median_ms, 1),
        "p90_ms": round(sorted(waits)[int(0.9 * (len(waits) - 1))], 1),
        "max_ms": round(max(waits), 1),
        "check_in_process_ms": round(floor, 1),
        "debounce_ms": DEBOUNCE_S * 1e3,
        "goal_met": median_ms < 100,
        "start_median_ms": round(start, 1),
        "start_max_ms": round(max(starts), 1),
        "python_pass_ms": round(python, 1),
        "start_over_python_pass": round(start / python, 1),
        "start_over_edit": round(start / median_ms, 1),
        "start_goal_met": start < 500,
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    print(
        f"{layers} layers, {edits} edits: median {summary['median_ms']} ms, "
        f"p90 {summary['p90_ms']} ms (debounce {summary['debounce_ms']:.0f} ms, "
        f"check in-process {summary['check_in_process_ms']} ms)\n"
        f"start to first findings: median {summary['start_median_ms']} ms = "
        f"{summary['start_over_python_pass']}x `python -c pass` ({summary['python_pass_ms']} ms), "
        f"{summary['start_over_edit']}x an edit"
    )
    write_result(
        "lsp_latency",
        {
            "quick": args.quick,
            "layers": layers,
            "edits": edits,
            "waits_ms": waits,
            "starts_ms": starts,
            "python_pass_ms": passes,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
