"""One-off changes to a spec: `caegen train SPEC --set PATH=VALUE`.

The paths are the sweep's (`encoder[0].filters`, `train.optimizer.learning_rate`,
`data.source`, `encoder[3]=off`, `encoder[1]={type: max_pool2d}`, tied targets with `+`),
checked against the spec the same way (E064 with did-you-mean). Each takes one value, read
as YAML (`[5, 5]` is a pair, not two choices). The changed spec is checked before anything
runs; its errors name the path that was set, since the changed text is nobody's file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from caegen.core.diagnostics import CaegenError, Diagnostic, Location, error
from caegen.spec.schema import Spec
from caegen.spec.yamlpos import SafeLoader
from caegen.sweep.space import Dimension, Space, check_overlaps, parse_target

WHERE = "--set"


def with_sets(path: Path, sets: list[str]) -> Spec:
    """The spec at `path` with each `PATH=VALUE` of `sets` applied, loaded and checked."""
    from caegen.compile.compiler import check
    from caegen.core.inputs import read_input_text
    from caegen.spec.loader import loads

    text = read_input_text(path, "spec file", "pass a YAML spec file")  # once: a FIFO reads once
    loads(text, file=str(path))  # the file itself must be a valid spec: its own errors point in
    base = yaml.safe_load(text)
    dimensions = [_dimension(text, base) for text in sets]
    names = [d.name for d in dimensions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise error("E064", f"`{twice[0]}` is set twice", "give each path one --set")
    check_overlaps(dimensions)
    point = {d.name: (d.choices or [None])[0] for d in dimensions}
    data = Space(base, dimensions).apply(point)
    label = f"{path} with --set {' '.join(sets)}"
    try:
        spec = loads(yaml.safe_dump(data, sort_keys=False), file=label)
        problems = check(spec).errors
    except CaegenError as exc:
        problems = exc.diagnostics
    if problems:
        raise CaegenError([_without_position(d, label) for d in problems])
    return spec


def _dimension(text: str, base: dict[str, Any]) -> Dimension:
    if "=" not in text:
        raise error("E064", f"`--set {text}` has no `=`", "write PATH=VALUE, e.g. train.seed=3")
    lhs, rhs = text.split("=", 1)
    targets = [parse_target(t, base, where=WHERE) for t in lhs.split("+")]
    return Dimension(lhs.strip(), targets, choices=[_value(lhs.strip(), rhs)])


def _value(name: str, text: str) -> Any:
    """One value, as YAML reads it (numbers also as Python reads them: `1e-3` is a float)."""
    text = text.strip()
    if not text:
        raise error("E064", f"`{name}` has no value", f"give one after `=`: {name}=VALUE")
    quoted_or_flow = text[0] in "[{'\""
    if not quoted_or_flow and ("," in text or ".." in text):
        raise error(
            "E064",
            f"`{name}={text}` gives several values; `train --set` takes one",
            f"give one value ({name}=VALUE), quoted when it holds a comma or `..` "
            f"({name}='\"{text}\"'); `caegen sweep SPEC --set {name}={text}` tries each",
        )
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        if math.isfinite(number):  # `inf` and `nan` go to the spec's own checks as text
            return number
    try:
        return yaml.load(text, Loader=SafeLoader)  # libyaml: nesting depth bounded
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: 4,300+ digits
        reason = str(exc).splitlines()[0]
        raise error("E064", f"`{name}={text}` is not a YAML value: {reason}", "quote it") from None


def _without_position(d: Diagnostic, label: str) -> Diagnostic:
    """A finding in the changed spec: located by its spec path (lines would point into
    text that exists nowhere)."""
    where = Location(label, None, None, d.location.path)
    return Diagnostic(d.code, d.message, where, d.hint, d.severity)
