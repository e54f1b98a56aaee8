"""Wiring: names, references, forward references, cycles and input counts (E020-E025)."""

from __future__ import annotations

import difflib

from caegen.compile.graph import INPUT, LATENT, RESERVED, Graph, Node, locate
from caegen.core.diagnostics import Diagnostic, Location
from caegen.spec.schema import Spec


def _layer_location(spec: Spec, section: str, index: int, key: str | None = None) -> Location:
    return locate(spec.source, (section, index, key) if key else (section, index))


def build_graph(spec: Spec) -> tuple[Graph, list[Diagnostic]]:
    """Create the nodes, resolve every `inputs` reference and report wiring mistakes."""
    diagnostics: list[Diagnostic] = []
    nodes: dict[str, Node] = {
        INPUT: Node(INPUT, None, "input", 0, locate(spec.source, ("input",)), source=spec.source)
    }
    order: list[Node] = []
    for section in ("encoder", "decoder"):
        for index, layer in enumerate(getattr(spec, section)):
            name = layer.name or f"{section}.{index}"
            node = Node(
                name,
                layer,
                section,
                index,
                _layer_location(spec, section, index),
                source=spec.source,
            )
            if name in RESERVED or name in nodes:
                other = "a reserved name" if name in RESERVED else f"`{nodes[name].path}`"
                diagnostics.append(
                    Diagnostic(
                        "E021",
                        f"layer name `{name}` at {node.path} is already used by {other}",
                        _layer_location(spec, section, index, "name"),
                        "give every layer a unique name; `input` and `latent` are reserved",
                    )
                )
                node.duplicate_of = name
                node.name = name = f"{name}#{section}[{index}]"
                node.broken = True
            nodes[name] = node
            order.append(node)

    latent = next(n for n in reversed(order) if n.section == "encoder").name
    output = order[-1].name
    position = {n.name: i for i, n in enumerate(order)}
    declared = {n.name: n for n in order}

    for i, node in enumerate(order):
        assert node.layer is not None
        refs = node.layer.input_names()
        if refs is None:
            if node.section == "decoder" and node.index == 0:
                refs = [latent]
            else:
                refs = [order[i - 1].name] if node.index > 0 else [INPUT]
        resolved: list[str] = []
        for ref in refs:
            target = latent if ref == LATENT else ref
            if target == INPUT:
                resolved.append(INPUT)
                continue
            if target not in declared:
                diagnostics.append(_unknown_reference(spec, node, ref, list(declared)))
                node.broken = True
                node.unresolved.append(target)
            elif position[target] >= i:
                diagnostics.append(_forward_or_cycle(spec, node, target, declared, position))
                node.broken = True
                node.unresolved.append(target)
            else:
                resolved.append(target)
        node.inputs = resolved
        if not node.broken:
            diagnostics.extend(_arity(spec, node))
    return Graph(spec, nodes, latent, output), diagnostics


def _unknown_reference(spec: Spec, node: Node, ref: str, names: list[str]) -> Diagnostic:
    close = difflib.get_close_matches(ref, [*names, *RESERVED], n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return Diagnostic(
        "E020",
        f"{node.path} (`{node.name}`) reads `{ref}`, which is not a layer name",
        _layer_location(spec, node.section, node.index, "inputs"),
        f"{hint}`inputs` takes layer names, `input` (the model input) or `latent`",
    )


def _forward_or_cycle(
    spec: Spec, node: Node, target: str, declared: dict[str, Node], position: dict[str, int]
) -> Diagnostic:
    # A cycle: following the target's own references (defaults included) leads back here.
    seen: set[str] = set()
    stack = [target]
    while stack:
        cur = stack.pop()
        if cur == node.name:
            return Diagnostic(
                "E023",
                f"{node.path} (`{node.name}`) reads `{target}`, which depends on "
                f"`{node.name}`: the layers form a cycle",
                _layer_location(spec, node.section, node.index, "inputs"),
                "an autoencoder is acyclic; make one of these layers read an earlier layer",
            )
        if cur in seen or cur not in declared:
            continue
        seen.add(cur)
        stack.extend(_refs(declared[cur], declared, position))
    return Diagnostic(
        "E022",
        f"{node.path} (`{node.name}`) reads `{target}`, which is defined later "
        f"({declared[target].path})",
        _layer_location(spec, node.section, node.index, "inputs"),
        "a layer may only read layers above it; move it below the layers it reads",
    )


def _refs(node: Node, declared: dict[str, Node], position: dict[str, int]) -> list[str]:
    assert node.layer is not None
    explicit = node.layer.input_names()
    if explicit is not None:
        return explicit
    order = sorted(declared, key=position.__getitem__)
    i = position[node.name]
    return [order[i - 1]] if i > 0 else []


def _arity(spec: Spec, node: Node) -> list[Diagnostic]:
    assert node.layer is not None
    n = len(node.inputs)
    loc = _layer_location(spec, node.section, node.index, "inputs")
    exact = getattr(node.layer, "exact_inputs", None)
    if exact is not None and n != exact:
        return [
            Diagnostic(
                "E025",
                f"{node.path} ({node.type}) reads {n} input(s); it needs exactly {exact}: "
                "[z_mean, z_log_var]",
                loc,
                "inputs: [z_mean, z_log_var]",
            )
        ]
    if node.layer.is_merge and n < 2:
        return [
            Diagnostic(
                "E025",
                f"{node.path} ({node.type}) merges {n} input; a merge needs at least 2",
                loc,
                "list the layers to merge, e.g. inputs: [conv_a, conv_b]",
            )
        ]
    if not node.layer.is_merge and n > 1:
        return [
            Diagnostic(
                "E024",
                f"{node.path} ({node.type}) takes one input, received {n}",
                loc,
                "merge them first with an `add` or `concatenate` layer",
            )
        ]
    return []
