"""Fuzz the static boundary: every input a user controls, mutated, must give a diagnostic.

In process, a seeded mutator (deterministic: the same --seed gives the same cases) drives
what `caegen check`, `check --fix`, the LSP, `sweep` and every command that reads a run or
a sweep do with user bytes:

- spec: raw YAML bytes (shipped specs and fixtures, mutated) -> decode -> load -> check;
  some also through `fix_text` and the editor's span/hover functions;
- set: `--set` strings -> a dimension -> a sampled point applied to the spec (some checked);
- space: space files -> `load_space` (the file read as the sweep reads it);
- state: a run's status.json, checkpoints/state.json, metrics.json, history.csv and
  job.json, and a sweep's sweep.json, damaged -> the `Run` readers and `sweep_record`.

A case passes when it returns or raises `CaegenError`; anything else is a failure (kept,
with its input, in bench/results/fuzz_failures.jsonl), and so is a case slower than
--max-case-s. `python bench/fuzz_inputs.py --cases 1000000` is the full run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, write_result

KINDS = {"spec": 0.4, "set": 0.25, "space": 0.1, "state": 0.25}
TOKENS = [
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!python/object ",
    "'",
    '"',
    "\t",
    "\r",
    "\r\n",
    "\n",
    "\x00",
    "\x85",
    "\u2028",
    "#",
    "<<: *a",
    "? ",
    "|",
    ">",
    "...",
    "---",
    "%YAML 1.1\n",
    "~",
    "null",
    "true",
    "on",
    "\ufeff",
    "[bold]",
    "[/]",
    "inputs: ",
    "name: ",
    "type: ",
    "latent",
    "input",
    "encoder",
    "decoder",
    "  ",
    "    ",
]
NUMBERS = [
    "0",
    "-1",
    "1",
    "2",
    "3",
    "7",
    "2147483647",
    "2147483648",
    "9223372036854775808",
    "1" + "0" * 400,
    "1" + "0" * 5000,
    "1e400",
    "-1e400",
    ".nan",
    ".inf",
    "-.inf",
    "1.5",
    "0x10",
    "0o7",
    "1_000",
    "1e-9",
    "true",
    "~",
    "'3'",
    "[3, 3]",
    "[0, 1]",
    "[2147483647, 1]",
]
WORDS = [
    "conv2d",
    "conv2d_transpose",
    "separable_conv2d",
    "depthwise_conv2d",
    "max_pool2d",
    "avg_pool2d",
    "upsampling2d",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "activation",
    "dropout",
    "gaussian_noise",
    "dense",
    "flatten",
    "reshape",
    "zero_padding2d",
    "cropping2d",
    "add",
    "multiply",
    "concatenate",
    "sampling",
    "relu",
    "sigmoid",
    "tanh",
    "linear",
    "same",
    "valid",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "pool_size",
    "size",
    "units",
    "inputs",
    "name",
    "latent",
    "input",
    "target_shape",
    "cropping",
    "dilation_rate",
    "groups",
    "ignore",
    "lint",
    "defaults",
    "data",
    "train",
    "noise",
    "stddev",
    "range",
]
SETS = [
    "encoder[0].filters=4,8",
    "encoder[0].filters=2..16:4",
    "encoder[1]=on,off",
    "train.optimizer.learning_rate=1e-4..1e-2:log:3",
    "encoder[0:2]*+decoder[0:2]*=1,2,3",
    "encoder[1]=[{type: max_pool2d}, {type: conv2d, filters: 4, kernel_size: 3, strides: 2}]",
    "data.noise.stddev=0,0.3",
    "train.batch_size=16,32",
    "decoder[0].activation=relu,tanh",
    "encoder[0].kernel_size=[3, 3],5",
    "train.seed=0..3",
]
SPACES = [
    "encoder[0].filters: [4, 8]\n",
    "train.optimizer.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true, steps: 3}\n",
    "encoder[0:2]*+decoder[0:2]*: [1, 2]\nencoder[0].filters: 2..8:2\n",
    "encoder[1]: [on, off]\ndata.noise.stddev: [0, 0.3]\n",
]


# --- mutations -----------------------------------------------------------------------------
class Mutator:
    def __init__(self, rng: random.Random, seeds: list[str]) -> None:
        self.rng, self.seeds = rng, seeds

    def text(self, text: str, rounds: int | None = None) -> str:
        for _ in range(rounds or self.rng.randint(1, 4)):
            text = self.rng.choice(self._moves)(self, text)
        return text

    def _insert(self, text: str) -> str:
        at = self.rng.randint(0, len(text))
        return text[:at] + self.rng.choice(TOKENS) + text[at:]

    def _delete(self, text: str) -> str:
        at = self.rng.randint(0, len(text))
        return text[:at] + text[at + self.rng.randint(1, 12) :]

    def _duplicate(self, text: str) -> str:
        lines = text.splitlines(keepends=True) or [text]
        i = self.rng.randrange(len(lines))
        return "".join(lines[: i + 1] + lines[i : i + self.rng.randint(1, 4)] + lines[i + 1 :])

    def _number(self, text: str) -> str:
        spots = [i for i, ch in enumerate(text) if ch.isdigit()]
        if not spots:
            return self._insert(text)
        at = self.rng.choice(spots)
        end = at
        while end < len(text) and (text[end].isdigit() or text[end] in ".e-"):
            end += 1
        return text[:at] + self.rng.choice(NUMBERS) + text[end:]

    def _word(self, text: str) -> str:
        words = [w for w in WORDS if w in text]
        if not words:
            return self._insert(text)
        return text.replace(self.rng.choice(words), self.rng.choice(WORDS), 1)

    def _splice(self, text: str) -> str:
        other = self.rng.choice(self.seeds)
        a, b = self.rng.randint(0, len(text)), self.rng.randint(0, len(other))
        return text[:a] + other[b : b + self.rng.randint(1, 200)] + text[a:]

    def _indent(self, text: str) -> str:
        lines = text.splitlines(keepends=True) or [text]
        i = self.rng.randrange(len(lines))
        lines[i] = self.rng.choice(["", " ", "  ", "\t", "- "]) + lines[i].lstrip(" ")
        return "".join(lines)

    def _char(self, text: str) -> str:
        if not text:
            return chr(self.rng.randint(0, 0x2FF))
        at = self.rng.randrange(len(text))
        return (
            text[:at]
            + chr(self.rng.choice([self.rng.randint(0, 127), 0xA0, 0x2028]))
            + (text[at + 1 :])
        )

    _moves: ClassVar[list[Callable[[Mutator, str], str]]] = [
        _insert,
        _delete,
        _duplicate,
        _number,
        _word,
        _splice,
        _indent,
        _char,
    ]

    def raw(self, text: str) -> bytes:
        """Bytes, most of them UTF-8; some with bytes that are not (a Latin-1 file)."""
        data = self.text(text).encode("utf-8", "surrogatepass")
        if self.rng.random() < 0.05:
            at = self.rng.randint(0, len(data))
            data = data[:at] + bytes([self.rng.randint(0x80, 0xFF)]) + data[at:]
        return data


# --- the cases -----------------------------------------------------------------------------
class Cases:
    """What one worker process fuzzes: fixtures built once, one method per kind."""

    def __init__(self, seed: int, folder: Path) -> None:
        import yaml

        import caegen
        from caegen.training.rundir import Run

        self.rng = random.Random(seed)
        paths = sorted((ROOT / "specs").glob("*.yaml"))
        paths += sorted((ROOT / "tests" / "fixtures").rglob("*.yaml"))
        self.specs = [p.read_text() for p in paths]
        self.mutate = Mutator(self.rng, self.specs)
        base_text = (ROOT / "examples" / "sweep" / "blocks.yaml").read_text()
        self.base = yaml.safe_load(base_text)
        self.folder = folder
        run = Run.create(folder / "runs", caegen.loads(base_text))
        run.release()
        self.run = run
        self.state_seeds = _state_seeds(run)
        self.sweep = folder / "sweep"
        self.sweep.mkdir()
        self.space_file = folder / "space.yaml"
        self.last = ""
        """The input of the case being run (kept with a failure)."""

    def spec(self) -> str:
        from caegen.compile.compiler import check
        from caegen.core.inputs import decode_text
        from caegen.spec.loader import loads

        data = self.mutate.raw(self.rng.choice(self.specs))
        self.last = data.decode("utf-8", "backslashreplace")
        text = decode_text(data, "fuzz.yaml")
        report = check(loads(text, file="fuzz.yaml"))
        if self.rng.random() < 0.1:
            from caegen.compile.fixes import fix_text

            fix_text(text, unsafe=True, file="fuzz.yaml")
        if self.rng.random() < 0.2:
            _editor(report, text, self.rng)
        return text

    def set(self) -> str:
        import yaml

        from caegen.compile.compiler import check
        from caegen.spec.loader import loads
        from caegen.sweep.space import Space, dimension

        text = self.mutate.text(self.rng.choice(SETS))
        self.last = text
        space = Space(self.base, [dimension(text, self.base, where="--set")])
        data = space.apply(space.sample(self.rng.randint(0, 9), self.rng.randint(0, 99)))
        if self.rng.random() < 0.1:
            check(loads(yaml.safe_dump(data, sort_keys=False)))
        return text

    def space(self) -> str:
        from caegen.sweep.runner import SweepConfig, load_space

        data = self.mutate.raw(self.rng.choice(SPACES))
        self.last = data.decode("utf-8", "backslashreplace")
        self.space_file.write_bytes(data)
        config = SweepConfig(spec_path=Path("blocks.yaml"), space_file=self.space_file)
        load_space(config, self.base)
        return data.decode("utf-8", "replace")

    def state(self) -> str:
        from caegen.core.diagnostics import CaegenError
        from caegen.sweep.runner import sweep_record

        name = self.rng.choice(sorted(self.state_seeds))
        data = self.mutate.raw(self.state_seeds[name])
        self.last = f"{name}: {data.decode('utf-8', 'backslashreplace')}"
        target = self.sweep / name if name == "sweep.json" else self.run.path / name
        target.write_bytes(data)
        readers: list[Callable[[], Any]] = (
            [lambda: sweep_record(self.sweep)]
            if name == "sweep.json"
            else [
                self.run.status,
                self.run.metrics,
                self.run.history,
                self.run.checkpoint,
                self.run.job,
                self.run.is_live,
                self.run.status_or_unknown,
            ]
        )
        for read in readers:  # each reader on its own: one refusing must not hide another
            with contextlib.suppress(CaegenError):
                read()
        target.write_text(self.state_seeds[name])
        return f"{name}: {data.decode('utf-8', 'replace')}"


def _state_seeds(run: Any) -> dict[str, str]:
    """Valid contents of each state file, as caegen writes them."""
    history = "epoch,loss,val_loss,reconstruction_error,val_reconstruction_error,lr\n"
    history += "1,0.5,0.4,0.5,0.4,0.001\n2,0.3,0.35,0.3,0.35,0.001\n"
    status = {
        "state": "finished",
        "epoch": 2,
        "reason": None,
        "pid": 1,
        "host": "h",
        "started": "2026-01-01T00:00:00+00:00",
        "updated": "2026-01-01T00:00:00+00:00",
    }
    sweep = {
        "identity": {"spec": "abc", "sets": ["encoder[0].filters=4,8"]},
        "spec_path": "blocks.yaml",
        "space": {"encoder[0].filters": [4, 8]},
        "config": {
            "sets": ["encoder[0].filters=4,8"],
            "space_file": None,
            "sampler": "grid",
            "objective": "psnr",
            "epochs": 1,
            "batch_size": None,
            "limit": 64,
            "seed": 0,
            "storage": None,
        },
    }
    (run.path / "checkpoints").mkdir(exist_ok=True)
    return {
        "status.json": json.dumps(status, indent=2),
        "checkpoints/state.json": json.dumps({"epoch": 2, "sha256": {"last.keras": "0" * 64}}),
        "metrics.json": json.dumps({"psnr": 20.5, "ssim": 0.8, "mse": 0.01, "epochs": 2}),
        "history.csv": history,
        "job.json": json.dumps({"job": "0123456789abcdef"}),
        "sweep.json": json.dumps(sweep, indent=2),
    }


def _editor(report: Any, text: str, rng: random.Random) -> None:
    """What the language server computes from a checked text: spans, the layer under a
    line, its hover."""
    from caegen.editor.analysis import hover_text, layer_at, span

    for d in report.diagnostics:
        span(text, d.location.line, d.location.column)
    node = layer_at(report, rng.randint(1, text.count("\n") + 2))
    if node is not None:
        hover_text(report, node)


# --- running -------------------------------------------------------------------------------
class Hung(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hung("no answer after 10 s")


def work(args: tuple[int, int, str]) -> dict[str, Any]:
    """One process's share: `cases` cases from `seed`; its counts, failures and times."""
    seed, cases, folder = args
    from caegen.core.diagnostics import CaegenError

    fuzz = Cases(seed, Path(tempfile.mkdtemp(dir=folder)))
    kinds, weights = list(KINDS), list(KINDS.values())
    counts = dict.fromkeys(kinds, 0)
    failures: list[dict[str, Any]] = []
    slowest = (0.0, "", "")  # in CPU seconds: the machine's other load does not count
    wall = 0.0
    signal.signal(signal.SIGALRM, _alarm)
    for _ in range(cases):
        kind = fuzz.rng.choices(kinds, weights)[0]
        started, cpu = time.perf_counter(), time.process_time()
        signal.setitimer(signal.ITIMER_REAL, 10.0)
        try:
            getattr(fuzz, kind)()
        except CaegenError:
            pass
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(_failure(fuzz, kind, exc))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.process_time() - cpu
        wall = max(wall, time.perf_counter() - started)
        counts[kind] += 1
        if took > slowest[0]:
            slowest = (took, kind, fuzz.last[:300])
    return {
        "counts": counts,
        "failures": failures,
        "slowest_s": slowest[0],
        "slowest_kind": slowest[1],
        "slowest_input": slowest[2],
        "slowest_wall_s": wall,
    }


