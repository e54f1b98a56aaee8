"""The graph IR: one node per layer plus the model input; passes annotate the nodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from caegen.core.diagnostics import Location
from caegen.spec.layers import LayerBase, ParamCount, Shape
from caegen.spec.schema import Source, Spec

INPUT = "input"
LATENT = "latent"
RESERVED = (INPUT, LATENT)


def locate(source: Source | None, path: tuple[Any, ...]) -> Location:
    """The Location of a spec key path such as ("encoder", 3, "filters")."""
    label = ""
    for part in path:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    if source is None:
        return Location(None, None, None, label)
    pos = source.positions.lookup(path)
    return Location(source.file, *(pos or (None, None)), label)


@dataclass
class Node:
    name: str
    layer: LayerBase | None
    """None for the model input."""
    section: str
    """`input`, `encoder` or `decoder`."""
    index: int
    location: Location
    inputs: list[str] = field(default_factory=list)
    broken: bool = False
    """Its wiring is wrong: later passes skip it."""
    unresolved: list[str] = field(default_factory=list)
    """What its `inputs` name that the wiring could not use: an unknown name (E020), or a
    layer defined later or reading it back (E022, E023)."""
    duplicate_of: str | None = None
    """The name it shares with an earlier layer (E021); `name` is then made unique."""
    # results of the passes
    shape: Shape | None = None
    params: ParamCount | None = None
    macs: int = 0
    live: bool = True
    """It reaches the reconstruction."""
    liveness_open: bool = False
    """A wiring error leaves open whether it reaches the reconstruction (it is not `live`,
    but mending the wiring could make it so): neither live nor dead."""
    receptive_field: tuple[int, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: Source | None = None

    @property
    def path(self) -> str:
        return self.section if self.layer is None else f"{self.section}[{self.index}]"

    @property
    def type(self) -> str:
        return "input" if self.layer is None else self.layer.type

    @property
    def dead(self) -> bool:
        """It certainly never reaches the reconstruction (Keras would drop it)."""
        return not self.live and not self.liveness_open

    def field_location(self, key: str | None) -> Location:
        """The location of one key of this layer (its position falls back to the layer's)."""
        if key is None or self.layer is None:
            return self.location
        return locate(self.source, (self.section, self.index, key))


@dataclass
class Graph:
    spec: Spec
    nodes: dict[str, Node]
    """In spec order: the input, the encoder, then the decoder."""
    latent: str
    output: str

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def layers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.layer is not None]

    def live_layers(self) -> list[Node]:
        return [n for n in self.layers() if n.live]

    def ancestors(self, name: str) -> set[str]:
        """Every node `name` depends on, itself included (following valid edges only)."""
        seen: set[str] = set()
        stack = [name]
        while stack:
            cur = stack.pop()
            if cur in seen or cur not in self.nodes:
                continue
            seen.add(cur)
            stack.extend(self.nodes[cur].inputs)
        return seen

    def consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for src in node.inputs:
                out.setdefault(src, []).append(node.name)
        return out

    @property
    def input_shape(self) -> Shape:
        return tuple(self.spec.input)
