"""What `caegen inspect` shows of one layer: its filters and its maps, with their numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caegen.inspect.activations import Maps
from caegen.inspect.filters import FilterGrid
from caegen.inspect.layers import Target


def value_range(values: np.ndarray) -> tuple[float, float]:
    return float(np.min(values)), float(np.max(values))


def fmt_range(values: np.ndarray) -> str:
    lo, hi = value_range(values)
    return f"[{lo:.3g}, {hi:.3g}]"


@dataclass(frozen=True)
class LayerView:
    target: Target
    grid: FilterGrid | None
    maps: Maps

    @property
    def name(self) -> str:
        return self.target.name

    def title(self) -> str:
        text = self.target.describe()
        if self.grid is not None:
            text += f"; weights {fmt_range(self.grid.kernel)}"
        return text

    def before_title(self) -> str | None:
        before = self.maps.before
        return None if before is None else f"{self.maps.before_label}: {fmt_range(before)}"

    def after_title(self) -> str:
        after = self.maps.after
        return f"{self.maps.after_label}: {fmt_range(after)}, {self.maps.zero_share:.1%} zero"

    def summary(self) -> str:
        """One line: the layer, its maps' ranges and the share of zeros after it."""
        parts = [self.title()]
        before = self.before_title()
        if before is not None:
            parts.append(before)
        parts.append(self.after_title())
        return "; ".join(parts)
