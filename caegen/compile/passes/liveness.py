"""Dead branches (E040) and a bypassed latent code (E041): what Keras drops silently."""

from __future__ import annotations

from caegen.compile.graph import Graph, Node
from caegen.core.diagnostics import Diagnostic, Fix
from caegen.spec.textspan import scalar_edit


def mark_liveness(graph: Graph) -> list[Diagnostic]:
    live = graph.ancestors(graph.output)
    consumers = graph.consumers()
    diagnostics: list[Diagnostic] = []
    bypassed = graph.latent not in live
    latent_feeders = graph.ancestors(graph.latent) if bypassed else set()
    possible = _possibly_live(graph, live)
    for node in graph.layers():
        node.live = node.name in live
        node.liveness_open = node.name in possible and not node.live
    if bypassed:
        first = next(n for n in graph.layers() if n.section == "decoder")
        diagnostics.append(
            Diagnostic(
                "E041",
                f"the reconstruction does not depend on the latent code `{graph.latent}`: "
                "the decoder bypasses the encoder's output",
                first.field_location("inputs"),
                "make the first decoder layer read `latent` (the default when `inputs` is "
                "left out)",
            )
        )
    for node in graph.layers():
        if node.live or node.broken or node.name in latent_feeders:
            continue
        readers = consumers.get(node.name, [])
        why = (
            "nothing reads it"
            if not readers
            else "it feeds only " + ", ".join(f"`{r}`" for r in readers) + ", which are dead"
        )
        params = node.params.total if node.params else 0
        following = [
            n for n in graph.layers() if n.section == node.section and n.index == node.index + 1
        ]
        suggestion = (
            f"make `{following[0].name}` read it (inputs: {node.name}) or remove it"
            if following and not readers
            else "wire it into the path to the reconstruction, or remove it"
        )
        fix = _rewire_fix(graph, node, following[0]) if following and not readers else None
        diagnostics.append(
            Diagnostic(
                "E040",
                f"dead branch: {node.path} (`{node.name}`, {node.type}) never reaches the "
                f"reconstruction ({why}); Keras would silently drop it and its "
                f"{params:,} params",
                node.location,
                suggestion,
                fixes=(fix,) if fix else (),
            )
        )
    return diagnostics


def _possibly_live(graph: Graph, live: set[str]) -> set[str]:
    """The nodes that could reach the reconstruction once the wiring errors are mended (the
    live ones when there are none). A reference to no layer (E020) may have meant any layer
    above the one that makes it; one to a later layer (E022, E023) means that layer; a name
    two layers share (E021) may mean either."""
    order = [n.name for n in graph.layers()]
    position = {name: i for i, name in enumerate(order)}
    duplicates: dict[str, list[str]] = {}
    for node in graph.layers():
        if node.duplicate_of is not None:
            duplicates.setdefault(node.duplicate_of, []).append(node.name)
    possible: set[str] = set()
    above = 0  # order[:above] is already on the stack
    stack = list(live)
    while stack:
        name = stack.pop()
        if name in possible or name not in graph.nodes:
            continue
        possible.add(name)
        node = graph.node(name)
        stack += node.inputs + duplicates.get(name, [])
        for target in node.unresolved:
            if target in graph.nodes:
                stack.append(target)
            elif position[name] > above:
                stack += order[above : position[name]]
                above = position[name]
    return possible


def _rewire_fix(graph: Graph, dead: Node, following: Node) -> Fix | None:
    """The Keras "Method 1" pattern: the next layer reads what the dead one reads, skipping
    it (conv -> bn, and the pool reads the conv). Making it read the dead layer is what the
    author meant, so the fix is safe."""
    source = graph.spec.source
    layer = following.layer
    if source is None or layer is None or len(dead.inputs) != 1:
        return None
    if not isinstance(layer.inputs, str) or following.inputs != dead.inputs:
        return None
    pos = source.positions.lookup((following.section, following.index, "inputs"))
    edit = scalar_edit(source.text, *pos, layer.inputs, dead.name) if pos else None
    if edit is None:
        return None
    return Fix(f"make `{following.name}` read `{dead.name}`", (edit,), "safe")