def _failure(fuzz: Cases, kind: str, exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return {
        "kind": kind,
        "error": f"{type(exc).__name__}: {exc}"[:500],
        "at": where,
        "input": fuzz.last[:3000],
    }


def fuzz(cases: int, seed: int = 0, workers: int = 1, max_case_s: float = 2.0) -> dict:
    """Run `cases` cases over `workers` processes; a summary (counts, rate, failures)."""
    shares = [cases // workers + (i < cases % workers) for i in range(workers)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as d:
        jobs = [(seed * 1000 + i, n, d) for i, n in enumerate(shares)]
        if workers == 1:
            parts = [work(jobs[0])]
        else:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                parts = pool.map(work, jobs)
    seconds = time.perf_counter() - started
    counts = {k: sum(p["counts"][k] for p in parts) for k in KINDS}
    slowest = max(parts, key=lambda p: p["slowest_s"])
    failures = [f for p in parts for f in p["failures"]]
    return {
        "cases": sum(counts.values()),
        "by_kind": counts,
        "seconds": round(seconds, 1),
        "cases_per_s": round(sum(counts.values()) / seconds, 1),
        "workers": workers,
        "failures": len(failures),
        "failure_samples": failures[:50],
        "slowest_case_cpu_s": round(slowest["slowest_s"], 4),
        "slowest_case_wall_s": round(max(p["slowest_wall_s"] for p in parts), 4),
        "slowest_kind": slowest["slowest_kind"],
        "slowest_input": slowest["slowest_input"],
        "too_slow": slowest["slowest_s"] > max_case_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-case-s", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="2,000 cases (a smoke test)")
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    cases = 2_000 if args.quick else args.cases
    summary = fuzz(cases, args.seed, args.workers, args.max_case_s)
    failures = summary.pop("failure_samples")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / "fuzz_failures.jsonl").open("w") as f:  # empty when none failed
        for failure in failures:
            f.write(json.dumps(failure) + "\n")
    path = write_result("fuzz_inputs", {"quick": args.quick, "seed": args.seed, "summary": summary})
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")
    sys.exit(1 if failures or summary["too_slow"] else 0)


if __name__ == "__main__":
    main()
