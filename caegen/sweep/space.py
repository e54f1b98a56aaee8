"""The search space of a sweep: dimensions over a spec's own paths, and points applied to it.

A dimension names one or more targets in the spec's dotted/indexed form and the values
they take together:

    encoder[2].filters=16,32,64                 a choice (YAML scalars)
    train.optimizer.learning_rate=1e-4..1e-2:log   a range (`:log`; `:N` points on a grid)
    encoder[3]=on,off                           a layer switched on or off
    encoder[2]=[{type: max_pool2d}, {type: conv2d, filters: 8, kernel_size: 3, strides: 2}]
                                                a layer chosen from alternatives
    encoder[0:2]*+decoder[0:2]*=1,2,3           slices repeated N times (blocks), tied

Targets are checked against the base spec before anything runs (E064 with did-you-mean).
Points are applied to the spec as the user wrote it: values first, then the structural
changes (switches, alternatives, repeats), all by the base spec's indices.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from caegen.core.diagnostics import CaegenError, Diagnostic, Location
from caegen.core.limits import MAX_SWEEP_BLOCKS, MAX_SWEEP_POINTS
from caegen.spec.yamlpos import SafeLoader

SECTIONS = ("encoder", "decoder")
# indices of at most 18 digits (a longer one is no index of any spec, and int() of a very
# long one is refused by Python)
_SEGMENT = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d{1,18})(?::(-?\d{1,18}))?\]")
_RANGE = re.compile(r"^\s*([-+0-9.eE]+)\s*\.\.\s*([-+0-9.eE]+)\s*((?::\s*[A-Za-z0-9]+\s*)*)$")
OFF = "off"
FLOAT_MAX = 1.7976931348623157e308


@dataclass(frozen=True)
class Target:
    """One place in the spec: key path, a layer, or a slice of layers (optionally repeated)."""

    text: str
    parts: tuple[Any, ...]
    """Keys (str), list indices (int) and at most one slice (a (start, stop) tuple)."""
    repeat: bool = False

    @property
    def section(self) -> str:
        return str(self.parts[0])

    @property
    def is_layer(self) -> bool:
        return len(self.parts) == 2 and self.section in SECTIONS

    @property
    def is_slice(self) -> bool:
        return len(self.parts) == 2 and isinstance(self.parts[1], tuple)


@dataclass
class Dimension:
    name: str
    """As written, e.g. `encoder[2].filters`; the key of this dimension in a point."""
    targets: list[Target]
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    steps: int | None = None
    """Grid points of a range (`:N`)."""

    @property
    def repeats(self) -> bool:
        """Whether the values are block counts (a repeated slice is among the targets)."""
        return any(t.repeat for t in self.targets)

    def size(self) -> int | None:
        """How many distinct values a sampler can draw (None: a continuous range)."""
        if self.choices is not None:
            return len(self.choices)
        if self.integer:
            return int(self.high) - int(self.low) + 1  # type: ignore[arg-type]
        return None

    def grid_size(self) -> int:
        """How many grid values, counted without building them."""
        if self.choices is not None:
            return len(self.choices)
        if self.steps is not None:
            return self.steps
        if self.integer and not self.log:
            return int(self.high) - int(self.low) + 1  # type: ignore[arg-type]
        raise self._needs_steps()

    def _needs_steps(self) -> CaegenError:
        return _space_error(
            f"`{self.name}` is a continuous range: a grid needs its number of points",
            f"write `{self.low}..{self.high}{':log' if self.log else ''}:5`, or use "
            "--sampler random",
        )

    def grid(self) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        if self.steps is None:
            if self.integer and not self.log:
                return list(range(int(self.low), int(self.high) + 1))  # type: ignore[arg-type]
            raise self._needs_steps()
        lo, hi, n = float(self.low), float(self.high), self.steps  # type: ignore[arg-type]
        if n == 1:
            values = [lo]
        elif self.log:
            values = [
                math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (n - 1))
                for i in range(n)
            ]
        else:
            values = [lo + i * (hi - lo) / (n - 1) for i in range(n)]
        return _distinct([round(v) if self.integer else float(f"{v:.6g}") for v in values])

    def sample(self, rng: random.Random) -> Any:
        if self.choices is not None:
            return rng.choice(self.choices)
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.integer and self.log:
            return min(
                int(hi), max(int(lo), round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
            )
        if self.integer:
            return rng.randint(int(lo), int(hi))
        if self.log:
            return float(f"{math.exp(rng.uniform(math.log(lo), math.log(hi))):.6g}")
        return float(f"{rng.uniform(lo, hi):.6g}")


@dataclass
class Space:
    base: dict[str, Any]
    """The spec as the user wrote it (parsed YAML)."""
    dimensions: list[Dimension] = field(default_factory=list)

    def grid_size(self) -> int:
        """The number of grid points, counted (not built); E071 over MAX_SWEEP_POINTS."""
        bounds = [d.grid_size() for d in self.dimensions]  # an upper bound, counted
        sizes = [
            len(d.grid()) if n <= MAX_SWEEP_POINTS else n for d, n in zip(self.dimensions, bounds)
        ]
        total = math.prod(sizes)
        if total > MAX_SWEEP_POINTS:
            shown = " x ".join(f"{n:,}" for n in sizes)
            raise CaegenError(
                [
                    Diagnostic(
                        "E071",
                        f"the grid has {total:,} points ({shown}), more than the "
                        f"{MAX_SWEEP_POINTS:,} a sweep takes",
                        hint="give fewer values or steps, or sample it: --sampler random "
                        "(or tpe) with --max-trials N",
                    )
                ]
            )
        return total

    def iter_grid(self) -> Iterator[dict[str, Any]]:
        """The grid's points in order, one at a time (after counting them)."""
        self.grid_size()
        names = [d.name for d in self.dimensions]
        for values in itertools.product(*(d.grid() for d in self.dimensions)):
            yield dict(zip(names, values))

    def grid(self) -> list[dict[str, Any]]:
        return list(self.iter_grid())

    def size(self) -> int | None:
        """How many distinct points a sampler can propose (None: unbounded)."""
        sizes = [d.size() for d in self.dimensions]
        return None if any(n is None for n in sizes) else math.prod(sizes)  # type: ignore[misc]

    def sample(self, seed: int, number: int) -> dict[str, Any]:
        """The `number`-th random point, keyed by (seed, number) alone."""
        rng = random.Random(f"{seed}:{number}")
        return {d.name: d.sample(rng) for d in self.dimensions}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in self.dimensions:
            if d.choices is not None:
                out[d.name] = d.choices
            else:
                out[d.name] = {"low": d.low, "high": d.high, "log": d.log, "steps": d.steps}
        return out

    def apply(self, point: dict[str, Any]) -> dict[str, Any]:
        """The spec of one point (as plain data, not yet validated)."""
        spec = copy.deepcopy(self.base)
        structural: list[tuple[Target, Any]] = []
        by_name = {d.name: d for d in self.dimensions}
        for name, value in point.items():
            for target in by_name[name].targets:
                if target.is_layer or target.is_slice:
                    structural.append((target, value))
                else:
                    _set(spec, target.parts, value)
        for section in SECTIONS:
            layers = spec.get(section)
            if not isinstance(layers, list):
                continue
            slots: list[list[Any]] = [[layer] for layer in layers]
            for target, value in structural:
                if target.section != section:
                    continue
                index = target.parts[1]
                if isinstance(index, tuple):
                    _restructure_slice(slots, index, value, target.repeat)
                elif _is_off(value):
                    slots[index] = []
                elif _is_on(value):
                    pass
                else:
                    slots[index] = [copy.deepcopy(value)]
            spec[section] = [layer for slot in slots for layer in slot]
        return spec


