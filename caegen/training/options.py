"""What a caller asks of training (`TrainOptions`), what it hears back while training runs
(`Progress`), and what it gets at the end (`RunResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Progress(Protocol):
    """What the trainer reports while it runs (the CLI renders it with rich)."""

    def start(self, info: dict[str, Any]) -> None: ...
    def batch(self, epoch: int, step: int, steps: int, loss: float) -> None: ...
    def epoch(self, row: dict[str, Any], epochs: int, eta_s: float) -> None: ...
    def warn(self, message: str) -> None: ...


class SilentProgress:
    def start(self, info: dict[str, Any]) -> None:
        pass

    def batch(self, epoch: int, step: int, steps: int, loss: float) -> None:
        pass

    def epoch(self, row: dict[str, Any], epochs: int, eta_s: float) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


@dataclass
class TrainOptions:
    """Everything `train` takes beside the spec. `None` keeps the spec's own value."""

    epochs: int | None = None
    batch_size: int | None = None
    out: str | Path = "runs"
    resume: str | Path | None = None
    seed: int | None = None
    limit: int | None = None
    eval_limit: int | None = None
    progress: Progress = field(default_factory=SilentProgress)
    strategy: str = "auto"

    @property
    def train_overrides(self) -> dict[str, Any]:
        """Values that replace the spec's `train` fields (None: keep the spec's)."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed}

    @property
    def data_overrides(self) -> dict[str, Any]:
        """Values that replace the spec's `data` fields (None: keep the spec's)."""
        return {"limit": self.limit, "eval_limit": self.eval_limit}


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    weights_sha256: str | None = None
    """A digest of the trained weights: equal on every worker of a multi-worker job."""
