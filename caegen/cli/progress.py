"""The rich rendering of training progress."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from caegen.cli.styled import styled


def _eta(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


class RichProgress:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None

    def start(self, info: dict[str, Any]) -> None:
        c = self.console
        c.print(styled(("run", "bold"), f" {info['run_dir']}"), soft_wrap=True)
        c.print(
            f"data  {info['data']}: {info['train_images']:,} train / "
            f"{info['test_images']:,} test images"
        )
        c.print(
            f"model {info['params']:,} params on {info['device']} "
            f"(mixed precision {'on' if info['mixed_precision'] else 'off'}, "
            f"XLA {'on' if info['jit_compile'] else 'off'})"
        )
        if info["initial_epoch"]:
            c.print(f"resuming after epoch {info['initial_epoch']}, to epoch {info['epochs']}")
        self.bar.start()

    def batch(self, epoch: int, step: int, steps: int, loss: float) -> None:
        if self.task is None:
            self.task = self.bar.add_task("train", total=steps, epoch=epoch, loss=loss)
        self.bar.update(self.task, completed=step, total=steps, epoch=epoch, loss=loss)

    def epoch(self, row: dict[str, Any], epochs: int, eta_s: float) -> None:
        self.console.print(
            f"epoch {row['epoch']:>3}/{epochs}  loss {row['loss']:.4f}  "
            f"val_loss {row['val_loss']:.4f}  {row['images_per_s']:,.0f} images/s  "
            f"ETA {_eta(eta_s)}"
        )
        if self.task is not None:
            self.bar.reset(self.task)

    def warn(self, message: str) -> None:
        self.console.print(styled(("warning", "yellow"), f": {message}"), soft_wrap=True)

    def stop(self) -> None:
        if self.bar.live.is_started:
            self.bar.stop()