def _count(value: float) -> str:
    """A count as a person reads it, however large."""
    if value < 10**15:
        return f"{value:,.0f}"
    return f"{value:.3g}" if isinstance(value, float) else f"a {len(str(value))}-digit number of"


def _canonical(value: Any) -> Any:
    """A value as the spec reads it: `0` and `0.0` alike, `True` still not `1`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _distinct(values: list[Any]) -> list[Any]:
    """The values without repeats that differ only in spelling (`0`, `0.0`); first kept."""
    seen: set[str] = set()
    out = []
    for value in values:
        key = json.dumps(_canonical(value), sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def point_key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True, separators=(",", ":"))


# --- parsing -------------------------------------------------------------------------------
def _space_error(
    message: str, hint: str, where: str | None = None, line: int | None = None
) -> CaegenError:
    return CaegenError([Diagnostic("E064", message, Location(where, line, None, None), hint)])


def parse_target(
    text: str, base: dict[str, Any], where: str | None = None, line: int | None = None
) -> Target:
    raw = text.strip()
    repeat = raw.endswith("*")
    body = raw[:-1] if repeat else raw
    parts: list[Any] = []
    pos = 0
    while pos < len(body):
        m = _SEGMENT.match(body, pos)
        if m is None or (pos == 0 and body.startswith(".")):
            raise _space_error(
                f"cannot read the path `{text}` at `{body[pos:]}`",
                "write it as in the spec, e.g. encoder[2].filters or train.optimizer.learning_rate",
                where,
                line,
            )
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(3) is not None:
            parts.append((int(m.group(2)), int(m.group(3))))
        else:
            parts.append(int(m.group(2)))
        pos = m.end()
    target = Target(text.strip(), tuple(parts), repeat)
    _check_target(target, base, where, line)
    return target


def _check_target(
    target: Target, base: dict[str, Any], where: str | None, line: int | None
) -> None:
    parts = target.parts
    if not parts or not isinstance(parts[0], str):
        raise _space_error(
            f"`{target.text}` names no spec key", "start with a key, e.g. train", where, line
        )
    if target.repeat and not (len(parts) == 2 and isinstance(parts[1], tuple)):
        raise _space_error(
            f"`{target.text}`: `*` repeats a slice of layers, e.g. encoder[0:2]*",
            "remove the `*`, or name a slice",
            where,
            line,
        )
    if parts[0] in SECTIONS:
        _check_layer_target(target, base, where, line)
    else:
        _check_key_target(target, base, where, line)


def _check_layer_target(
    target: Target, base: dict[str, Any], where: str | None, line: int | None
) -> None:
    """A target in a layer list: `encoder[1]`, `encoder[0:2]` or `decoder[3].filters`."""
    parts, section = target.parts, target.parts[0]
    layers = base.get(section) or []
    if len(parts) < 2 or isinstance(parts[1], str):
        raise _space_error(
            f"`{target.text}`: name a layer by its index, e.g. {section}[0]",
            f"{section} has {len(layers)} layers: {section}[0] .. {section}[{len(layers) - 1}]",
            where,
            line,
        )
    index = parts[1]
    if isinstance(index, tuple):
        start, stop = index
        if not 0 <= start < stop <= len(layers):
            raise _space_error(
                f"`{target.text}`: the slice {start}:{stop} is not within {section}'s "
                f"{len(layers)} layers",
                f"use a slice between 0 and {len(layers)}",
                where,
                line,
            )
        if len(parts) > 2:
            raise _space_error(
                f"`{target.text}`: a slice takes no key", "set keys per layer", where, line
            )
        return
    if not 0 <= index < len(layers):
        raise _space_error(
            f"`{target.text}`: {section} has no layer {index} (it has {len(layers)})",
            f"use {section}[0] .. {section}[{len(layers) - 1}]",
            where,
            line,
        )
    if len(parts) > 2:
        _check_layer_field(target, layers[index], where, line)


def _check_layer_field(target: Target, layer: Any, where: str | None, line: int | None) -> None:
    from caegen.spec.layers import LAYER_BY_TYPE

    parts = target.parts
    tag = layer.get("type") if isinstance(layer, dict) else None
    cls = LAYER_BY_TYPE.get(tag) if isinstance(tag, str) else None
    known = sorted(cls.model_fields) if cls else []
    key = parts[2]
    if len(parts) > 3 or not isinstance(key, str) or key not in known:
        close = difflib.get_close_matches(str(key), known, n=1)
        raise _space_error(
            f"`{target.text}`: {layer.get('type') if isinstance(layer, dict) else 'the layer'} "
            f"has no field `{key}`",
            (f"did you mean `{close[0]}`? " if close else "") + f"its fields: {', '.join(known)}",
            where,
            line,
        )


def _check_key_target(
    target: Target, base: dict[str, Any], where: str | None, line: int | None
) -> None:
    """A target outside the layer lists, e.g. `train.optimizer.learning_rate`."""
    from caegen.spec.schema import Spec

    parts = target.parts
    model: Any = Spec
    node: Any = base
    for depth, part in enumerate(parts):
        fields = model.model_fields if model is not None else {}
        if not isinstance(part, str) or part not in fields:
            known = sorted(fields)
            close = difflib.get_close_matches(str(part), known, n=1)
            prefix = ".".join(str(p) for p in parts[:depth]) or "the spec"
            raise _space_error(
                f"`{target.text}`: {prefix} has no key `{part}`",
                (f"did you mean `{close[0]}`? " if close else "") + f"known: {', '.join(known)}",
                where,
                line,
            )
        node = node.get(part) if isinstance(node, dict) else None
        model = _model_of(fields[part].annotation, node)


def _model_of(annotation: Any, value: Any) -> Any:
    """The pydantic model a field holds (the member a union's `name` picks), or None."""
    from caegen.spec.loader import _models_in, _narrow

    models = _models_in(annotation)
    if not models:
        return None
    if isinstance(value, str):
        value = {"name": value}  # `optimizer: adam`
    return _narrow(models, value if isinstance(value, dict) else {"name": None})


def parse_values(text: str, dimension: Dimension) -> None:
    """Fill a dimension from the text after `=`: a range, a YAML list, or comma-separated."""
    text = text.strip()
    if not text:
        raise _space_error(f"`{dimension.name}` has no values", "give values after `=`: a,b,c")
    m = _RANGE.match(text)
    if m:
        low, high = _number(m.group(1)), _number(m.group(2))
        options = [o.strip() for o in m.group(3).split(":") if o.strip()]
        dimension.log = "log" in options
        # grid counts of up to 100 digits (the grid size check says how large); a longer
        # one is not a count (and Python refuses int() of more than 4,300 digits)
        counts = [o for o in options if o.isdigit() and len(o) <= 100]
        dimension.steps = int(counts[0]) if counts else None
        unknown = [o for o in options if o != "log" and o not in counts]
        # ends within the float range: samplers compute in floats
        finite = all(x is not None and abs(x) <= FLOAT_MAX for x in (low, high))
        if unknown or not finite or not low < high:
            raise _space_error(
                f"`{dimension.name}={text}` is not a range low..high[:log][:N]",
                "e.g. 1e-4..1e-2:log, or 8..64:4 for 4 grid points",
            )
        if dimension.steps == 0:
            raise _space_error(
                f"`{dimension.name}={text}`: a range of 0 points", "give :N with N >= 1"
            )
        if dimension.log and low <= 0:
            raise _space_error(f"`{dimension.name}`: a log range needs low > 0", "raise low")
        dimension.low, dimension.high = low, high
        dimension.integer = isinstance(low, int) and isinstance(high, int)
        return
    flow = text.startswith("[")  # a YAML list, for mappings such as layer alternatives
    if flow:
        values = _yaml_value(text, dimension)
    else:
        values = [_scalar(v, dimension) for v in text.split(",")]
    _set_choices(dimension, values)


def _set_choices(dimension: Dimension, values: Any) -> None:
    if not isinstance(values, list) or not values:
        raise _space_error(f"`{dimension.name}` has no values", "give values after `=`: a,b,c")
    problem = _not_plain(values)
    if problem is not None:
        raise _space_error(
            f"`{dimension.name}`: {problem}",
            "use numbers, text, true/false, null, lists and mappings (quote dates and such)",
        )
    dimension.choices = _distinct(values)


_RANGE_KEYS = ("low", "high", "log", "steps")


def values_from_yaml(value: Any, dimension: Dimension) -> None:
    """A space file's value: a list of choices, {low, high, log, steps}, or CLI-style text."""
    if isinstance(value, list):
        _set_choices(dimension, value)
    elif isinstance(value, dict):
        unknown = [str(k) for k in value if k not in _RANGE_KEYS]
        if unknown or not {"low", "high"} <= set(value):
            close = difflib.get_close_matches(unknown[0], _RANGE_KEYS, n=1) if unknown else []
            raise _space_error(
                f"`{dimension.name}`: a range maps low, high and optionally log, steps"
                + (f"; `{unknown[0]}` is none of them" if unknown else ""),
                (f"did you mean `{close[0]}`? " if close else "")
                + "e.g. {low: 1.0e-4, high: 1.0e-2, log: true, steps: 3}",
            )
        steps = value.get("steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise _space_error(
                f"`{dimension.name}`: steps is {steps!r}, not a whole number", "give steps: N"
            )
        parse_values(
            f"{value['low']}..{value['high']}"
            + (":log" if value.get("log") else "")
            + (f":{steps}" if steps is not None else ""),
            dimension,
        )
    else:
        parse_values(str(value), dimension)


def check_blocks(dimension: Dimension) -> None:
    """Block counts (a repeated slice) are whole numbers from 0 to MAX_SWEEP_BLOCKS: a
    fraction is refused, not floored; integral floats become ints (one spelling)."""
    if not dimension.repeats:
        return
    if dimension.choices is None:
        values: list[Any] = [dimension.low, dimension.high]
        if not dimension.integer:
            raise _space_error(
                f"`{dimension.name}`: block counts are whole numbers; "
                f"{dimension.low}..{dimension.high} is not an integer range",
                "write e.g. 1..4",
            )
    else:
        values = dimension.choices
    for value in values:
        whole = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
        if not whole or value < 0:
            raise _space_error(
                f"`{dimension.name}`: {value!r} is not a block count (a whole number >= 0)",
                "give the number of copies, e.g. 1,2,3",
            )
        if value > MAX_SWEEP_BLOCKS:
            raise CaegenError(
                [
                    Diagnostic(
                        "E071",
                        f"`{dimension.name}`: {_count(value)} copies of a block, more than the "
                        f"{MAX_SWEEP_BLOCKS} a sweep makes",
                        hint=f"give block counts up to {MAX_SWEEP_BLOCKS}",
                    )
                ]
            )
    if dimension.choices is not None:
        dimension.choices = _distinct([int(v) for v in dimension.choices])


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _scalar(text: str, dimension: Dimension) -> Any:
    text = text.strip()
    number = _number(text)
    if number is not None:
        return number
    return _yaml_value(text, dimension) if text else None


def _yaml_value(text: str, dimension: Dimension) -> Any:
    """Values written in YAML, or E064 with the YAML problem and its column."""
    try:
        return yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at column {mark.column + 1}" if mark is not None else ""
        message = f"`{dimension.name}`: cannot read `{text}` as YAML: {problem}{where}"
    except (ValueError, RecursionError) as exc:  # a number too long; nesting too deep
        message = f"`{dimension.name}`: cannot read `{text}` as YAML: {exc}"
    raise _space_error(
        message,
        "close every bracket and quote, e.g. "
        "[{type: max_pool2d}, {type: conv2d, filters: 8, kernel_size: 3, strides: 2}]",
    )


def _not_plain(value: Any, depth: int = 0) -> str | None:
    """Why a value cannot be a sweep's value (None when it can: JSON's kinds of data)."""
    if depth > 32:
        return "values are nested too deeply"
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, list):
        return next((p for v in value if (p := _not_plain(v, depth + 1))), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "a mapping's keys must be names"
        return next((p for v in value.values() if (p := _not_plain(v, depth + 1))), None)
    return f"`{value!r:.40}` is a {type(value).__name__}, not a number, text, list or mapping"


def check_overlaps(dimensions: list[Dimension]) -> None:
    """Two dimensions that restructure the same layer would make a point ambiguous."""
    owner: dict[tuple[str, int], str] = {}
    for dim in dimensions:
        for target in dim.targets:
            if not (target.is_layer or target.is_slice):
                continue
            index = target.parts[1]
            span = range(*index) if isinstance(index, tuple) else range(index, index + 1)
            for i in span:
                other = owner.setdefault((target.section, i), dim.name)
                if other != dim.name:
                    raise _space_error(
                        f"`{dim.name}` and `{other}` both change {target.section}[{i}]",
                        "give each layer to one dimension (tie them with `+` if they go together)",
                    )


def dimension(
    text: str, base: dict[str, Any], where: str | None = None, line: int | None = None
) -> Dimension:
    """One `--set` argument: TARGETS=VALUES."""
    if "=" not in text:
        raise _space_error(
            f"`--set {text}` has no `=`",
            "write PATH=VALUES, e.g. encoder[0].filters=8,16",
            where,
            line,
        )
    lhs, rhs = text.split("=", 1)
    targets = [parse_target(t, base, where, line) for t in lhs.split("+")]
    dim = Dimension(lhs.strip(), targets)
    parse_values(rhs, dim)
    check_blocks(dim)
    return dim


# --- applying ------------------------------------------------------------------------------
def _is_off(value: Any) -> bool:
    return value is False or value == OFF or value is None


def _is_on(value: Any) -> bool:
    return value is True or value == "on"


def _set(spec: dict[str, Any], parts: tuple[Any, ...], value: Any) -> None:
    if parts == ("data", "noise", "stddev") and value in (0, 0.0):
        spec.setdefault("data", {}).pop("noise", None)  # stddev 0: no noise (a plain AE)
        return
    node: Any = spec
    for depth, part in enumerate(parts[:-1]):
        nxt = node[part] if isinstance(node, list) else node.get(part)
        if isinstance(nxt, str) and parts[depth : depth + 1] == ("optimizer",):
            nxt = {"name": nxt}  # `optimizer: adam` shorthand, opened to set an argument
            node[part] = nxt
        if nxt is None:
            nxt = _opened_default(parts[: depth + 1])
            node[part] = nxt
        node = nxt
    if value is None and isinstance(node, dict):
        node.pop(parts[-1], None)  # null: the key is left out (its default applies)
        return
    node[parts[-1]] = value


def _opened_default(parts: tuple[Any, ...]) -> dict[str, Any]:
    """A mapping the spec leaves to its default, opened to set one of its fields: it keeps
    the default's tag (`optimizer: {name: adam}`), or the field would name no variant."""
    from pydantic import BaseModel

    from caegen.spec.schema import Spec

    model: Any = Spec
    for depth, part in enumerate(parts):
        fields = getattr(model, "model_fields", {})
        if not isinstance(part, str) or part not in fields:
            return {}
        if depth == len(parts) - 1:
            default = fields[part].get_default(call_default_factory=True)
            if not isinstance(default, BaseModel):
                return {}
            tags = ("name", "type")
            return {t: getattr(default, t) for t in tags if t in type(default).model_fields}
        model = _model_of(fields[part].annotation, None)
    return {}


def _restructure_slice(
    slots: list[list[Any]], index: tuple[int, int], value: Any, repeat: bool
) -> None:
    start, stop = index
    if repeat:
        count = int(value)
        block = [layer for slot in slots[start:stop] for layer in slot]
        copies = [_renamed(block, k) for k in range(count)]
        slots[start] = [layer for copy_ in copies for layer in copy_]
        for i in range(start + 1, stop):
            slots[i] = []
    elif _is_off(value):
        for i in range(start, stop):
            slots[i] = []


def _renamed(block: list[Any], k: int) -> list[Any]:
    """The k-th copy of a repeated block: explicit names get a suffix, references follow."""
    out = copy.deepcopy(block)
    if k == 0:
        return out
    names = {layer.get("name") for layer in out if isinstance(layer, dict) and layer.get("name")}
    rename = {n: f"{n}-{k + 1}" for n in names}
    for layer in out:
        if not isinstance(layer, dict):
            continue
        if layer.get("name") in rename:
            layer["name"] = rename[layer["name"]]
        inputs = layer.get("inputs")
        if isinstance(inputs, str) and inputs in rename:
            layer["inputs"] = rename[inputs]
        elif isinstance(inputs, list):
            layer["inputs"] = [rename.get(i, i) for i in inputs]
    return out
